variable "name" {
  description = "Name prefix, e.g. imglake-prod."
  type        = string
}

variable "bucket_suffix" {
  description = "Suffix making the artifact bucket name globally unique."
  type        = string
}

variable "kms_key_arn" {
  description = "Key encrypting pipeline artifacts and build outputs."
  type        = string
}

variable "log_kms_key_arn" {
  description = "Key encrypting the build log group."
  type        = string
}

variable "log_retention_days" {
  description = "Build log retention in days."
  type        = number
}

variable "access_log_bucket" {
  description = "Bucket receiving the artifact bucket's server access logs."
  type        = string
}

variable "connection_provider_type" {
  description = "Source host of the CodeStar (CodeConnections) connection. CodeCommit is closed to new customers, so the source is always a connection."
  type        = string
  default     = "GitHub"

  validation {
    condition     = contains(["GitHub", "GitHubEnterpriseServer", "GitLab", "GitLabSelfManaged", "Bitbucket"], var.connection_provider_type)
    error_message = "connection_provider_type must be GitHub, GitHubEnterpriseServer, GitLab, GitLabSelfManaged or Bitbucket."
  }
}

variable "repository_id" {
  description = "Full repository id on the source host, e.g. my-org/imglake."
  type        = string
  nullable    = false
}

variable "branch" {
  description = "Branch whose pushes start the pipeline."
  type        = string
  default     = "main"
}

variable "deploy_role_arn" {
  description = "Role that Terraform assumes to change the account (created by the account administrators, ideally with a permissions boundary); CodeBuild itself holds no deployment rights."
  type        = string
  nullable    = false
}

variable "tf_state_bucket" {
  description = "Existing S3 bucket holding the Terraform state."
  type        = string
  nullable    = false
}

variable "tf_state_key" {
  description = "Key of the state object in tf_state_bucket."
  type        = string
  default     = "imglake/terraform.tfstate"
}

variable "tfvars_file" {
  description = "Variables file, relative to terraform/ in the repository, used by plan (e.g. env/prod.tfvars)."
  type        = string
  default     = "env/prod.tfvars"
}

variable "terraform_version" {
  description = "Terraform version installed in the build (checked against HashiCorp's SHA256SUMS)."
  type        = string
  default     = "1.9.8"
}

variable "require_approval" {
  description = "Stop for a manual approval between plan and apply."
  type        = bool
  default     = true
}

variable "build_compute_type" {
  description = "CodeBuild compute type for compiling the Rust Lambdas (arm64 build hosts)."
  type        = string
  default     = "BUILD_GENERAL1_LARGE"
}

variable "force_destroy" {
  description = "Allow terraform destroy to empty the artifact bucket."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
