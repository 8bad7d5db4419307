variable "name" {
  description = "Name prefix, e.g. imglake-prod (permission sets and roles are <name>-analyst and <name>-operator)."
  type        = string
}

variable "mode" {
  description = "identity_center (permission sets assigned to Identity Center groups) or iam_roles (plain roles for accounts without Identity Center)."
  type        = string

  validation {
    condition     = contains(["identity_center", "iam_roles"], var.mode)
    error_message = "mode must be identity_center or iam_roles."
  }
}

variable "identity_center_instance_arn" {
  description = "Identity Center instance; null uses the only instance visible to the identity_center provider."
  type        = string
  default     = null
}

variable "analyst_group_ids" {
  description = "Identity Store group ids given the analyst permission set in this account."
  type        = list(string)
  default     = []
}

variable "operator_group_ids" {
  description = "Identity Store group ids given the operator permission set in this account."
  type        = list(string)
  default     = []
}

variable "session_duration" {
  description = "Session length of the permission sets (ISO 8601)."
  type        = string
  default     = "PT8H"
}

variable "trusted_principal_arns" {
  description = "iam_roles mode: principals (roles or accounts) allowed to assume the analyst and operator roles; MFA is required."
  type        = list(string)
  default     = []
}

variable "saml_provider_arn" {
  description = "iam_roles mode: an IAM SAML identity provider whose users may assume the roles (web sign-in)."
  type        = string
  default     = null
}

variable "athena_workgroup_name" {
  description = "The workgroup analysts query in."
  type        = string
}

variable "glue_database_name" {
  description = "Glue database of the lake and its views."
  type        = string
}

variable "lake_bucket_arn" {
  description = "Lake bucket."
  type        = string
}

variable "lake_prefix" {
  description = "Lake prefix in the lake bucket."
  type        = string
}

variable "lake_table_name" {
  description = "Lake table folder (image_events)."
  type        = string
}

variable "table_export_prefix" {
  description = "Key prefix of table exports in the lake bucket (operators' backfill and reconcile runs)."
  type        = string
}

variable "athena_results_bucket_arn" {
  description = "Athena results bucket (queries write their results with the caller's credentials)."
  type        = string
}

variable "image_bucket_arns" {
  description = "Raw and processed image buckets: explicitly denied to both roles (images are read by the processing functions only)."
  type        = list(string)
}

variable "data_key_arn" {
  description = "Data key (lake, results, queues)."
  type        = string
}

variable "table_arn" {
  description = "Metadata table (operators: table exports for backfill and reconcile)."
  type        = string
}

variable "stream_arn" {
  description = "The table's stream (operators: `imglake redrive`)."
  type        = string
}

variable "queue_arns" {
  description = "Dead-letter and on-failure queues operators inspect and redrive."
  type        = list(string)
}

variable "move_target_queue_arns" {
  description = "Source queues of those dead-letter queues, where start-message-move-task sends the dead letters back (the process queue): SendMessage only."
  type        = list(string)
}

variable "private_only" {
  description = "Refuse the analyst's Athena calls and lake reads that do not come through this VPC's endpoints (modules/network's athena and S3 endpoints)."
  type        = bool
  default     = false
}

variable "athena_endpoint_id" {
  description = "Athena interface endpoint (private_only)."
  type        = string
  default     = null
}

variable "s3_endpoint_id" {
  description = "S3 gateway endpoint (private_only)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
