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

  statement {
    sid       = "ReadRawImages"
    actions   = ["s3:GetObject"]
    resources = ["${var.raw_bucket.arn}/*"]
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
