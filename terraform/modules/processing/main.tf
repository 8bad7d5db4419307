# S3 ObjectCreated on the raw bucket -> SQS (dead-letter queue after max_receive_count) ->
# `process` Lambda, which reports partial batch failures and runs with bounded concurrency.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  queue_name = "${var.name}-process"
  queue_arn  = "arn:${data.aws_partition.current.partition}:sqs:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:${local.queue_name}"
}

data "aws_iam_policy_document" "queue" {
  statement {
    sid       = "RawBucketNotifications"
    actions   = ["sqs:SendMessage"]
    resources = [local.queue_arn]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [var.raw_bucket.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

module "queue" {
  source = "../queue"

  name                       = local.queue_name
  kms_key_arn                = var.kms_key_arn
  visibility_timeout_seconds = 6 * var.timeout + var.maximum_batching_window_in_seconds
  message_retention_seconds  = 345600
  dead_letter_queue          = true
  max_receive_count          = var.max_receive_count
  attach_policy              = true
  policy_json                = data.aws_iam_policy_document.queue.json
  tags                       = var.tags
}

resource "aws_s3_bucket_notification" "raw" {
  bucket = var.raw_bucket.id

  queue {
    id        = "raw-object-created"
    queue_arn = module.queue.arn
    events    = ["s3:ObjectCreated:*"]
  }

  depends_on = [module.queue]
}

data "aws_iam_policy_document" "process" {
  statement {
    sid       = "ConsumeQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    resources = [module.queue.arn]
  }

  # A raw object is read at the version its S3 event names; a later upload to a key whose
  # image is already final is recorded on the item and its version deleted (upload_replaced).
  statement {
    sid       = "ReadRawImages"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${var.raw_bucket.arn}/*"]
  }

  statement {
    sid       = "RemoveReplacedUploads"
    actions   = ["s3:DeleteObjectVersion"]
    resources = ["${var.raw_bucket.arn}/images/*"]
  }

  # Without ListBucket, a raw object removed before its event is handled answers 403, not 404:
  # retried for every attempt and FAILED as storage_error instead of at once as raw_missing.
  statement {
    sid       = "TellMissingRawImages"
    actions   = ["s3:ListBucket"]
    resources = [var.raw_bucket.arn]
  }

  statement {
    sid       = "WriteVariants"
    actions   = ["s3:PutObject"]
    resources = ["${var.processed_bucket.arn}/*"]
  }

  statement {
    sid       = "UpdateMetadata"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
    resources = [var.table_arn]
  }

  # The scheduled sweep lists RECEIVED items still waiting for their upload.
  statement {
    sid       = "FindAbandonedUploads"
    actions   = ["dynamodb:Scan"]
    resources = [var.table_arn]
  }

  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

module "function" {
  source = "../lambda_function"

  function_name        = "${var.name}-process"
  binary               = "process"
  package_type         = var.package_type
  image_uri            = lookup(var.image_uris, "process", null)
  description          = "Validates raw images, writes variants and analytics features (SQS-wrapped S3 events)."
  artifact_dir         = var.artifact_dir
  memory_size          = var.memory_size
  timeout              = var.timeout
  reserved_concurrency = var.reserved_concurrency
  policy_json          = data.aws_iam_policy_document.process.json
  kms_key_arn          = var.kms_key_arn
  log_kms_key_arn      = var.log_kms_key_arn
  log_retention_days   = var.log_retention_days
  async_dlq_arn        = var.async_dlq_arn
  tracing              = var.tracing
  vpc_config           = var.vpc_config
  tags                 = var.tags

  # Attempts before an image becomes FAILED = deliveries before the message is dead-lettered.
  environment = merge(var.environment, {
    IMGLAKE_MAX_ATTEMPTS = tostring(var.max_receive_count)
  })
}

resource "aws_lambda_event_source_mapping" "queue" {
  event_source_arn                   = module.queue.arn
  function_name                      = module.function.function_arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }

  metrics_config {
    metrics = ["EventCount"]
  }
}

# --- Abandoned uploads ---------------------------------------------------------------------------
# The same function, invoked on a schedule, moves images whose upload form expired unused to
# ABANDONED (upload_expired): without it they would stay RECEIVED, counted as in flight, until
# DynamoDB TTL removes them.

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
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-process-schedule"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeProcess"
    actions   = ["lambda:InvokeFunction"]
    resources = [module.function.function_arn]
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
  name   = "invoke-process-sweep"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "abandon_sweep" {
  name                         = "${var.name}-abandon-sweep"
  description                  = "Moves images whose upload form expired unused to ABANDONED."
  schedule_expression          = var.abandon_sweep_schedule
  schedule_expression_timezone = "UTC"
  state                        = "ENABLED"
  kms_key_arn                  = var.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = module.function.function_arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ source = "imglake.schedule" })

    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 600
    }

    dead_letter_config {
      arn = var.async_dlq_arn
    }
  }
}
