terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
      # IAM Identity Center lives in the organisation's management account or its delegated
      # administrator: permission sets and assignments are made there.
      configuration_aliases = [aws.identity_center]
    }
  }
}
