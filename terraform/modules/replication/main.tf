# Cross-region replication of the lake, raw and processed buckets: replica buckets in another
# region (through modules/bucket: SSE-KMS with a key of that region, versioning, TLS only, access
# logs to a log bucket of that region), their lifecycle (raw and processed images expire after
# the same 7 days as the source, since S3 does not replicate lifecycle deletions), and the role
# S3 replicates with. Deletes (delete markers) replicate too, so each replica mirrors its source:
# the lake's compaction and expiries reach it. From the lake bucket only the lake prefix (the
# table and its quarantine) is replicated, not table exports.

data "aws_region" "source" {}
data "aws_caller_identity" "current" {}

data "aws_region" "replica" {
  provider = aws.replica
}

locals {
  source_region  = data.aws_region.source.region
  replica_region = data.aws_region.replica.region
  lake_retention = var.lake_retention_days == null ? [] : [
    { id = "expire-lake-files", prefix = "${var.lake_prefix}/${var.lake_table_name}/", days = var.lake_retention_days },
  ]
  expiration_rules = {
    raw       = [{ id = "expire-raw-images", prefix = "", days = var.raw_retention_days }]
    processed = [{ id = "expire-processed-images", prefix = "", days = var.processed_retention_days }]
    lake = concat(
      [{ id = "expire-quarantine", prefix = "${var.lake_prefix}/_quarantine/", days = var.quarantine_retention_days }],
      local.lake_retention,
    )
  }
}

module "replica_key" {
  source    = "../kms"
  providers = { aws = aws.replica }

  alias       = "${var.name}-replica"
  description = "imglake ${var.name}: replicas of the lake and images in ${local.replica_region}"
  tags        = var.tags
}

module "replica_access_logs" {
  source    = "../log_bucket"
  providers = { aws = aws.replica }

  name           = "${var.name}-${var.bucket_suffix}-access-logs"
  retention_days = var.access_log_retention_days
  force_destroy  = var.force_destroy
  tags           = var.tags
}

module "replica" {
  source    = "../bucket"
  for_each  = var.source_buckets
  providers = { aws = aws.replica }

  name                               = "${var.name}-${var.bucket_suffix}-${each.key}"
  kms_key_arn                        = module.replica_key.key_arn
  access_log_bucket                  = module.replica_access_logs.id
  noncurrent_version_expiration_days = each.key == "lake" ? 7 : var.noncurrent_version_expiration_days
  expiration_rules                   = local.expiration_rules[each.key]
  force_destroy                      = var.force_destroy
  tags                               = var.tags
}

# --- The role S3 replicates with ------------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }

    # Only S3 acting for this account's buckets (confused-deputy guard).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "replication" {
  name               = "${var.name}-replication"
  description        = "S3 replicates the imglake buckets to ${local.replica_region} with this role."
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "replication" {
  statement {
    sid       = "ReadReplicationConfiguration"
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [for b in values(var.source_buckets) : b.arn]
  }

  statement {
    sid       = "ReadSourceVersions"
    actions   = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]
    resources = [for b in values(var.source_buckets) : "${b.arn}/*"]
  }

  statement {
    sid       = "WriteReplicas"
    actions   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    resources = [for b in values(module.replica) : "${b.arn}/*"]
  }

  statement {
    sid       = "DecryptSource"
    actions   = ["kms:Decrypt"]
    resources = [var.source_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.source_region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "EncryptReplicas"
    actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
    resources = [module.replica_key.key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.replica_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "replication" {
  name   = "replicate"
  role   = aws_iam_role.replication.id
  policy = data.aws_iam_policy_document.replication.json
}

resource "aws_s3_bucket_replication_configuration" "this" {
  for_each = var.source_buckets

  role   = aws_iam_role.replication.arn
  bucket = each.value.id

  rule {
    id     = "to-${local.replica_region}"
    status = "Enabled"

    filter {
      prefix = each.key == "lake" ? "${var.lake_prefix}/" : ""
    }

    delete_marker_replication {
      status = "Enabled"
    }

    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }

    destination {
      bucket        = module.replica[each.key].arn
      storage_class = "STANDARD"

      encryption_configuration {
        replica_kms_key_id = module.replica_key.key_arn
      }

      dynamic "replication_time" {
        for_each = var.replication_time_control ? [1] : []
        content {
          status = "Enabled"

          time {
            minutes = 15
          }
        }
      }

      dynamic "metrics" {
        for_each = var.replication_time_control ? [1] : []
        content {
          status = "Enabled"

          event_threshold {
            minutes = 15
          }
        }
      }
    }
  }

  # The destination must be versioned first (modules/bucket's aws_s3_bucket_versioning): S3
  # refuses the configuration otherwise, so a first apply would fail.
  depends_on = [aws_iam_role_policy.replication, module.replica]
}
