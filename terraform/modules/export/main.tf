# DynamoDB Streams -> `stream-export` Lambda -> Parquet lake, with partial batch responses,
# bisection, bounded retries and an on-failure queue so one bad batch never stalls a shard;
# the scheduled `redrive` Lambda that re-exports the batches described in that queue while the
# stream still holds them (24 h); the optional scheduled `reconcile` Lambda that compares the lake
# with full table exports; and the hourly `compact` Lambda. EventBridge Scheduler runs all three.

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

  reconcile_enabled = var.reconcile_schedule != null
  # Full exports that reconcile starts, and the reports it writes next to them.
  reconcile_export_prefix = "${var.table_export_prefix}/reconcile"

  # What stream-export and redrive write: the same objects through the same entry point.
  lake_write_keys = [
    "${var.lake_bucket.arn}/${var.lake_prefix}/${var.lake_table_name}/*",
    "${var.lake_bucket.arn}/${var.lake_prefix}/_quarantine/${var.lake_table_name}/*",
  ]
  glue_table_arns = [
    "${local.glue_prefix}:catalog",
    "${local.glue_prefix}:database/${var.glue_database_name}",
    "${local.glue_prefix}:table/${var.glue_database_name}/${var.lake_table_name}",
  ]
  lake_export_environment = {
    IMGLAKE_LAKE_URL            = local.lake_url
    IMGLAKE_PARQUET_COMPRESSION = var.parquet_compression
    IMGLAKE_GLUE_DATABASE       = var.glue_database_name
    IMGLAKE_GLUE_TABLE          = var.lake_table_name
  }
}

# Records of batches that exhausted their retries or aged out (DDBStreamBatchInfo: shard, first
# and last sequence number, stream ARN). `redrive` receives them; a message stays invisible to
# other receivers for longer than one redrive run may take.
module "failures" {
  source = "../queue"

  name                       = "${var.name}-stream-export-failures"
  kms_key_arn                = var.kms_key_arn
  visibility_timeout_seconds = var.redrive_timeout + 60
  tags                       = var.tags
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
    sid       = "WriteLakeAndQuarantine"
    actions   = ["s3:PutObject"]
    resources = local.lake_write_keys
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
    sid       = "RegisterPartitions"
    actions   = ["glue:GetTable", "glue:GetPartition", "glue:CreatePartition", "glue:BatchCreatePartition"]
    resources = local.glue_table_arns
  }
}

module "stream_export" {
  source = "../lambda_function"

  function_name        = "${var.name}-stream-export"
  binary               = "stream-export"
  package_type         = var.package_type
  image_uri            = lookup(var.image_uris, "stream-export", null)
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

  environment = merge(var.environment, local.lake_export_environment)
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
  package_type         = var.package_type
  image_uri            = lookup(var.image_uris, "compact", null)
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

# --- redrive ------------------------------------------------------------------------------------
# Reads the on-failure queue, re-reads each described batch from the stream (GetShardIterator at
# the first sequence number, GetRecords up to the last) and exports it through the exporter's one
# entry point, deleting a message only after its write succeeded. A message whose records have
# left the stream (24 h) stays in the queue; its age raises the alarm in modules/monitoring, and
# the runbook's backfill covers that window.

data "aws_iam_policy_document" "redrive" {
  statement {
    sid       = "ConsumeFailureQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    resources = [module.failures.arn]
  }

  statement {
    sid       = "RereadStream"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"]
    resources = [var.stream_arn]
  }

  statement {
    sid       = "WriteLakeAndQuarantine"
    actions   = ["s3:PutObject"]
    resources = local.lake_write_keys
  }

  statement {
    sid       = "RegisterPartitions"
    actions   = ["glue:GetTable", "glue:GetPartition", "glue:CreatePartition", "glue:BatchCreatePartition"]
    resources = local.glue_table_arns
  }

  # The queue, the stream and the lake are all encrypted with the data key.
  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

module "redrive" {
  source = "../lambda_function"
  count  = var.redrive_enabled ? 1 : 0

  function_name        = "${var.name}-redrive"
  binary               = "redrive"
  package_type         = var.package_type
  image_uri            = lookup(var.image_uris, "redrive", null)
  description          = "Re-exports stream batches described in the stream-export on-failure queue (within the stream's 24 h)."
  artifact_dir         = var.artifact_dir
  memory_size          = var.redrive_memory_size
  timeout              = var.redrive_timeout
  reserved_concurrency = 1
  policy_json          = data.aws_iam_policy_document.redrive.json
  kms_key_arn          = var.kms_key_arn
  log_kms_key_arn      = var.log_kms_key_arn
  log_retention_days   = var.log_retention_days
  async_dlq_arn        = var.async_dlq_arn
  tracing              = var.tracing
  vpc_config           = var.vpc_config
  tags                 = var.tags

  environment = merge(var.environment, local.lake_export_environment, var.redrive_extra_environment, {
    IMGLAKE_REDRIVE_QUEUE_URL = module.failures.url
    # As the queue's visibility timeout: a message stays hidden while a run may still work on it.
    IMGLAKE_REDRIVE_VISIBILITY_TIMEOUT = tostring(var.redrive_timeout + 60)
    # Messages of other streams (an earlier stream of the table, another table) are left alone.
    IMGLAKE_STREAM_ARN = var.stream_arn
  })
}

# --- reconcile (optional) ---------------------------------------------------------------------
# Each run reconciles the newest full export it started earlier that has COMPLETED (lake state
# as of the export time against every item), writes its report next to that export and emits
# the EMF metric ReconcileDrift, then starts a new full export (ExportTableToPointInTime,
# DYNAMODB_JSON, from PITR) unless one is in progress. Exports live under
# <table_export_prefix>/reconcile/ in the lake bucket, expired by modules/storage's lifecycle.

data "aws_iam_policy_document" "reconcile" {
  count = local.reconcile_enabled ? 1 : 0

  statement {
    sid       = "ExportTable"
    actions   = ["dynamodb:ExportTableToPointInTime"]
    resources = [var.table_arn]
  }

  statement {
    sid       = "DescribeExports"
    actions   = ["dynamodb:DescribeExport"]
    resources = ["${var.table_arn}/export/*"]
  }

  # ListExports has no resource-level permissions (IAM's Service Authorization Reference): it
  # lists the account's exports, metadata only; the function reads the data of none but its own.
  statement {
    sid       = "ListExports"
    actions   = ["dynamodb:ListExports"]
    resources = ["*"]
  }

  # DynamoDB writes the export's files with the caller's permissions.
  statement {
    sid       = "WriteExportsAndReports"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"]
    resources = ["${var.lake_bucket.arn}/${local.reconcile_export_prefix}/*"]
  }

  statement {
    sid       = "ListExportsAndLake"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.reconcile_export_prefix}/*", "${var.lake_prefix}/${var.lake_table_name}/*"]
    }
  }

  statement {
    sid       = "ReadLake"
    actions   = ["s3:GetObject"]
    resources = [local.table_keys]
  }

  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

module "reconcile" {
  source = "../lambda_function"
  count  = local.reconcile_enabled ? 1 : 0

  function_name        = "${var.name}-reconcile"
  binary               = "reconcile"
  package_type         = var.package_type
  image_uri            = lookup(var.image_uris, "reconcile", null)
  description          = "Compares the lake with the newest completed full table export, then starts the next export."
  artifact_dir         = var.artifact_dir
  memory_size          = var.reconcile_memory_size
  timeout              = var.reconcile_timeout
  reserved_concurrency = 1
  policy_json          = data.aws_iam_policy_document.reconcile[0].json
  kms_key_arn          = var.kms_key_arn
  log_kms_key_arn      = var.log_kms_key_arn
  log_retention_days   = var.log_retention_days
  async_dlq_arn        = var.async_dlq_arn
  tracing              = var.tracing
  vpc_config           = var.vpc_config
  tags                 = var.tags

  environment = merge(var.environment, {
    IMGLAKE_LAKE_URL           = local.lake_url
    IMGLAKE_TABLE_ARN          = var.table_arn
    IMGLAKE_EXPORT_BUCKET      = var.lake_bucket.id
    IMGLAKE_EXPORT_PREFIX      = local.reconcile_export_prefix
    IMGLAKE_EXPORT_KMS_KEY_ARN = var.kms_key_arn
    IMGLAKE_METADATA_TTL_DAYS  = tostring(var.metadata_ttl_days)
  })
}

# --- Schedules ----------------------------------------------------------------------------------

locals {
  schedules = merge(
    {
      compact = {
        function_arn = module.compact.function_arn
        expression   = var.compact_schedule_expression
        description  = "Compacts the previous hours' lake partitions."
      }
    },
    var.redrive_enabled ? {
      redrive = {
        function_arn = module.redrive[0].function_arn
        expression   = var.redrive_schedule
        description  = "Re-exports the stream batches described in the stream-export on-failure queue."
      }
    } : {},
    local.reconcile_enabled ? {
      reconcile = {
        function_arn = module.reconcile[0].function_arn
        expression   = var.reconcile_schedule
        description  = "Reconciles the lake with the newest full table export and starts the next one."
      }
    } : {},
  )
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
  name               = "${var.name}-export-schedules"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeScheduledFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = [for s in values(local.schedules) : s.function_arn]
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
  name   = "invoke-scheduled-functions"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "this" {
  for_each = local.schedules

  name                         = "${var.name}-${each.key}"
  description                  = each.value.description
  schedule_expression          = each.value.expression
  schedule_expression_timezone = "UTC"
  state                        = "ENABLED"
  kms_key_arn                  = var.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = each.value.function_arn
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

moved {
  from = aws_scheduler_schedule.compact
  to   = aws_scheduler_schedule.this["compact"]
}
