# One Rust Lambda (arm64) with its own role, log group, encrypted environment, async dead-letter
# queue and optional X-Ray tracing and VPC. Packaged as a zip (provided.al2023, handler
# "bootstrap", the default) or as a container image built from docker/Dockerfile (target <binary>) on the
# Lambda provided.al2023 base image and pushed to ECR (package_type = "Image").

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  zip_path = "${var.artifact_dir}/${var.binary}/bootstrap.zip"
  zip      = var.package_type == "Zip"
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.function_name
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

# What every function needs: write its own log group, decrypt its environment, send failed async
# events to the dead-letter queue.
data "aws_iam_policy_document" "runtime" {
  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  # The environment is encrypted with this key, and so is the (SSE-KMS) dead-letter queue.
  statement {
    sid       = "UseEnvironmentAndQueueKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "AsyncDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [var.async_dlq_arn]
  }
}

resource "aws_iam_role_policy" "runtime" {
  name   = "runtime"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.runtime.json
}

resource "aws_iam_role_policy" "access" {
  name   = "access"
  role   = aws_iam_role.this.id
  policy = var.policy_json
}

# X-Ray's PutTraceSegments/PutTelemetryRecords support no resource-level permissions; the AWS
# managed policy grants exactly those (no data access).
resource "aws_iam_role_policy_attachment" "xray" {
  count      = var.tracing ? 1 : 0
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

# ENI management for functions placed in a VPC (AWS managed, no data access).
resource "aws_iam_role_policy_attachment" "vpc" {
  count      = var.vpc_config == null ? 0 : 1
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_272:Zips are built by cargo-lambda in our own pipeline and uploaded by Terraform with a source_code_hash, images are pinned by digest in an immutable-tag ECR repository; AWS Signer code signing needs S3-staged signing jobs that this deployment does not run. Integrity is enforced by the hash or digest and by who may apply.
  function_name                  = var.function_name
  description                    = var.description
  role                           = aws_iam_role.this.arn
  package_type                   = var.package_type
  architectures                  = ["arm64"]
  runtime                        = local.zip ? "provided.al2023" : null
  handler                        = local.zip ? "bootstrap" : null
  filename                       = local.zip ? local.zip_path : null
  source_code_hash               = local.zip && fileexists(local.zip_path) ? filebase64sha256(local.zip_path) : null
  image_uri                      = local.zip ? null : var.image_uri
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn
  tags                           = var.tags

  environment {
    variables = var.environment
  }

  tracing_config {
    mode = var.tracing ? "Active" : "PassThrough"
  }

  dead_letter_config {
    target_arn = var.async_dlq_arn
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  dynamic "vpc_config" {
    for_each = var.vpc_config == null ? [] : [var.vpc_config]
    content {
      subnet_ids         = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  lifecycle {
    precondition {
      condition     = !local.zip || fileexists(local.zip_path)
      error_message = "Missing ${local.zip_path}: build the Lambda zips first with scripts/build-lambdas.sh at the repository root (or set artifact_dir)."
    }

    precondition {
      condition     = local.zip || var.image_uri != null
      error_message = "package_type = Image needs the image of ${var.binary}: build docker/Dockerfile --target ${var.binary} and push it (terraform/README.md, Container images)."
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.runtime,
    # Event source mappings reference this function; Lambda validates the role's access to the
    # source when the mapping is created, so the access policy must exist first.
    aws_iam_role_policy.access,
  ]
}
