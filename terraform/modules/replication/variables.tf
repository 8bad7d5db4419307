variable "name" {
  description = "Name prefix, e.g. imglake-prod."
  type        = string
}

variable "bucket_suffix" {
  description = "Suffix making the replica bucket names globally unique (account id and replica region)."
  type        = string
}

variable "source_buckets" {
  description = "Buckets to replicate by role (lake, raw, processed): id and arn."
  type        = map(object({ id = string, arn = string }))

  validation {
    condition     = alltrue([for k in keys(var.source_buckets) : contains(["lake", "raw", "processed"], k)])
    error_message = "source_buckets may hold lake, raw and processed."
  }
}

variable "source_kms_key_arn" {
  description = "Key of the source buckets (the replication role decrypts with it)."
  type        = string
}

variable "lake_prefix" {
  description = "Lake prefix: only the lake (and its quarantine) is replicated from the lake bucket, not table exports."
  type        = string
}

variable "lake_table_name" {
  description = "Lake table folder (image_events)."
  type        = string
}

variable "raw_retention_days" {
  description = "Days the raw replica keeps current objects (the source's raw_image_retention_days, 7)."
  type        = number
}

variable "processed_retention_days" {
  description = "Days the processed replica keeps current objects (the source's processed_image_retention_days, 7)."
  type        = number
}

variable "noncurrent_version_expiration_days" {
  description = "Days noncurrent image versions are kept in the replicas."
  type        = number
}

variable "lake_retention_days" {
  description = "Days lake files are kept in the replica; null keeps them (as the source)."
  type        = number
  default     = null
}

variable "quarantine_retention_days" {
  description = "Days quarantined records are kept in the replica."
  type        = number
}

variable "access_log_retention_days" {
  description = "Days the replica region's access logs are kept."
  type        = number
}

variable "replication_time_control" {
  description = "S3 Replication Time Control: 99.99% of objects within 15 minutes, with metrics (billed per GB)."
  type        = bool
  default     = false
}

variable "force_destroy" {
  description = "Let terraform destroy empty the replica buckets."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
