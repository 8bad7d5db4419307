variable "name" {
  description = "Name prefix, e.g. imglake-prod."
  type        = string
}

variable "kafka_source" {
  description = "Where images arrive from: msk (an existing Amazon MSK cluster, IAM auth), self_managed (SASL/SCRAM credentials from Secrets Manager) or none (function deployed, no mapping)."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "msk", "self_managed"], var.kafka_source)
    error_message = "kafka_source must be none, msk or self_managed."
  }
}

variable "msk_cluster_arn" {
  description = "ARN of the existing MSK cluster (kafka_source = msk)."
  type        = string
  default     = null
}

variable "bootstrap_servers" {
  description = "host:port of the self-managed brokers (kafka_source = self_managed)."
  type        = list(string)
  default     = []
}

variable "sasl_mechanism" {
  description = "Source access type for self-managed Kafka: SASL_SCRAM_512_AUTH, SASL_SCRAM_256_AUTH or BASIC_AUTH (SASL/PLAIN)."
  type        = string
  default     = "SASL_SCRAM_512_AUTH"

  validation {
    condition     = contains(["SASL_SCRAM_512_AUTH", "SASL_SCRAM_256_AUTH", "BASIC_AUTH"], var.sasl_mechanism)
    error_message = "sasl_mechanism must be SASL_SCRAM_512_AUTH, SASL_SCRAM_256_AUTH or BASIC_AUTH."
  }
}

variable "sasl_secret_arn" {
  description = "Existing Secrets Manager secret {\"username\",\"password\"} for self-managed Kafka; null creates an empty secret to fill out of band."
  type        = string
  default     = null
}

variable "vpc_subnet_ids" {
  description = "Subnets from which Lambda's pollers reach self-managed brokers in a VPC (empty for brokers reachable publicly)."
  type        = list(string)
  default     = []
}

variable "vpc_security_group_ids" {
  description = "Security groups for the pollers of self-managed Kafka in a VPC."
  type        = list(string)
  default     = []
}

variable "topic" {
  description = "Topic carrying images or claim-checks (one topic per mapping)."
  type        = string
  default     = "images"
}

variable "consumer_group_id" {
  description = "Consumer group of the mapping."
  type        = string
  default     = "imglake-kafka-ingest"
}

variable "starting_position" {
  description = "Where a new consumer group starts: TRIM_HORIZON or LATEST."
  type        = string
  default     = "TRIM_HORIZON"

  validation {
    condition     = contains(["TRIM_HORIZON", "LATEST"], var.starting_position)
    error_message = "starting_position must be TRIM_HORIZON or LATEST."
  }
}

variable "batch_size" {
  description = "Records per invocation."
  type        = number
  default     = 100
}

variable "maximum_batching_window_in_seconds" {
  description = "How long the pollers gather records before invoking."
  type        = number
  default     = 1
}

variable "minimum_pollers" {
  description = "Provisioned-mode pollers kept warm (provisioned mode enables partial batch responses, bisection and bounded retries for Kafka)."
  type        = number
  default     = 1
}

variable "maximum_pollers" {
  description = "Most provisioned-mode pollers."
  type        = number
  default     = 3
}

variable "maximum_retry_attempts" {
  description = "Retries of a failing batch before its record goes to the on-failure queue (bounded)."
  type        = number
  default     = 5

  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 10000
    error_message = "maximum_retry_attempts must be between 0 and 10000."
  }
}

variable "maximum_record_age_in_seconds" {
  description = "Records older than this go to the on-failure queue (60-604800)."
  type        = number
  default     = 21600

  validation {
    condition     = var.maximum_record_age_in_seconds >= 60 && var.maximum_record_age_in_seconds <= 604800
    error_message = "maximum_record_age_in_seconds must be between 60 and 604800."
  }
}

variable "claim_check_bucket_arns" {
  description = "Buckets holding claim-checked images ({\"bucket\",\"key\"} messages) that kafka-ingest may read; the raw bucket is always readable."
  type        = list(string)
  default     = []
}

variable "raw_bucket" {
  description = "Raw uploads bucket (id and arn)."
  type        = object({ id = string, arn = string })
}

variable "table_arn" {
  description = "Metadata table ARN."
  type        = string
}

variable "kms_key_arn" {
  description = "Data key (buckets, table, queues, secret, environment)."
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
  description = "Optional VPC placement of the function (the Kafka pollers have their own network settings)."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null
}

variable "memory_size" {
  description = "Memory of kafka-ingest in MB."
  type        = number
  default     = 1024
}

variable "timeout" {
  description = "Timeout of kafka-ingest in seconds."
  type        = number
  default     = 120
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of kafka-ingest (-1 = unreserved)."
  type        = number
  default     = 10
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
