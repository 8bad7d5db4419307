# CloudTrail (management events everywhere, data events on the image and lake buckets), its
# bucket and CloudWatch Logs delivery, and an optional GuardDuty detector.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  trail_name = "${var.name}-trail"
  trail_arn  = "arn:${local.partition}:cloudtrail:${local.region}:${local.account_id}:trail/${local.trail_name}"
  trail_key  = "arn:${local.partition}:s3:::${var.name}-${var.bucket_suffix}-audit/AWSLogs/${local.account_id}/*"
}

data "aws_iam_policy_document" "trail_bucket" {
  statement {
    sid       = "CloudTrailAclCheck"
    actions   = ["s3:GetBucketAcl"]
    resources = ["arn:${local.partition}:s3:::${var.name}-${var.bucket_suffix}-audit"]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }

  statement {
    sid       = "CloudTrailWrite"
    actions   = ["s3:PutObject"]
    resources = [local.trail_key]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "s3:x-amz-acl"
      values   = ["bucket-owner-full-control"]
    }
  }
}

module "bucket" {
  source = "../bucket"
  count  = var.enable_cloudtrail ? 1 : 0

  name                               = "${var.name}-${var.bucket_suffix}-audit"
  kms_key_arn                        = var.kms_key_arn
  access_log_bucket                  = var.access_log_bucket
  noncurrent_version_expiration_days = 30
  policy_documents                   = [data.aws_iam_policy_document.trail_bucket.json]
  force_destroy                      = var.force_destroy
  tags                               = var.tags

  expiration_rules = [
    { id = "expire-trail-files", prefix = "", days = var.audit_log_retention_days },
  ]
}

resource "aws_cloudwatch_log_group" "trail" {
  count             = var.enable_cloudtrail ? 1 : 0
  name              = "/aws/cloudtrail/${local.trail_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "trail_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
}

resource "aws_iam_role" "trail" {
  count              = var.enable_cloudtrail ? 1 : 0
  name               = "${local.trail_name}-logs"
  assume_role_policy = data.aws_iam_policy_document.trail_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "trail_logs" {
  count = var.enable_cloudtrail ? 1 : 0

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.trail[0].arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "trail" {
  count  = var.enable_cloudtrail ? 1 : 0
  name   = "deliver-to-cloudwatch-logs"
  role   = aws_iam_role.trail[0].id
  policy = data.aws_iam_policy_document.trail_logs[0].json
}

resource "aws_cloudtrail" "this" {
  #checkov:skip=CKV_AWS_252:Per-file delivery notifications have no consumer; the trail streams to CloudWatch Logs (cloud_watch_logs_group_arn), which is where metric filters and alarms hook in.
  count                         = var.enable_cloudtrail ? 1 : 0
  name                          = local.trail_name
  s3_bucket_name                = module.bucket[0].id
  kms_key_id                    = var.kms_key_arn
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  cloud_watch_logs_group_arn    = "${aws_cloudwatch_log_group.trail[0].arn}:*"
  cloud_watch_logs_role_arn     = aws_iam_role.trail[0].arn
  tags                          = var.tags

  event_selector {
    read_write_type           = "All"
    include_management_events = true

    data_resource {
      type   = "AWS::S3::Object"
      values = [for arn in var.data_event_bucket_arns : "${arn}/"]
    }
  }

  depends_on = [module.bucket, aws_iam_role_policy.trail]
}

resource "aws_guardduty_detector" "this" {
  #checkov:skip=CKV2_AWS_3:Organisation-wide GuardDuty (delegated administrator, auto-enable for member accounts) belongs to the organisation's security account, not to a workload stack; this optional detector covers standalone accounts only.
  count                        = var.enable_guardduty ? 1 : 0
  enable                       = true
  finding_publishing_frequency = "FIFTEEN_MINUTES"
  tags                         = var.tags
}

resource "aws_guardduty_detector_feature" "this" {
  for_each    = var.enable_guardduty ? toset(["S3_DATA_EVENTS", "LAMBDA_NETWORK_LOGS"]) : toset([])
  detector_id = aws_guardduty_detector.this[0].id
  name        = each.value
  status      = "ENABLED"
}
