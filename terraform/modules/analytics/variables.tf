variable "name" {
  description = "Name prefix, e.g. imglake-prod (the Glue database is its snake_case form)."
  type        = string
}

variable "lake_bucket" {
  description = "Lake bucket (id and arn)."
  type        = object({ id = string, arn = string })
}

variable "lake_prefix" {
  description = "Key prefix of the lake inside the bucket."
  type        = string
}

variable "table_name" {
  description = "Lake table name."
  type        = string
  default     = "image_events"
}

variable "lake_start_date" {
  description = "First date (yyyy-MM-dd, UTC) of the dt partition projection range; the range ends at NOW."
  type        = string

  validation {
    condition     = can(regex("^\\d{4}-\\d{2}-\\d{2}$", var.lake_start_date))
    error_message = "lake_start_date must be yyyy-MM-dd."
  }
}

variable "athena_results_bucket" {
  description = "Athena query results bucket (id and arn)."
  type        = object({ id = string, arn = string })
}

variable "bytes_scanned_cutoff_per_query" {
  description = "Athena cancels queries of the workgroup that scan more bytes than this (min 10 MB)."
  type        = number
  default     = 10737418240

  validation {
    condition     = var.bytes_scanned_cutoff_per_query >= 10485760
    error_message = "Athena's minimum bytes-scanned cutoff is 10 MB (10485760)."
  }
}

variable "views_dir" {
  description = "Directory of Athena view statements (*.sql) saved as named queries; a missing directory means none."
  type        = string
}

variable "queries_dir" {
  description = "Directory of the dashboards' queries (sql/queries/<name>.sql), each a QuickSight custom-SQL dataset."
  type        = string
}

variable "quicksight_vpc_connection_arn" {
  description = "QuickSight VPC connection the Athena data source uses (modules/network); null connects over the public Athena endpoint."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "Data key (lake, query results)."
  type        = string
}

variable "enable_quicksight" {
  description = "Create a QuickSight Athena data source and an image_events dataset (QuickSight must already be subscribed in the account)."
  type        = bool
  default     = false
}

variable "quicksight_principal_arn" {
  description = "QuickSight user or group ARN granted ownership of the data source and dataset."
  type        = string
  default     = null
}

variable "quicksight_import_mode" {
  description = "DIRECT_QUERY (Athena on every visual) or SPICE (imported, refreshed on a schedule)."
  type        = string
  default     = "DIRECT_QUERY"

  validation {
    condition     = contains(["DIRECT_QUERY", "SPICE"], var.quicksight_import_mode)
    error_message = "quicksight_import_mode must be DIRECT_QUERY or SPICE."
  }
}

variable "enable_redshift_spectrum_role" {
  description = "Create an IAM role that Redshift can assume to read the lake through the Glue catalog (Spectrum)."
  type        = bool
  default     = false
}

variable "force_destroy" {
  description = "Let terraform destroy delete the workgroup with its query history."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
