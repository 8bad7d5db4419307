terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }

  # Partial configuration: `terraform init -backend-config=backend.hcl` (see
  # backend.hcl.example). The state bucket is created once, outside this configuration.
  backend "s3" {}
}
