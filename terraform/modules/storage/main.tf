# The data buckets (raw, processed, lake, Athena results) and the bucket that receives their
# server access logs.

locals {
  quarantine_prefix = "${var.lake_prefix}/_quarantine/"
  table_prefix      = "${var.lake_prefix}/${var.lake_table_name}/"
}

# --- Server access logs -------------------------------------------------------------------------

module "access_logs" {
  source = "../log_bucket"

  name           = "${var.name}-${var.bucket_suffix}-access-logs"
  retention_days = var.access_log_retention_days
  force_destroy  = var.force_destroy
  tags           = var.tags
}

moved {
  from = aws_s3_bucket.access_logs
  to   = module.access_logs.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_public_access_block.access_logs
  to   = module.access_logs.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_ownership_controls.access_logs
  to   = module.access_logs.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.access_logs
  to   = module.access_logs.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_versioning.access_logs
  to   = module.access_logs.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.access_logs
  to   = module.access_logs.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.access_logs
  to   = module.access_logs.aws_s3_bucket_policy.this
}

# --- Data buckets -------------------------------------------------------------------------------

module "raw" {
  source = "../bucket"

  policy_documents = compact([lookup(var.bucket_policy_documents, "raw", "")])

  name                               = "${var.name}-${var.bucket_suffix}-raw"
  kms_key_arn                        = var.kms_key_arn
  access_log_bucket                  = module.access_logs.id
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
    expose_headers  = ["ETag", "Location", "Retry-After"] # Retry-After: what serve's upload route also exposes
    max_age_seconds = 3000
  }
}

module "processed" {
  source = "../bucket"

  policy_documents = compact([lookup(var.bucket_policy_documents, "processed", "")])

  name                               = "${var.name}-${var.bucket_suffix}-processed"
  kms_key_arn                        = var.kms_key_arn
  access_log_bucket                  = module.access_logs.id
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
  access_log_bucket = module.access_logs.id
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
  access_log_bucket                  = module.access_logs.id
  noncurrent_version_expiration_days = 1
  force_destroy                      = var.force_destroy
  tags                               = var.tags

  expiration_rules = [
    { id = "expire-query-results", prefix = "", days = var.athena_results_retention_days },
  ]
}
