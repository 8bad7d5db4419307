# --- Deployment ---------------------------------------------------------------------------------

variable "aws_region" {
  description = "Region of the deployment."
  type        = string
  default     = "eu-west-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "imglake"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,11}$", var.name_prefix))
    error_message = "name_prefix: 2-12 lowercase letters, digits or hyphens, starting with a letter (bucket names must stay under 63 characters)."
  }
}

variable "environment" {
  description = "Environment name (prod, staging, dev, ...)."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z0-9]{1,8}$", var.environment))
    error_message = "environment: 1-8 lowercase letters or digits."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource."
  type        = map(string)
  default     = {}
}

variable "assume_role_arn" {
  description = "Role the AWS provider assumes to make changes (set by the delivery pipeline); null uses the caller's credentials."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let terraform destroy empty the buckets and delete the Athena workgroup. Keep false in production."
  type        = bool
  default     = false
}

variable "metadata_table_name" {
  description = "Name of the metadata table; null is <name_prefix>-<environment>-images. Set it to adopt a table restored from PITR (terraform/README.md, disaster recovery)."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "DynamoDB deletion protection. Turn off (and apply) before tearing an environment down."
  type        = bool
  default     = true
}

# --- Lambda -------------------------------------------------------------------------------------

variable "lambda_artifact_dir" {
  description = "Where `cargo lambda build --release --arm64 --output-format zip` wrote the zips (<dir>/<binary>/bootstrap.zip), relative to this directory."
  type        = string
  default     = "../target/lambda"
}

variable "lambda_package_type" {
  description = "How the functions are packaged: Zip (cargo-lambda zips from lambda_artifact_dir) or Image (container images from docker/Dockerfile (one target per binary), pushed to the ECR repositories this configuration creates)."
  type        = string
  default     = "Zip"

  validation {
    condition     = contains(["Zip", "Image"], var.lambda_package_type)
    error_message = "lambda_package_type must be Zip or Image."
  }
}

variable "lambda_image_tag" {
  description = "With lambda_package_type = Image: the immutable tag pushed for every binary (e.g. the git commit). null creates the repositories only (first apply, before the first push)."
  type        = string
  default     = null
}

variable "log_level" {
  description = "RUST_LOG of every function."
  type        = string
  default     = "info"
}

variable "log_retention_days" {
  description = "Retention of Lambda, API access, CloudTrail and build log groups."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (e.g. 30, 90, 365)."
  }
}

variable "enable_xray" {
  description = "X-Ray active tracing on every function."
  type        = bool
  default     = true
}

variable "lambda_vpc_config" {
  description = "Run the functions in a VPC of your own making (it then needs the endpoints of modules/network, or NAT); null runs them outside a VPC, or in the network module's subnets with network.enabled."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null

  validation {
    condition     = var.lambda_vpc_config == null || !var.network.enabled
    error_message = "Set either lambda_vpc_config or network.enabled, not both: the network module places the functions itself."
  }
}

variable "network" {
  description = "Private networking (modules/network): functions in private subnets, S3/DynamoDB gateway endpoints, the interface endpoints they need with policies scoped to this deployment, bucket policies refusing the functions' roles outside the endpoint. Off by default; terraform/README.md has the recipe."
  type = object({
    enabled                   = optional(bool, false)
    vpc_id                    = optional(string)
    dedicated_vpc             = optional(bool)
    vpc_cidr                  = optional(string, "10.80.0.0/20")
    availability_zones        = optional(list(string), [])
    private_subnet_ids        = optional(list(string), [])
    route_table_ids           = optional(list(string), [])
    athena_endpoint           = optional(bool, false)
    kafka_in_vpc              = optional(bool, false)
    kafka_security_group_ids  = optional(list(string), [])
    extra_interface_endpoints = optional(list(string), [])
    client_cidrs              = optional(list(string), [])
    restrict_buckets_to_vpc   = optional(bool, true)
    quicksight_vpc_connection = optional(bool, false)
  })
  default = {}

  validation {
    condition     = var.network.vpc_id == null || (length(var.network.private_subnet_ids) >= 2 && length(var.network.route_table_ids) >= 1)
    error_message = "network.vpc_id needs private_subnet_ids (two zones or more) and the route_table_ids of those subnets."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency per function (-1 = unreserved). The account keeps at least 100 unreserved, so lower these on accounts with a small concurrency quota."
  type        = map(number)
  default = {
    upload        = 50
    kafka-ingest  = 10
    process       = 20
    stream-export = 20
  }
}

# --- Images and retention -----------------------------------------------------------------------

variable "raw_image_retention_days" {
  description = "Days after which raw uploads are deleted by S3 lifecycle."
  type        = number
  default     = 7
}

variable "processed_image_retention_days" {
  description = "Days after which processed variants are deleted by S3 lifecycle."
  type        = number
  default     = 7
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which overwritten or deleted image versions are removed for good."
  type        = number
  default     = 1
}

variable "upload_form_expires_seconds" {
  description = "Seconds a presigned upload form stays valid; the process function's schedule abandons the images of older forms that received no upload."
  type        = number
  default     = 900

  validation {
    condition     = var.upload_form_expires_seconds >= 60 && var.upload_form_expires_seconds <= 604800
    error_message = "upload_form_expires_seconds must be 60 to 604800 (S3 presigned forms last at most 7 days)."
  }
}

variable "abandon_sweep_schedule" {
  description = "EventBridge Scheduler expression of the process function's sweep of expired, unused upload forms (their images become ABANDONED)."
  type        = string
  default     = "rate(5 minutes)"
}

variable "metadata_ttl_days" {
  description = "Days after which metadata items expire (the functions set expires_at; DynamoDB TTL deletes them)."
  type        = number
  default     = 7
}

variable "max_upload_bytes" {
  description = "Largest accepted image (bytes); presigned POST policies bound content-length to it."
  type        = number
  default     = 10485760
}

variable "max_megapixels" {
  description = "Largest width x height accepted, in megapixels, checked from the image header before any decoding."
  type        = number
  default     = 50

  validation {
    condition     = var.max_megapixels >= 1 && var.max_megapixels <= 1000 && floor(var.max_megapixels) == var.max_megapixels
    error_message = "max_megapixels must be a whole number from 1 to 1000."
  }
}

variable "allow_tiff" {
  description = "Accept TIFF images as well as JPEG, PNG, WebP and GIF."
  type        = bool
  default     = false
}

variable "max_jpeg_scans" {
  description = "Most scans a JPEG may have; each is one decoding pass over the whole image (libjpeg's progressive script writes 10)."
  type        = number
  default     = 64

  validation {
    condition     = var.max_jpeg_scans >= 1 && var.max_jpeg_scans <= 10000 && floor(var.max_jpeg_scans) == var.max_jpeg_scans
    error_message = "max_jpeg_scans must be a whole number from 1 to 10000."
  }
}

variable "upload_cors_origins" {
  description = "Browser origins allowed to call the API and POST presigned uploads to the raw bucket."
  type        = list(string)
  default     = []
}

# --- Lake ---------------------------------------------------------------------------------------

variable "lake_prefix" {
  description = "Key prefix of the lake in the lake bucket: the lake is s3://<lake bucket>/<prefix>/image_events/dt=.../hour=.../."
  type        = string
  default     = "lake"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_/-]*[a-z0-9]$", var.lake_prefix))
    error_message = "lake_prefix: lowercase path without leading or trailing slash."
  }
}

variable "lake_retention_days" {
  description = "Days after which lake files are deleted; null keeps the lake (it holds metadata only, no pixels)."
  type        = number
  default     = null
}

variable "quarantine_retention_days" {
  description = "Days quarantined stream records (<prefix>/_quarantine/) are kept for investigation."
  type        = number
  default     = 90
}

variable "lake_start_date" {
  description = "First date (yyyy-MM-dd) of the dt partition projection."
  type        = string
  default     = "2025-01-01"
}

variable "parquet_compression" {
  description = "Parquet compression of the lake files: zstd or snappy."
  type        = string
  default     = "zstd"
}

variable "stream_export" {
  description = "DynamoDB stream -> stream-export mapping."
  type = object({
    batch_size                         = optional(number, 1000)
    maximum_batching_window_in_seconds = optional(number, 30)
    parallelization_factor             = optional(number, 1)
    maximum_retry_attempts             = optional(number, 10)
    maximum_record_age_in_seconds      = optional(number, 21600)
    memory_size                        = optional(number, 1024)
    timeout                            = optional(number, 120)
  })
  default = {}
}

variable "compact" {
  description = "Scheduled compaction of the lake."
  type = object({
    schedule_expression = optional(string, "cron(20 * * * ? *)")
    target_size         = optional(string, "128MB")
    lookback_hours      = optional(number, 3)
    memory_size         = optional(number, 3008)
    timeout             = optional(number, 900)
  })
  default = {}
}

# --- Recovery: redrive, reconcile, table exports ----------------------------------------------------

variable "redrive_enabled" {
  description = "Run the redrive function on its schedule (re-exports failed stream batches from the stream, which keeps them 24 h). false removes the function and its schedule; the queue-age alarm stays and the queue's not-empty alarm returns."
  type        = bool
  default     = true
}

variable "redrive_schedule" {
  description = "EventBridge Scheduler expression (UTC) of redrive."
  type        = string
  default     = "rate(15 minutes)"
}

variable "redrive_queue_age_alarm_seconds" {
  description = "Alarm when a failed stream batch has waited this long in the on-failure queue (well inside the stream's 24-hour retention)."
  type        = number
  default     = 3600
}

variable "reconcile_schedule" {
  description = "EventBridge Scheduler expression (UTC) of the reconcile function, e.g. cron(0 3 * * ? *); null (default) creates none. Each run starts a full table export from PITR, billed per GB of table (terraform/README.md)."
  type        = string
  default     = null
}

variable "table_export_prefix" {
  description = "Key prefix in the lake bucket for DynamoDB table exports (reconcile's, and those made for a backfill); outside lake_prefix."
  type        = string
  default     = "table-exports"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_/-]*[a-z0-9]$", var.table_export_prefix)) && !startswith("${var.table_export_prefix}/", "${var.lake_prefix}/") && !startswith("${var.lake_prefix}/", "${var.table_export_prefix}/")
    error_message = "table_export_prefix: lowercase path without leading or trailing slash, neither inside lake_prefix nor containing it (lake readers must not see table exports)."
  }
}

variable "table_export_retention_days" {
  description = "Days table exports and reconcile reports are kept."
  type        = number
  default     = 7
}

# --- Processing ---------------------------------------------------------------------------------

variable "process" {
  description = "S3 -> SQS -> process mapping."
  type = object({
    batch_size                         = optional(number, 5)
    maximum_batching_window_in_seconds = optional(number, 0)
    maximum_concurrency                = optional(number, 10)
    max_receive_count                  = optional(number, 5)
    memory_size                        = optional(number, 2048)
    timeout                            = optional(number, 60)
  })
  default = {}
}

# --- Upload API ---------------------------------------------------------------------------------

variable "api_auth_type" {
  description = "JWT (OIDC issuer, e.g. Cognito) or AWS_IAM. There is no open option."
  type        = string
  default     = "JWT"
}

variable "api_jwt_issuer" {
  description = "JWT issuer URL, e.g. https://cognito-idp.<region>.amazonaws.com/<user pool id>."
  type        = string
  default     = null
}

variable "api_jwt_audience" {
  description = "Accepted JWT audiences (app client ids)."
  type        = list(string)
  default     = []
}

variable "api_payload_format_version" {
  description = "Lambda proxy payload format of the upload integration (must match the upload handler)."
  type        = string
  default     = "2.0"
}

variable "api_throttling" {
  description = "Throttling of the upload API: stage-wide, and of POST /images (upload forms, each recording an image) for all clients together."
  type = object({
    burst_limit      = optional(number, 100)
    rate_limit       = optional(number, 50)
    form_burst_limit = optional(number, 20)
    form_rate_limit  = optional(number, 10)
  })
  default = {}
}

# --- Kafka --------------------------------------------------------------------------------------

variable "kafka" {
  description = "Kafka source of kafka-ingest: source = none | msk | self_managed."
  type = object({
    source                        = optional(string, "none")
    msk_cluster_arn               = optional(string)
    bootstrap_servers             = optional(list(string), [])
    sasl_mechanism                = optional(string, "SASL_SCRAM_512_AUTH")
    sasl_secret_arn               = optional(string)
    vpc_subnet_ids                = optional(list(string), [])
    vpc_security_group_ids        = optional(list(string), [])
    topic                         = optional(string, "images")
    consumer_group_id             = optional(string, "imglake-kafka-ingest")
    starting_position             = optional(string, "TRIM_HORIZON")
    batch_size                    = optional(number, 100)
    maximum_batching_window       = optional(number, 1)
    minimum_pollers               = optional(number, 1)
    maximum_pollers               = optional(number, 3)
    maximum_retry_attempts        = optional(number, 5)
    maximum_record_age_in_seconds = optional(number, 21600)
    claim_check_bucket_arns       = optional(list(string), [])
  })
  default = {}
}

# --- Analytics ----------------------------------------------------------------------------------

variable "athena_bytes_scanned_cutoff" {
  description = "Per-query bytes-scanned limit of the Athena workgroup."
  type        = number
  default     = 10737418240
}

variable "athena_results_retention_days" {
  description = "Days Athena query results are kept."
  type        = number
  default     = 30
}

variable "athena_views_dir" {
  description = "Directory of view statements saved as Athena named queries; null = ../sql/athena/views. A missing directory means no views."
  type        = string
  default     = null
}

variable "enable_quicksight" {
  description = "Create the QuickSight Athena data source and image_events dataset."
  type        = bool
  default     = false
}

variable "quicksight_principal_arn" {
  description = "QuickSight user or group owning the data source and dataset."
  type        = string
  default     = null
}

variable "enable_redshift_spectrum_role" {
  description = "Create the IAM role Redshift Spectrum assumes to read the lake."
  type        = bool
  default     = false
}

# --- Cross-region replication ----------------------------------------------------------------------

variable "replication" {
  description = "Cross-region replication (modules/replication) of the lake, raw and processed buckets to replica buckets with their own key in another region; the replicas expire images after the same days as the source. Off by default."
  type = object({
    enabled                  = optional(bool, false)
    region                   = optional(string)
    buckets                  = optional(list(string), ["lake", "raw", "processed"])
    replication_time_control = optional(bool, false)
  })
  default = {}

  validation {
    condition     = !var.replication.enabled || (var.replication.region != null && var.replication.region != var.aws_region)
    error_message = "replication.enabled needs replication.region, a region other than aws_region."
  }

  validation {
    condition     = alltrue([for b in var.replication.buckets : contains(["lake", "raw", "processed"], b)])
    error_message = "replication.buckets may hold lake, raw and processed."
  }
}

# --- Human access ---------------------------------------------------------------------------------

variable "access" {
  description = "Analyst and operator access (modules/access): IAM Identity Center permission sets assigned to groups (identity_center), plain IAM roles (iam_roles), or none. terraform/README.md has the SSO recipe."
  type = object({
    mode                         = optional(string, "none")
    identity_center_instance_arn = optional(string)
    identity_center_region       = optional(string)
    identity_center_role_arn     = optional(string)
    analyst_group_ids            = optional(list(string), [])
    operator_group_ids           = optional(list(string), [])
    session_duration             = optional(string, "PT8H")
    trusted_principal_arns       = optional(list(string), [])
    saml_provider_arn            = optional(string)
    private_only                 = optional(bool, false)
  })
  default = {}

  validation {
    condition     = contains(["none", "identity_center", "iam_roles"], var.access.mode)
    error_message = "access.mode must be none, identity_center or iam_roles."
  }

  validation {
    condition     = !var.access.private_only || (var.network.enabled && var.network.athena_endpoint)
    error_message = "access.private_only needs network.enabled and network.athena_endpoint: analysts need the endpoints they are confined to."
  }
}

# --- Security and operations --------------------------------------------------------------------

variable "enable_cloudtrail" {
  description = "Create a trail with S3 data events for the image and lake buckets."
  type        = bool
  default     = true
}

variable "audit_log_retention_days" {
  description = "Days CloudTrail files are kept."
  type        = number
  default     = 365
}

variable "access_log_retention_days" {
  description = "Days S3 server access logs are kept."
  type        = number
  default     = 90
}

variable "enable_guardduty" {
  description = "Create a GuardDuty detector (off when the organisation manages GuardDuty)."
  type        = bool
  default     = false
}

variable "alarm_email" {
  description = "Address subscribed to the alarm topic; null for none."
  type        = string
  default     = null
}

variable "alarm_thresholds" {
  description = "Alarm thresholds."
  type = object({
    iterator_age_ms   = optional(number, 300000)
    kafka_offset_lag  = optional(number, 10000)
    queue_age_seconds = optional(number, 900)
  })
  default = {}
}

# --- Delivery -----------------------------------------------------------------------------------

variable "enable_delivery" {
  description = "Create the CodePipeline + CodeBuild delivery pipeline (source: CodeStar connection)."
  type        = bool
  default     = false
}

variable "delivery" {
  description = "Delivery pipeline settings (used when enable_delivery)."
  type = object({
    connection_provider_type = optional(string, "GitHub")
    repository_id            = optional(string)
    branch                   = optional(string, "main")
    deploy_role_arn          = optional(string)
    tf_state_bucket          = optional(string)
    tf_state_key             = optional(string, "imglake/terraform.tfstate")
    tfvars_file              = optional(string, "env/prod.tfvars")
    terraform_version        = optional(string, "1.9.8")
    require_approval         = optional(bool, true)
  })
  default = {}
}
