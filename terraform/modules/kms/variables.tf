variable "alias" {
  description = "Alias of the key, without the alias/ prefix."
  type        = string
}

variable "description" {
  description = "What the key protects."
  type        = string
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled key deletion takes effect (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "service_principals" {
  description = "AWS service principals (e.g. s3.amazonaws.com) that encrypt what they deliver to this account's queues or topics with the key."
  type        = list(string)
  default     = []
}

variable "allow_cloudwatch_logs" {
  description = "Allow CloudWatch Logs in this region to encrypt this account's log groups with the key."
  type        = bool
  default     = false
}

variable "allow_cloudtrail" {
  description = "Allow CloudTrail to encrypt this account's trails' log files with the key."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the key."
  type        = map(string)
  default     = {}
}
