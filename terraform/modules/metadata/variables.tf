variable "table_name" {
  description = "Name of the metadata table."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed key encrypting the table and its stream."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse DeleteTable while true (turn off before terraform destroy)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the table."
  type        = map(string)
  default     = {}
}
