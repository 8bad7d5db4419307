variable "name" {
  description = "Name prefix, e.g. imglake-prod."
  type        = string
}

variable "bucket_suffix" {
  description = "Suffix making the audit bucket name globally unique."
  type        = string
}

variable "enable_cloudtrail" {
  description = "Create a multi-region trail with S3 data events for the data buckets (turn off when an organisation trail already covers them)."
  type        = bool
  default     = true
}

variable "data_event_bucket_arns" {
  description = "Buckets whose object-level (data) events the trail records."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Audit/logs key (trail files, trail bucket, CloudWatch log group)."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving the audit bucket's server access logs."
  type        = string
}

variable "audit_log_retention_days" {
  description = "Days trail files are kept in S3."
  type        = number
  default     = 365
}

variable "log_retention_days" {
  description = "Days the trail's CloudWatch log group keeps events."
  type        = number
}

variable "enable_guardduty" {
  description = "Create a GuardDuty detector with S3 and Lambda protection (off when GuardDuty is managed by the organisation; only one detector per account and region)."
  type        = bool
  default     = false
}

variable "force_destroy" {
  description = "Allow terraform destroy to empty the audit bucket."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
