variable "name" {
  description = "Globally unique bucket name."
  type        = string
}

variable "retention_days" {
  description = "Days after which access logs are deleted."
  type        = number
}

variable "force_destroy" {
  description = "Allow terraform destroy to empty the bucket."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
