variable "name" {
  description = "Name prefix, e.g. imglake-prod."
  type        = string
}

variable "bucket_suffix" {
  description = "Suffix making bucket names globally unique (account id and region)."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed key for the data buckets."
  type        = string
}

variable "raw_image_retention_days" {
  description = "Days after which raw uploads are deleted."
  type        = number
}

variable "processed_image_retention_days" {
  description = "Days after which processed variants are deleted."
  type        = number
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent versions of image objects are removed."
  type        = number
}

variable "lake_prefix" {
  description = "Key prefix of the lake inside the lake bucket (no leading or trailing slash)."
  type        = string
}

variable "lake_table_name" {
  description = "Table folder under the lake prefix."
  type        = string
}

variable "lake_retention_days" {
  description = "Days after which lake files are deleted; null keeps them."
  type        = number
  default     = null
}

variable "quarantine_retention_days" {
  description = "Days after which quarantined stream records are deleted."
  type        = number
}

variable "table_export_prefix" {
  description = "Key prefix of DynamoDB table exports in the lake bucket (no slashes at either end)."
  type        = string
  default     = "table-exports"
}

variable "table_export_retention_days" {
  description = "Days after which table exports (and reconcile reports beside them) are deleted."
  type        = number
  default     = 7
}

variable "athena_results_retention_days" {
  description = "Days after which Athena query results are deleted."
  type        = number
}

variable "access_log_retention_days" {
  description = "Days after which S3 server access logs are deleted."
  type        = number
}

variable "upload_cors_origins" {
  description = "Browser origins allowed to POST presigned uploads straight to the raw bucket; empty disables CORS."
  type        = list(string)
  default     = []
}

variable "bucket_policy_documents" {
  description = "Extra bucket-policy documents (JSON) by bucket role: raw, processed, lake, athena_results (modules/network's endpoint restrictions)."
  type        = map(string)
  default     = {}
}

variable "force_destroy" {
  description = "Allow terraform destroy to empty the buckets."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the buckets."
  type        = map(string)
  default     = {}
}
