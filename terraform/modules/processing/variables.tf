variable "name" {
  description = "Name prefix, e.g. imglake-prod."
  type        = string
}

variable "raw_bucket" {
  description = "Raw uploads bucket (id and arn); its ObjectCreated events feed the queue."
  type        = object({ id = string, arn = string })
}

variable "processed_bucket" {
  description = "Bucket receiving processed variants (id and arn)."
  type        = object({ id = string, arn = string })
}

variable "table_arn" {
  description = "Metadata table ARN."
  type        = string
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
  description = "Environment shared by the pipeline functions."
  type        = map(string)
}

variable "tracing" {
  description = "Enable X-Ray active tracing."
  type        = bool
}

variable "vpc_config" {
  description = "Optional VPC placement of the function."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null
}

variable "memory_size" {
  description = "Memory of the process function in MB."
  type        = number
  default     = 2048
}

variable "timeout" {
  description = "Timeout of the process function in seconds."
  type        = number
  default     = 60
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of the process function (-1 = unreserved)."
  type        = number
  default     = 20
}

variable "maximum_concurrency" {
  description = "Most concurrent invocations the SQS event source may drive (2-1000); keep it at or below the reserved concurrency so the queue is not throttled."
  type        = number
  default     = 10

  validation {
    condition     = var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000
    error_message = "maximum_concurrency must be between 2 and 1000."
  }
}

variable "batch_size" {
  description = "SQS messages per invocation."
  type        = number
  default     = 5
}

variable "maximum_batching_window_in_seconds" {
  description = "How long the event source gathers messages before invoking."
  type        = number
  default     = 0
}

variable "max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue."
  type        = number
  default     = 5
}

variable "abandon_sweep_schedule" {
  description = "EventBridge Scheduler expression invoking the process function with {\"source\": \"imglake.schedule\"}: images whose upload form expired unused become ABANDONED."
  type        = string
  default     = "rate(5 minutes)"
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
