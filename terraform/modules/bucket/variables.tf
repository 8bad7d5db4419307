variable "name" {
  description = "Globally unique bucket name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name))
    error_message = "Bucket names are 3-63 characters of lowercase letters, digits, dots and hyphens."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for default encryption (SSE-KMS with an S3 Bucket Key)."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving this bucket's server access logs."
  type        = string
}

variable "expiration_rules" {
  description = "Lifecycle rules that delete current object versions under a prefix (\"\" = whole bucket) after a number of days."
  type = list(object({
    id     = string
    prefix = string
    days   = number
  }))
  default = []

  validation {
    condition     = alltrue([for r in var.expiration_rules : r.days >= 1])
    error_message = "Expiration days must be at least 1."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions (overwritten or deleted objects) are removed."
  type        = number
  default     = 7

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "policy_documents" {
  description = "Extra bucket policy documents (JSON) merged with the TLS-only statements."
  type        = list(string)
  default     = []
}

variable "force_destroy" {
  description = "Allow terraform destroy to empty the bucket. Keep false outside throwaway environments."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the bucket."
  type        = map(string)
  default     = {}
}
