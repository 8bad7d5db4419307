variable "name" {
  description = "Name prefix, e.g. imglake-prod."
  type        = string
}

variable "raw_bucket" {
  description = "Raw uploads bucket (id and arn)."
  type        = object({ id = string, arn = string })
}

variable "processed_bucket" {
  description = "Processed variants bucket (id and arn); GET /images/{id} presigns variant downloads."
  type        = object({ id = string, arn = string })
}

variable "table_arn" {
  description = "Metadata table ARN."
  type        = string
}

variable "kms_key_arn" {
  description = "Data key (buckets, table, environment)."
  type        = string
}

variable "log_kms_key_arn" {
  description = "Key encrypting log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Log retention in days (function and access logs)."
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
  description = "Memory of the upload function in MB."
  type        = number
  default     = 512
}

variable "timeout" {
  description = "Timeout of the upload function in seconds (HTTP APIs wait at most 30 s)."
  type        = number
  default     = 15

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 29
    error_message = "The upload timeout must be below API Gateway's 30 s integration limit."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of the upload function (-1 = unreserved)."
  type        = number
  default     = 50
}

variable "auth_type" {
  description = "Authorization of every route: JWT (an OIDC issuer such as Cognito) or AWS_IAM (SigV4-signed callers). There is no unauthenticated option."
  type        = string
  default     = "JWT"

  validation {
    condition     = contains(["JWT", "AWS_IAM"], var.auth_type)
    error_message = "auth_type must be JWT or AWS_IAM; the API is never open."
  }
}

variable "jwt_issuer" {
  description = "JWT issuer URL (e.g. https://cognito-idp.<region>.amazonaws.com/<pool id>); required with JWT."
  type        = string
  default     = null
}

variable "jwt_audience" {
  description = "Accepted JWT audiences (app client ids); required with JWT."
  type        = list(string)
  default     = []
}

variable "payload_format_version" {
  description = "Lambda proxy payload format the upload handler parses (2.0 for HTTP API events, 1.0 for REST-style)."
  type        = string
  default     = "2.0"

  validation {
    condition     = contains(["1.0", "2.0"], var.payload_format_version)
    error_message = "payload_format_version must be 1.0 or 2.0."
  }
}

variable "throttling_burst_limit" {
  description = "Stage-wide burst limit (requests)."
  type        = number
  default     = 100
}

variable "throttling_rate_limit" {
  description = "Stage-wide steady-state limit (requests per second)."
  type        = number
  default     = 50
}

variable "form_throttling_burst_limit" {
  description = "Burst limit of POST /images (upload forms), for all clients together (requests)."
  type        = number
  default     = 20
}

variable "form_throttling_rate_limit" {
  description = "Steady-state limit of POST /images (upload forms), for all clients together (requests per second)."
  type        = number
  default     = 10
}

variable "cors_allow_origins" {
  description = "Browser origins allowed to call the API; empty disables CORS."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
