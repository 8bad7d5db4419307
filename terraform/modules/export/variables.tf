variable "name" {
  description = "Name prefix, e.g. imglake-prod."
  type        = string
}

variable "stream_arn" {
  description = "ARN of the metadata table's stream."
  type        = string
}

variable "table_arn" {
  description = "ARN of the metadata table (for ListStreams)."
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

variable "lake_table_name" {
  description = "Table folder and Glue table name (image_events)."
  type        = string
}

variable "glue_database_name" {
  description = "Glue database holding the lake table (for partition registration)."
  type        = string
}

variable "parquet_compression" {
  description = "Parquet compression written by stream-export: zstd or snappy."
  type        = string
  default     = "zstd"

  validation {
    condition     = contains(["zstd", "snappy"], var.parquet_compression)
    error_message = "parquet_compression must be zstd or snappy."
  }
}

variable "kms_key_arn" {
  description = "Data key (buckets, table, queues, environment)."
  type        = string
}

variable "log_kms_key_arn" {
  description = "Key encrypting log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Log retention in days."
  type        = number
}

variable "async_dlq_arn" {
  description = "Dead-letter queue for failed asynchronous invocations."
  type        = string
}

variable "package_type" {
  description = "Zip (cargo-lambda zips from artifact_dir) or Image (container images from image_uris)."
  type        = string
  default     = "Zip"
}

variable "image_uris" {
  description = "Container image of each function by binary name, pinned by digest (package_type = Image)."
  type        = map(string)
  default     = {}
}

variable "artifact_dir" {
  description = "cargo-lambda output directory (target/lambda)."
  type        = string
}

variable "environment" {
  description = "Environment shared by all functions (log level, ...)."
  type        = map(string)
  default     = {}
}

variable "tracing" {
  description = "Enable X-Ray active tracing."
  type        = bool
}

variable "vpc_config" {
  description = "Optional VPC placement of the functions."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null
}

# --- stream-export ---

variable "stream_export_memory_size" {
  description = "Memory of stream-export in MB."
  type        = number
  default     = 1024
}

variable "stream_export_timeout" {
  description = "Timeout of stream-export in seconds."
  type        = number
  default     = 120
}

variable "stream_export_reserved_concurrency" {
  description = "Reserved concurrency of stream-export; must cover shards x parallelization factor (-1 = unreserved)."
  type        = number
  default     = 20
}

variable "batch_size" {
  description = "Stream records per invocation (1-10000)."
  type        = number
  default     = 1000

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "How long Lambda gathers records before invoking (0-300); larger windows make larger Parquet files."
  type        = number
  default     = 30

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300
    error_message = "maximum_batching_window_in_seconds must be between 0 and 300."
  }
}

variable "parallelization_factor" {
  description = "Concurrent batches per shard (1-10); order per image_id is kept either way."
  type        = number
  default     = 1

  validation {
    condition     = var.parallelization_factor >= 1 && var.parallelization_factor <= 10
    error_message = "parallelization_factor must be between 1 and 10."
  }
}

variable "maximum_retry_attempts" {
  description = "Retries of a failing batch before its metadata goes to the on-failure queue (bounded: 0-10000, never infinite)."
  type        = number
  default     = 10

  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 10000
    error_message = "maximum_retry_attempts must be between 0 and 10000 (-1, infinite, would let one batch stall a shard)."
  }
}

variable "maximum_record_age_in_seconds" {
  description = "Records older than this are sent to the on-failure queue instead of retried (60-604800, never infinite)."
  type        = number
  default     = 21600

  validation {
    condition     = var.maximum_record_age_in_seconds >= 60 && var.maximum_record_age_in_seconds <= 604800
    error_message = "maximum_record_age_in_seconds must be between 60 and 604800 (-1, infinite, is refused)."
  }
}

# --- redrive ---

variable "redrive_enabled" {
  description = "Create the redrive function and its schedule. false removes both (e.g. before a redrive binary is built); the on-failure queue's age alarm keeps watching and its not-empty alarm returns."
  type        = bool
  default     = true
}

variable "redrive_schedule" {
  description = "EventBridge Scheduler expression (UTC) of redrive; well inside the stream's 24-hour retention."
  type        = string
  default     = "rate(15 minutes)"
}

variable "redrive_memory_size" {
  description = "Memory of redrive in MB (it exports up to a stream batch at a time, like stream-export)."
  type        = number
  default     = 1024
}

variable "redrive_timeout" {
  description = "Timeout of redrive in seconds; a message redrive receives stays hidden for this plus a minute (the on-failure queue's visibility timeout, and IMGLAKE_REDRIVE_VISIBILITY_TIMEOUT of the function)."
  type        = number
  default     = 300

  validation {
    condition     = var.redrive_timeout >= 30 && var.redrive_timeout <= 900
    error_message = "redrive_timeout must be between 30 and 900 seconds."
  }
}

variable "redrive_extra_environment" {
  description = "Extra environment of redrive, e.g. AWS_ENDPOINT_URL_DYNAMODB_STREAMS for the DynamoDB Streams interface endpoint (modules/network)."
  type        = map(string)
  default     = {}
}

# --- reconcile ---

variable "metadata_ttl_days" {
  description = "Days the metadata table keeps an item (its TTL): reconcile reads the lake this long plus 3 days (TTL's deletion lag) before the export time."
  type        = number
  default     = 7
}


variable "reconcile_schedule" {
  description = "EventBridge Scheduler expression (UTC) of reconcile, e.g. cron(0 3 * * ? *); null creates no reconcile function. Each run starts a full table export (billed per GB of table)."
  type        = string
  default     = null
}

variable "reconcile_memory_size" {
  description = "Memory of reconcile in MB (it holds the latest state of every image)."
  type        = number
  default     = 3008
}

variable "reconcile_timeout" {
  description = "Timeout of reconcile in seconds (max 900)."
  type        = number
  default     = 900
}

variable "table_export_prefix" {
  description = "Key prefix in the lake bucket for table exports (reconcile's under <prefix>/reconcile/), outside the lake prefix so lake readers never see them."
  type        = string
  default     = "table-exports"
}

# --- compact ---

variable "compact_schedule_expression" {
  description = "EventBridge Scheduler expression (UTC) running compaction of the previous hours' partitions."
  type        = string
  default     = "cron(20 * * * ? *)"
}

variable "compact_memory_size" {
  description = "Memory of compact in MB."
  type        = number
  default     = 3008
}

variable "compact_timeout" {
  description = "Timeout of compact in seconds (max 900)."
  type        = number
  default     = 900
}

variable "compact_target_size" {
  description = "Target Parquet file size for compaction, e.g. 128MB."
  type        = string
  default     = "128MB"
}

variable "compact_lookback_hours" {
  description = "How many previous hourly partitions each scheduled run compacts."
  type        = number
  default     = 3
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
