variable "name" {
  description = "Name prefix, e.g. imglake-prod."
  type        = string
}

variable "kms_key_arn" {
  description = "Key encrypting the alarm topic (its key policy must let CloudWatch use it)."
  type        = string
}

variable "alarm_email" {
  description = "Address subscribed to alarms (confirm the subscription mail); null for none."
  type        = string
  default     = null
}

variable "function_names" {
  description = "Lambda function names by role (upload, kafka-ingest, process, stream-export, compact)."
  type        = map(string)
}

variable "stream_export_function_name" {
  description = "The function reading the DynamoDB stream (iterator age)."
  type        = string
}

variable "kafka_function_name" {
  description = "The function consuming Kafka (offset lag)."
  type        = string
}

variable "kafka_enabled" {
  description = "Whether a Kafka event source mapping exists (offset lag alarm)."
  type        = bool
}

variable "dead_letter_queue_names" {
  description = "Queues that must stay empty: dead-letter and on-failure queues, by label."
  type        = map(string)
}

variable "process_queue_name" {
  description = "The queue feeding the process function."
  type        = string
}

variable "api_id" {
  description = "HTTP API id."
  type        = string
}

variable "table_name" {
  description = "Metadata table name."
  type        = string
}

variable "iterator_age_threshold_ms" {
  description = "Alarm when the stream-export iterator age exceeds this (ms): the lake is falling behind."
  type        = number
  default     = 300000
}

variable "kafka_offset_lag_threshold" {
  description = "Alarm when the Kafka consumer lags by more records than this."
  type        = number
  default     = 10000
}

variable "queue_age_threshold_seconds" {
  description = "Alarm when the oldest message waiting for the process function is older than this."
  type        = number
  default     = 900
}

variable "redrive_queue_name" {
  description = "The stream-export on-failure queue that redrive drains."
  type        = string
}

variable "redrive_queue_age_threshold_seconds" {
  description = "Alarm when the oldest message of the on-failure queue is older than this: redrive is not catching up, and the stream keeps records only 24 h."
  type        = number
  default     = 3600

  validation {
    condition     = var.redrive_queue_age_threshold_seconds >= 300 && var.redrive_queue_age_threshold_seconds <= 43200
    error_message = "redrive_queue_age_threshold_seconds must be between 300 and 43200 (12 h), well inside the stream's 24-hour retention."
  }
}

variable "reconcile_enabled" {
  description = "Whether the reconcile function exists (ReconcileDrift alarm)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
