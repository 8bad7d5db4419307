variable "name" {
  description = "Queue name."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed key for server-side encryption."
  type        = string
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout; for a Lambda source, at least six times the function timeout."
  type        = number
  default     = 30
}

variable "message_retention_seconds" {
  description = "How long messages are kept (max 14 days)."
  type        = number
  default     = 1209600
}

variable "dead_letter_queue" {
  description = "Create a dead-letter queue and redrive to it after max_receive_count receives."
  type        = bool
  default     = false
}

variable "max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue."
  type        = number
  default     = 5
}

variable "attach_policy" {
  description = "Attach policy_json as the queue policy (a plain flag, so count never depends on unknown values)."
  type        = bool
  default     = false
}

variable "policy_json" {
  description = "Queue policy (JSON) for producers outside this account's IAM, e.g. S3 notifications."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the queues."
  type        = map(string)
  default     = {}
}
