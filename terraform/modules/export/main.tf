# DynamoDB Streams -> `stream-export` Lambda -> Parquet lake, with partial batch responses,
# bisection, bounded retries and an on-failure queue so one bad batch never stalls a shard;
# and the hourly `compact` Lambda run by EventBridge Scheduler.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition   = data.aws_partition.current.partition
  region      = data.aws_region.current.region
  account_id  = data.aws_caller_identity.current.account_id
  lake_url    = "s3://${var.lake_bucket.id}/${var.lake_prefix}"
  table_keys  = "${var.lake_bucket.arn}/${var.lake_prefix}/${var.lake_table_name}/*"
  glue_prefix = "arn:${local.partition}:glue:${local.region}:${local.account_id}"
}

# Records of batches that exhausted their retries or aged out (shard, sequence range, reason).
module "failures" {
  source = "../queue"

  name        = "${var.name}-stream-export-failures"
  kms_key_arn = var.kms_key_arn
  tags        = var.tags
}

# --- stream-export ------------------------------------------------------------------------------

data "aws_iam_policy_document" "stream_export" {
  statement {
    sid       = "ReadStream"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    resources = [var.stream_arn]
  }

  statement {
    sid       = "ListTableStreams"
    actions   = ["dynamodb:ListStreams"]
    resources = ["${var.table_arn}/stream/*"]
  }

  statement {
    sid     = "WriteLakeAndQuarantine"
    actions = ["s3:PutObject"]
    resources = [
      "${var.lake_bucket.arn}/${var.lake_prefix}/${var.lake_table_name}/*",
      "${var.lake_bucket.arn}/${var.lake_prefix}/_quarantine/${var.lake_table_name}/*",
    ]
  }

  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "OnFailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [module.failures.arn]
  }

  # Redshift Spectrum ignores partition projection: the exporter registers new partitions.
  statement {
    sid     = "RegisterPartitions"
    actions = ["glue:GetTable", "glue:GetPartition", "glue:CreatePartition", "glue:BatchCreatePartition"]
    resources = [
      "${local.glue_prefix}:catalog",
      "${local.glue_prefix}:database/${var.glue_database_name}",
      "${local.glue_prefix}:table/${var.glue_database_name}/${var.lake_table_name}",
    ]
  }
}

module "stream_export" {
  source = "../lambda_function"

  function_name        = "${var.name}-stream-export"
  binary               = "stream-export"
  description          = "DynamoDB Streams records of image metadata -> partitioned Parquet lake."
  artifact_dir         = var.artifact_dir
  memory_size          = var.stream_export_memory_size
  timeout              = var.stream_export_timeout
  reserved_concurrency = var.stream_export_reserved_concurrency
  policy_json          = data.aws_iam_policy_document.stream_export.json
  kms_key_arn          = var.kms_key_arn
  log_kms_key_arn      = var.log_kms_key_arn
  log_retention_days   = var.log_retention_days
  async_dlq_arn        = var.async_dlq_arn
  tracing              = var.tracing
  vpc_config           = var.vpc_config
  tags                 = var.tags

  environment = merge(var.environment, {
    IMGLAKE_LAKE_URL            = local.lake_url
    IMGLAKE_PARQUET_COMPRESSION = var.parquet_compression
    IMGLAKE_GLUE_DATABASE       = var.glue_database_name
    IMGLAKE_GLUE_TABLE          = var.lake_table_name
  })
}

resource "aws_lambda_event_source_mapping" "stream" {
  event_source_arn                   = var.stream_arn
  function_name                      = module.stream_export.function_arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  parallelization_factor             = var.parallelization_factor
  function_response_types            = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_in_seconds

  destination_config {
    on_failure {
      destination_arn = module.failures.arn
    }
  }

  metrics_config {
    metrics = ["EventCount"]
  }
}

# --- compact ------------------------------------------------------------------------------------

data "aws_iam_policy_document" "compact" {
  statement {
    sid       = "ListTableFiles"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.lake_prefix}/${var.lake_table_name}/*"]
    }
  }

  # Compaction writes merged files, then deletes the small files they replace.
  statement {
    sid       = "RewriteTableFiles"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [local.table_keys]
  }

  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

module "compact" {
  source = "../lambda_function"

  function_name        = "${var.name}-compact"
  binary               = "compact"
  description          = "Merges the previous hours' small Parquet files and removes duplicate events."
  artifact_dir         = var.artifact_dir
  memory_size          = var.compact_memory_size
  timeout              = var.compact_timeout
  reserved_concurrency = 1
  policy_json          = data.aws_iam_policy_document.compact.json
  kms_key_arn          = var.kms_key_arn
  log_kms_key_arn      = var.log_kms_key_arn
  log_retention_days   = var.log_retention_days
  async_dlq_arn        = var.async_dlq_arn
  tracing              = var.tracing
  vpc_config           = var.vpc_config
  tags                 = var.tags

  environment = merge(var.environment, {
    IMGLAKE_LAKE_URL            = local.lake_url
    IMGLAKE_PARQUET_COMPRESSION = var.parquet_compression
    IMGLAKE_COMPACT_TARGET_SIZE = var.compact_target_size
    IMGLAKE_COMPACT_HOURS       = tostring(var.compact_lookback_hours)
  })
}

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-compact-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeCompact"
    actions   = ["lambda:InvokeFunction"]
    resources = [module.compact.function_arn]
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [var.async_dlq_arn]
  }

  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-compact"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "compact" {
  name                         = "${var.name}-compact"
  description                  = "Compacts the previous hours' lake partitions."
  schedule_expression          = var.compact_schedule_expression
  schedule_expression_timezone = "UTC"
  kms_key_arn                  = var.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = module.compact.function_arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ source = "imglake.schedule" })

    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 3600
    }

    dead_letter_config {
      arn = var.async_dlq_arn
    }
  }
}
