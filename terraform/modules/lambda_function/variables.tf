variable "function_name" {
  description = "Name of the function (also its role and log group)."
  type        = string
}

variable "binary" {
  description = "Cargo binary name; the zip is <artifact_dir>/<binary>/bootstrap.zip as written by `cargo lambda build --release --arm64 --output-format zip`."
  type        = string
}

variable "artifact_dir" {
  description = "Directory holding cargo-lambda's output (target/lambda), relative to the root module or absolute."
  type        = string
}

variable "package_type" {
  description = "Zip (cargo-lambda's bootstrap.zip on provided.al2023) or Image (a container image from docker/Dockerfile's <binary> target in ECR)."
  type        = string
  default     = "Zip"

  validation {
    condition     = contains(["Zip", "Image"], var.package_type)
    error_message = "package_type must be Zip or Image."
  }
}

variable "image_uri" {
  description = "Container image of the function with package_type = Image, pinned by digest (<repository url>@sha256:...)."
  type        = string
  default     = null
}

variable "description" {
  description = "Function description."
  type        = string
  default     = ""
}

variable "memory_size" {
  description = "Memory in MB (CPU scales with it)."
  type        = number
  default     = 512
}

variable "timeout" {
  description = "Timeout in seconds."
  type        = number
  default     = 30
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions: caps the function and guarantees it capacity (-1 = unreserved)."
  type        = number
  default     = -1
}

variable "environment" {
  description = "Environment variables."
  type        = map(string)
  default     = {}
}

variable "policy_json" {
  description = "The function's data-access policy (JSON): least privilege for what its handler does."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed key encrypting the environment variables and the async dead-letter queue."
  type        = string
}

variable "log_kms_key_arn" {
  description = "Customer-managed key encrypting the log group."
  type        = string
}

variable "log_retention_days" {
  description = "Log retention in days."
  type        = number
}

variable "async_dlq_arn" {
  description = "SQS queue receiving events of failed asynchronous invocations."
  type        = string
}

variable "tracing" {
  description = "Enable X-Ray active tracing."
  type        = bool
  default     = true
}

variable "vpc_config" {
  description = "Subnets and security groups to run the function in a VPC (needs S3/DynamoDB/Glue endpoints or NAT); null runs it outside a VPC."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null
}

variable "tags" {
  description = "Tags for the function and its role and log group."
  type        = map(string)
  default     = {}
}
