# imglake on AWS: upload API and Kafka -> raw bucket -> SQS -> process -> DynamoDB ->
# DynamoDB Streams -> stream-export -> Parquet lake -> Glue/Athena/QuickSight/Spectrum/notebooks.
# Each module is small and owns one part of ../shared design; this file wires them.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  name          = "${var.name_prefix}-${var.environment}"
  bucket_suffix = "${data.aws_caller_identity.current.account_id}-${data.aws_region.current.region}"
  table_name    = "image_events"
  views_dir     = coalesce(var.athena_views_dir, "${path.module}/../sql/athena/views")
  queries_dir   = "${path.module}/../sql/queries"
  kafka_enabled = var.kafka.source != "none"

  # Every Lambda binary (crates' [[bin]] entries; docker/Dockerfile targets for images).
  lambda_binaries = ["upload", "kafka-ingest", "process", "stream-export", "compact", "redrive", "reconcile"]
  image_uris      = try(module.images[0].image_uris, {})

  replicable_buckets = {
    lake      = module.storage.lake_bucket
    raw       = module.storage.raw_bucket
    processed = module.storage.processed_bucket
  }

  # Where the functions run: the network module's private subnets, or a VPC given as is.
  network_enabled = var.network.enabled
  vpc_config      = local.network_enabled ? module.network[0].vpc_config : var.lambda_vpc_config
  # Shared VPC (no private DNS on the interface endpoints): where the functions find them.
  endpoint_environment = local.network_enabled ? module.network[0].endpoint_environment : {}

  # Configuration shared by the image pipeline functions (upload, kafka-ingest, process).
  pipeline_environment = {
    RUST_LOG                  = var.log_level
    IMGLAKE_RAW_BUCKET        = module.storage.raw_bucket.id
    IMGLAKE_PROCESSED_BUCKET  = module.storage.processed_bucket.id
    IMGLAKE_METADATA_TABLE    = module.metadata.table_name
    IMGLAKE_KMS_KEY_ID        = module.data_key.key_arn
    IMGLAKE_METADATA_TTL_DAYS = tostring(var.metadata_ttl_days)
    IMGLAKE_MAX_UPLOAD_BYTES  = tostring(var.max_upload_bytes)
    IMGLAKE_MAX_MEGAPIXELS    = tostring(var.max_megapixels)
    IMGLAKE_ALLOW_TIFF        = tostring(var.allow_tiff)
    IMGLAKE_MAX_JPEG_SCANS    = tostring(var.max_jpeg_scans)

    # upload signs forms for this long; process's sweep abandons older unused ones.
    IMGLAKE_UPLOAD_FORM_EXPIRES_SECS = tostring(var.upload_form_expires_seconds)

    # Decode memory for one image: 60% of process's memory (2 048 MB -> 1 228 MB), judged from
    # the header at ingest too, so an image process could not hold is refused when it arrives.
    IMGLAKE_MEMORY_BUDGET = "${floor(var.process.memory_size * 0.6)}MB"
  }
}

# --- Keys ---------------------------------------------------------------------------------------

# Data: buckets, metadata table and stream, queues, secrets, Lambda environments, Athena results.
module "data_key" {
  source = "./modules/kms"

  alias       = "${local.name}-data"
  description = "imglake ${var.environment}: images, metadata, lake, queues"
  # S3 sends raw-bucket notifications to the encrypted process queue.
  service_principals = ["s3.amazonaws.com"]
}

# Operations: log groups, CloudTrail, alarm topic.
module "logs_key" {
  source = "./modules/kms"

  alias                 = "${local.name}-logs"
  description           = "imglake ${var.environment}: logs, audit trail, alarms"
  allow_cloudwatch_logs = true
  allow_cloudtrail      = true
  # CloudWatch alarms publish to the encrypted alarm topic.
  service_principals = ["cloudwatch.amazonaws.com"]
}

# --- Storage and metadata -----------------------------------------------------------------------

module "storage" {
  source = "./modules/storage"

  name                               = local.name
  bucket_suffix                      = local.bucket_suffix
  kms_key_arn                        = module.data_key.key_arn
  raw_image_retention_days           = var.raw_image_retention_days
  processed_image_retention_days     = var.processed_image_retention_days
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  lake_prefix                        = var.lake_prefix
  lake_table_name                    = local.table_name
  lake_retention_days                = var.lake_retention_days
  quarantine_retention_days          = var.quarantine_retention_days
  athena_results_retention_days      = var.athena_results_retention_days
  table_export_prefix                = var.table_export_prefix
  table_export_retention_days        = var.table_export_retention_days
  access_log_retention_days          = var.access_log_retention_days
  upload_cors_origins                = var.upload_cors_origins
  bucket_policy_documents            = try(module.network[0].bucket_policy_documents, {})
  force_destroy                      = var.force_destroy
}

module "metadata" {
  source = "./modules/metadata"

  table_name          = coalesce(var.metadata_table_name, "${local.name}-images")
  kms_key_arn         = module.data_key.key_arn
  deletion_protection = var.deletion_protection
}

# Events of failed asynchronous invocations (scheduled compaction, manual async invokes).
module "async_dlq" {
  source = "./modules/queue"

  name        = "${local.name}-async-dlq"
  kms_key_arn = module.data_key.key_arn
}

# --- Private network (optional) -----------------------------------------------------------------

module "network" {
  source = "./modules/network"
  count  = var.network.enabled ? 1 : 0

  name                      = local.name
  vpc_id                    = var.network.vpc_id
  dedicated_vpc             = var.network.dedicated_vpc
  vpc_cidr                  = var.network.vpc_cidr
  availability_zones        = var.network.availability_zones
  private_subnet_ids        = var.network.private_subnet_ids
  route_table_ids           = var.network.route_table_ids
  table_arn                 = module.metadata.table_arn
  kms_key_arns              = [module.data_key.key_arn, module.logs_key.key_arn]
  glue_database_name        = module.analytics.database_name
  athena_workgroup_name     = module.analytics.workgroup_name
  athena_endpoint           = var.network.athena_endpoint
  redrive_enabled           = var.redrive_enabled
  kafka_in_vpc              = var.network.kafka_in_vpc
  # The pollers' groups: an MSK cluster's (network.kafka_security_group_ids), a self-managed
  # cluster's mapping's (kafka.vpc_security_group_ids).
  kafka_security_group_ids = distinct(concat(var.network.kafka_security_group_ids, var.kafka.vpc_security_group_ids))
  extra_interface_endpoints = var.network.extra_interface_endpoints
  client_cidrs              = var.network.client_cidrs
  restrict_buckets_to_vpc   = var.network.restrict_buckets_to_vpc
  quicksight_vpc_connection = var.network.quicksight_vpc_connection && var.enable_quicksight
  log_kms_key_arn           = module.logs_key.key_arn
  log_retention_days        = var.log_retention_days
  extra_bucket_arns         = var.kafka.claim_check_bucket_arns

  bucket_arns = {
    raw            = module.storage.raw_bucket.arn
    processed      = module.storage.processed_bucket.arn
    lake           = module.storage.lake_bucket.arn
    athena_results = module.storage.athena_results_bucket.arn
  }
}

# --- Ingest -------------------------------------------------------------------------------------

module "ingest_api" {
  source = "./modules/ingest_api"

  name                   = local.name
  raw_bucket             = module.storage.raw_bucket
  processed_bucket       = module.storage.processed_bucket
  table_arn              = module.metadata.table_arn
  kms_key_arn            = module.data_key.key_arn
  log_kms_key_arn        = module.logs_key.key_arn
  log_retention_days     = var.log_retention_days
  async_dlq_arn          = module.async_dlq.arn
  artifact_dir           = var.lambda_artifact_dir
  package_type           = var.lambda_package_type
  image_uris             = local.image_uris
  environment            = local.pipeline_environment
  tracing                = var.enable_xray
  vpc_config             = local.vpc_config
  reserved_concurrency   = lookup(var.reserved_concurrency, "upload", -1)
  auth_type              = var.api_auth_type
  jwt_issuer             = var.api_jwt_issuer
  jwt_audience           = var.api_jwt_audience
  payload_format_version = var.api_payload_format_version
  throttling_burst_limit = var.api_throttling.burst_limit
  throttling_rate_limit  = var.api_throttling.rate_limit
  cors_allow_origins     = var.upload_cors_origins

  form_throttling_burst_limit = var.api_throttling.form_burst_limit
  form_throttling_rate_limit  = var.api_throttling.form_rate_limit
}

module "kafka_ingest" {
  source = "./modules/kafka_ingest"

  name                               = local.name
  kafka_source                       = var.kafka.source
  msk_cluster_arn                    = var.kafka.msk_cluster_arn
  bootstrap_servers                  = var.kafka.bootstrap_servers
  sasl_mechanism                     = var.kafka.sasl_mechanism
  sasl_secret_arn                    = var.kafka.sasl_secret_arn
  vpc_subnet_ids                     = var.kafka.vpc_subnet_ids
  vpc_security_group_ids             = var.kafka.vpc_security_group_ids
  topic                              = var.kafka.topic
  consumer_group_id                  = var.kafka.consumer_group_id
  starting_position                  = var.kafka.starting_position
  batch_size                         = var.kafka.batch_size
  maximum_batching_window_in_seconds = var.kafka.maximum_batching_window
  minimum_pollers                    = var.kafka.minimum_pollers
  maximum_pollers                    = var.kafka.maximum_pollers
  maximum_retry_attempts             = var.kafka.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.kafka.maximum_record_age_in_seconds
  claim_check_bucket_arns            = var.kafka.claim_check_bucket_arns
  raw_bucket                         = module.storage.raw_bucket
  table_arn                          = module.metadata.table_arn
  kms_key_arn                        = module.data_key.key_arn
  log_kms_key_arn                    = module.logs_key.key_arn
  log_retention_days                 = var.log_retention_days
  async_dlq_arn                      = module.async_dlq.arn
  artifact_dir                       = var.lambda_artifact_dir
  package_type                       = var.lambda_package_type
  image_uris                         = local.image_uris
  environment                        = local.pipeline_environment
  tracing                            = var.enable_xray
  vpc_config                         = local.vpc_config
  reserved_concurrency               = lookup(var.reserved_concurrency, "kafka-ingest", -1)
}

# --- Processing ---------------------------------------------------------------------------------

module "processing" {
  source = "./modules/processing"

  name                               = local.name
  raw_bucket                         = module.storage.raw_bucket
  processed_bucket                   = module.storage.processed_bucket
  table_arn                          = module.metadata.table_arn
  kms_key_arn                        = module.data_key.key_arn
  log_kms_key_arn                    = module.logs_key.key_arn
  log_retention_days                 = var.log_retention_days
  async_dlq_arn                      = module.async_dlq.arn
  artifact_dir                       = var.lambda_artifact_dir
  package_type                       = var.lambda_package_type
  image_uris                         = local.image_uris
  environment                        = local.pipeline_environment
  tracing                            = var.enable_xray
  vpc_config                         = local.vpc_config
  reserved_concurrency               = lookup(var.reserved_concurrency, "process", -1)
  maximum_concurrency                = var.process.maximum_concurrency
  batch_size                         = var.process.batch_size
  maximum_batching_window_in_seconds = var.process.maximum_batching_window_in_seconds
  max_receive_count                  = var.process.max_receive_count
  memory_size                        = var.process.memory_size
  timeout                            = var.process.timeout
  abandon_sweep_schedule             = var.abandon_sweep_schedule
}

# --- Analytics ----------------------------------------------------------------------------------

module "analytics" {
  source = "./modules/analytics"

  name                           = local.name
  lake_bucket                    = module.storage.lake_bucket
  lake_prefix                    = var.lake_prefix
  table_name                     = local.table_name
  lake_start_date                = var.lake_start_date
  athena_results_bucket          = module.storage.athena_results_bucket
  bytes_scanned_cutoff_per_query = var.athena_bytes_scanned_cutoff
  views_dir                      = local.views_dir
  queries_dir                    = local.queries_dir
  quicksight_vpc_connection_arn  = try(module.network[0].quicksight_vpc_connection_arn, null)
  kms_key_arn                    = module.data_key.key_arn
  enable_quicksight              = var.enable_quicksight
  quicksight_principal_arn       = var.quicksight_principal_arn
  enable_redshift_spectrum_role  = var.enable_redshift_spectrum_role
  force_destroy                  = var.force_destroy
}

# --- Export and compaction ----------------------------------------------------------------------

module "export" {
  source = "./modules/export"

  name                               = local.name
  stream_arn                         = module.metadata.stream_arn
  table_arn                          = module.metadata.table_arn
  lake_bucket                        = module.storage.lake_bucket
  lake_prefix                        = var.lake_prefix
  lake_table_name                    = local.table_name
  glue_database_name                 = module.analytics.database_name
  parquet_compression                = var.parquet_compression
  kms_key_arn                        = module.data_key.key_arn
  log_kms_key_arn                    = module.logs_key.key_arn
  log_retention_days                 = var.log_retention_days
  async_dlq_arn                      = module.async_dlq.arn
  artifact_dir                       = var.lambda_artifact_dir
  package_type                       = var.lambda_package_type
  image_uris                         = local.image_uris
  environment                        = merge({ RUST_LOG = var.log_level }, local.endpoint_environment)
  tracing                            = var.enable_xray
  vpc_config                         = local.vpc_config
  stream_export_reserved_concurrency = lookup(var.reserved_concurrency, "stream-export", -1)
  stream_export_memory_size          = var.stream_export.memory_size
  stream_export_timeout              = var.stream_export.timeout
  batch_size                         = var.stream_export.batch_size
  maximum_batching_window_in_seconds = var.stream_export.maximum_batching_window_in_seconds
  parallelization_factor             = var.stream_export.parallelization_factor
  maximum_retry_attempts             = var.stream_export.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.stream_export.maximum_record_age_in_seconds
  compact_schedule_expression        = var.compact.schedule_expression
  compact_target_size                = var.compact.target_size
  compact_lookback_hours             = var.compact.lookback_hours
  compact_memory_size                = var.compact.memory_size
  compact_timeout                    = var.compact.timeout
  redrive_enabled                    = var.redrive_enabled
  redrive_schedule                   = var.redrive_schedule
  reconcile_schedule                 = var.reconcile_schedule
  metadata_ttl_days                  = var.metadata_ttl_days
  table_export_prefix                = var.table_export_prefix
  redrive_extra_environment          = local.network_enabled && var.redrive_enabled ? { AWS_ENDPOINT_URL_DYNAMODB_STREAMS = module.network[0].dynamodb_streams_endpoint_url } : {}
}

# --- Cross-region replication (optional) -------------------------------------------------------

module "replication" {
  source = "./modules/replication"
  count  = var.replication.enabled ? 1 : 0

  providers = {
    aws         = aws
    aws.replica = aws.replica
  }

  name                               = local.name
  bucket_suffix                      = "${data.aws_caller_identity.current.account_id}-${coalesce(var.replication.region, var.aws_region)}"
  source_buckets                     = { for b in var.replication.buckets : b => local.replicable_buckets[b] }
  source_kms_key_arn                 = module.data_key.key_arn
  lake_prefix                        = var.lake_prefix
  lake_table_name                    = local.table_name
  raw_retention_days                 = var.raw_image_retention_days
  processed_retention_days           = var.processed_image_retention_days
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  lake_retention_days                = var.lake_retention_days
  quarantine_retention_days          = var.quarantine_retention_days
  access_log_retention_days          = var.access_log_retention_days
  replication_time_control           = var.replication.replication_time_control
  force_destroy                      = var.force_destroy

  # Replication needs versioning on the source buckets first.
  depends_on = [module.storage]
}

# --- Human access (optional) ----------------------------------------------------------------------

module "access" {
  source = "./modules/access"
  count  = var.access.mode == "none" ? 0 : 1

  providers = {
    aws                 = aws
    aws.identity_center = aws.identity_center
  }

  name                         = local.name
  mode                         = var.access.mode
  identity_center_instance_arn = var.access.identity_center_instance_arn
  analyst_group_ids            = var.access.analyst_group_ids
  operator_group_ids           = var.access.operator_group_ids
  session_duration             = var.access.session_duration
  trusted_principal_arns       = var.access.trusted_principal_arns
  saml_provider_arn            = var.access.saml_provider_arn
  athena_workgroup_name        = module.analytics.workgroup_name
  glue_database_name           = module.analytics.database_name
  lake_bucket_arn              = module.storage.lake_bucket.arn
  lake_prefix                  = var.lake_prefix
  lake_table_name              = local.table_name
  table_export_prefix          = var.table_export_prefix
  athena_results_bucket_arn    = module.storage.athena_results_bucket.arn
  image_bucket_arns            = [module.storage.raw_bucket.arn, module.storage.processed_bucket.arn]
  data_key_arn                 = module.data_key.key_arn
  table_arn                    = module.metadata.table_arn
  stream_arn                   = module.metadata.stream_arn
  private_only                 = var.access.private_only
  athena_endpoint_id           = try(module.network[0].athena_endpoint_id, null)
  s3_endpoint_id               = try(module.network[0].s3_endpoint_id, null)

  queue_arns = [
    module.export.failure_queue_arn,
    module.processing.dlq_arn,
    module.kafka_ingest.failure_queue_arn,
    module.async_dlq.arn,
  ]
  move_target_queue_arns = [module.processing.queue_arn]
}

# --- Container images (optional) ----------------------------------------------------------------

module "images" {
  source = "./modules/images"
  count  = var.lambda_package_type == "Image" ? 1 : 0

  name          = local.name
  binaries      = local.lambda_binaries
  image_tag     = var.lambda_image_tag
  kms_key_arn   = module.data_key.key_arn
  force_destroy = var.force_destroy
}

# --- Security and operations --------------------------------------------------------------------

module "audit" {
  source = "./modules/audit"

  name                     = local.name
  bucket_suffix            = local.bucket_suffix
  enable_cloudtrail        = var.enable_cloudtrail
  kms_key_arn              = module.logs_key.key_arn
  access_log_bucket        = module.storage.access_log_bucket.id
  audit_log_retention_days = var.audit_log_retention_days
  log_retention_days       = var.log_retention_days
  enable_guardduty         = var.enable_guardduty
  force_destroy            = var.force_destroy

  data_event_bucket_arns = [
    module.storage.raw_bucket.arn,
    module.storage.processed_bucket.arn,
    module.storage.lake_bucket.arn,
  ]
}

module "monitoring" {
  source = "./modules/monitoring"

  name                        = local.name
  kms_key_arn                 = module.logs_key.key_arn
  alarm_email                 = var.alarm_email
  stream_export_function_name = module.export.stream_export_function_name
  kafka_function_name         = module.kafka_ingest.function_name
  kafka_enabled               = local.kafka_enabled
  process_queue_name          = module.processing.queue_name
  api_id                      = module.ingest_api.api_id
  table_name                  = module.metadata.table_name
  iterator_age_threshold_ms   = var.alarm_thresholds.iterator_age_ms
  kafka_offset_lag_threshold  = var.alarm_thresholds.kafka_offset_lag
  queue_age_threshold_seconds = var.alarm_thresholds.queue_age_seconds

  redrive_queue_name                  = module.export.failure_queue_name
  redrive_queue_age_threshold_seconds = var.redrive_queue_age_alarm_seconds
  reconcile_enabled                   = var.reconcile_schedule != null

  function_names = merge(
    {
      upload          = module.ingest_api.function_name
      "kafka-ingest"  = module.kafka_ingest.function_name
      process         = module.processing.function_name
      "stream-export" = module.export.stream_export_function_name
      compact         = module.export.compact_function_name
    },
    var.redrive_enabled ? { redrive = module.export.redrive_function_name } : {},
    var.reconcile_schedule == null ? {} : { reconcile = module.export.reconcile_function_name },
  )

  # stream-export's on-failure queue is redrive's input: while redrive runs, a message there is
  # routine and only its age alarms (redrive_queue_age); with redrive off, any message does.
  dead_letter_queue_names = merge(
    {
      "process-dlq"           = module.processing.dlq_name
      "kafka-ingest-failures" = module.kafka_ingest.failure_queue_name
      "async-dlq"             = module.async_dlq.name
    },
    var.redrive_enabled ? {} : { "stream-export-failures" = module.export.failure_queue_name },
  )
}

# --- Delivery (optional) ------------------------------------------------------------------------

module "delivery" {
  source = "./modules/delivery"
  count  = var.enable_delivery ? 1 : 0

  name                     = local.name
  bucket_suffix            = local.bucket_suffix
  kms_key_arn              = module.data_key.key_arn
  log_kms_key_arn          = module.logs_key.key_arn
  log_retention_days       = var.log_retention_days
  access_log_bucket        = module.storage.access_log_bucket.id
  connection_provider_type = var.delivery.connection_provider_type
  repository_id            = var.delivery.repository_id
  branch                   = var.delivery.branch
  deploy_role_arn          = var.delivery.deploy_role_arn
  tf_state_bucket          = var.delivery.tf_state_bucket
  tf_state_key             = var.delivery.tf_state_key
  tfvars_file              = var.delivery.tfvars_file
  terraform_version        = var.delivery.terraform_version
  require_approval         = var.delivery.require_approval
  force_destroy            = var.force_destroy
}
