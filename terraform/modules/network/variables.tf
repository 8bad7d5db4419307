variable "name" {
  description = "Name prefix, e.g. imglake-prod; the functions' roles are <name>-<binary>."
  type        = string
}

variable "vpc_id" {
  description = "Existing VPC to place the functions in; null creates a VPC with private subnets only (no internet gateway, no NAT)."
  type        = string
  default     = null
}

variable "vpc_cidr" {
  description = "CIDR of the created VPC (vpc_id = null)."
  type        = string
  default     = "10.80.0.0/20"
}

variable "availability_zones" {
  description = "Zones of the created VPC's private subnets (one subnet each; interface endpoints get a network interface in each); empty means <region>a and <region>b."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || (length(var.availability_zones) >= 2 && length(var.availability_zones) <= 6)
    error_message = "availability_zones: two to six zones (Lambda wants at least two for high availability)."
  }
}

variable "dedicated_vpc" {
  description = "The VPC holds imglake alone. true: interface endpoints get private DNS (they answer sqs.<region>.amazonaws.com and so on for the whole VPC) and their policies admit this deployment's resources only. false (shared VPC): no private DNS, the functions are given the endpoints' own names (AWS_ENDPOINT_URL_<SERVICE>), no Kafka poller endpoints (the VPC must provide lambda/sts/secretsmanager). null: true for a VPC this module creates, false with vpc_id."
  type        = bool
  default     = null
}

variable "private_subnet_ids" {
  description = "With vpc_id: the private subnets the functions and interface endpoints use (at least two zones)."
  type        = list(string)
  default     = []
}

variable "route_table_ids" {
  description = "With vpc_id: the route tables of those subnets, which get the S3 and DynamoDB gateway endpoints. Gateway endpoint policies apply to everything routed through them, so give imglake route tables of its own."
  type        = list(string)
  default     = []
}

variable "bucket_arns" {
  description = "The deployment's buckets by role (raw, processed, lake, athena_results): the only buckets the S3 endpoint reaches, besides extra_bucket_arns."
  type        = map(string)
}

variable "extra_bucket_arns" {
  description = "Other buckets the functions read through the S3 endpoint (Kafka claim-check buckets)."
  type        = list(string)
  default     = []
}

variable "table_arn" {
  description = "The metadata table (DynamoDB gateway endpoint, and its stream for the DynamoDB Streams endpoint)."
  type        = string
}

variable "kms_key_arns" {
  description = "The deployment's keys (kms interface endpoint, when requested)."
  type        = list(string)
}

variable "glue_database_name" {
  description = "Glue database of the lake (glue interface endpoint policy)."
  type        = string
}

variable "athena_workgroup_name" {
  description = "Athena workgroup reachable through the athena interface endpoint."
  type        = string
}

variable "athena_endpoint" {
  description = "Create an Athena interface endpoint (analysts over VPN/Direct Connect and QuickSight reach Athena privately)."
  type        = bool
  default     = false
}

variable "redrive_enabled" {
  description = "The redrive function is deployed: it is the only function that reads the table's stream (the DynamoDB Streams interface endpoint) and an SQS queue itself (stream-export's on-failure queue). false: neither endpoint is made, unless the Kafka pollers need SQS (kafka_in_vpc in a dedicated VPC)."
  type        = bool
  default     = true
}

variable "kafka_in_vpc" {
  description = "The Kafka cluster is in this VPC: create the endpoints Lambda's Kafka pollers need without NAT (lambda, sts, secretsmanager; sqs for the on-failure destination)."
  type        = bool
  default     = false
}

variable "kafka_security_group_ids" {
  description = "With kafka_in_vpc: the security groups of Lambda's Kafka pollers (an MSK cluster's security groups; a self-managed cluster's event source mapping's vpc_security_group_ids). The endpoints' group admits HTTPS from them."
  type        = list(string)
  default     = []

  validation {
    condition     = !var.kafka_in_vpc || length(var.kafka_security_group_ids) > 0
    error_message = "kafka_in_vpc needs kafka_security_group_ids: the pollers' security groups, which the endpoints must admit."
  }
}

variable "extra_interface_endpoints" {
  description = "More interface endpoints for tools run inside the VPC, each with a policy scoped to this deployment: any of kms, logs, monitoring, xray."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.extra_interface_endpoints : contains(["kms", "logs", "monitoring", "xray"], s)])
    error_message = "extra_interface_endpoints may name kms, logs, monitoring and xray."
  }
}

variable "client_cidrs" {
  description = "Networks (VPN, Direct Connect, peered VPCs) allowed to reach the interface endpoints on 443, e.g. analysts' Athena clients."
  type        = list(string)
  default     = []
}

variable "restrict_buckets_to_vpc" {
  description = "Bucket policies refuse the functions' roles outside the S3 endpoint (the upload role keeps the presigned browser paths)."
  type        = bool
  default     = true
}

variable "quicksight_vpc_connection" {
  description = "Create a QuickSight VPC connection (with its role and security group) so QuickSight reaches Athena through the endpoint."
  type        = bool
  default     = false

  validation {
    condition     = !var.quicksight_vpc_connection || var.athena_endpoint
    error_message = "quicksight_vpc_connection needs athena_endpoint: the connection's security group reaches the interface endpoints only."
  }
}

variable "log_kms_key_arn" {
  description = "Key encrypting the flow-log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the VPC flow logs."
  type        = number
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
