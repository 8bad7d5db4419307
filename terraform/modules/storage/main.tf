# The data buckets (raw, processed, lake, Athena results) and the bucket that receives their
# server access logs.

data "aws_caller_identity" "current" {}

locals {
  quarantine_prefix = "${var.lake_prefix}/_quarantine/"
  table_prefix      = "${var.lake_prefix}/${var.lake_table_name}/"
}

# --- Server access logs -------------------------------------------------------------------------
# S3 server access logging only supports SSE-S3 on the target bucket, and a log bucket cannot log
# to itself, so this one bucket is defined here rather than through modules/bucket.

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_145:S3 server access logging delivers only to buckets encrypted with SSE-S3 (AES256); SSE-KMS is not supported for log target buckets.
  #checkov:skip=CKV_AWS_144:Access logs are operational data with a bounded retention; replicating them to a second region is not required for this single-region deployment.
  #checkov:skip=CKV2_AWS_62:No consumer needs notifications for access-log objects; they are read on demand (Athena/S3 Select) during investigations.
  #checkov:skip=CKV_AWS_18:This is the target of every bucket's server access logs; logging it to itself would loop and logging it elsewhere only moves the question.
  bucket        = "${var.name}-${var.bucket_suffix}-access-logs"
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "S3ServerAccessLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket     = aws_s3_bucket.access_logs.id
  policy     = data.aws_iam_policy_document.access_logs.json
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

# --- Data buckets -------------------------------------------------------------------------------

module "raw" {
  source = "../bucket"

  policy_documents = compact([lookup(var.bucket_policy_documents, "raw", "")])

  name                               = "${var.name}-${var.bucket_suffix}-raw"
  kms_key_arn                        = var.kms_key_arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  force_destroy                      = var.force_destroy
  tags                               = var.tags

  expiration_rules = [
    { id = "expire-raw-images", prefix = "", days = var.raw_image_retention_days },
  ]
}

# Browsers POST presigned uploads straight to the raw bucket (the policy bounds the size).
resource "aws_s3_bucket_cors_configuration" "raw" {
  count  = length(var.upload_cors_origins) > 0 ? 1 : 0
  bucket = module.raw.id

  cors_rule {
    allowed_methods = ["POST"]
    allowed_origins = var.upload_cors_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag", "Location"]
    max_age_seconds = 3000
  }
}

module "processed" {
  source = "../bucket"

  policy_documents = compact([lookup(var.bucket_policy_documents, "processed", "")])

  name                               = "${var.name}-${var.bucket_suffix}-processed"
  kms_key_arn                        = var.kms_key_arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  force_destroy                      = var.force_destroy
  tags                               = var.tags

  expiration_rules = [
    { id = "expire-processed-images", prefix = "", days = var.processed_image_retention_days },
  ]
}

module "lake" {
  source = "../bucket"

  policy_documents = compact([lookup(var.bucket_policy_documents, "lake", "")])

  name              = "${var.name}-${var.bucket_suffix}-lake"
  kms_key_arn       = var.kms_key_arn
  access_log_bucket = aws_s3_bucket.access_logs.id
  # Compaction replaces small files; the replaced versions are kept a week for recovery.
  noncurrent_version_expiration_days = 7
  force_destroy                      = var.force_destroy
  tags                               = var.tags

  # Table exports (reconcile's and those made for a backfill) are working copies of the table:
  # kept table_export_retention_days, outside the lake prefix.
  expiration_rules = concat(
    [
      { id = "expire-quarantine", prefix = local.quarantine_prefix, days = var.quarantine_retention_days },
      { id = "expire-table-exports", prefix = "${var.table_export_prefix}/", days = var.table_export_retention_days },
    ],
    var.lake_retention_days == null ? [] : [
      { id = "expire-lake-files", prefix = local.table_prefix, days = var.lake_retention_days },
    ],
  )
}

module "athena_results" {
  source = "../bucket"

  policy_documents = compact([lookup(var.bucket_policy_documents, "athena_results", "")])

  name                               = "${var.name}-${var.bucket_suffix}-athena"
  kms_key_arn                        = var.kms_key_arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  noncurrent_version_expiration_days = 1
  force_destroy                      = var.force_destroy
  tags                               = var.tags

  expiration_rules = [
    { id = "expire-query-results", prefix = "", days = var.athena_results_retention_days },
  ]
}
