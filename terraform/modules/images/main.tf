# One ECR repository per Lambda binary for container-image packaging (package_type = "Image"):
# immutable tags, scan on push, KMS encryption, a lifecycle that keeps the recent images, and a
# repository policy that lets Lambda pull for this deployment's functions only. With image_tag
# set, each function's image is resolved to its digest, so a plan names exactly what runs and
# fails with a clear error when an image has not been pushed.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  function_arns = "arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:function:${var.name}-*"
}

resource "aws_ecr_repository" "this" {
  for_each = toset(var.binaries)

  name                 = "${var.name}/${each.value}"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_destroy
  tags                 = var.tags

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each   = aws_ecr_repository.this
  repository = each.value.name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Remove untagged layers of interrupted pushes after a day."
        selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 1 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the most recent tagged images (rollback targets)."
        selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = var.keep_images }
        action       = { type = "expire" }
      },
    ]
  })
}

data "aws_iam_policy_document" "pull" {
  statement {
    sid     = "LambdaPullsForThisDeployment"
    actions = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.function_arns]
    }
  }
}

resource "aws_ecr_repository_policy" "this" {
  for_each   = aws_ecr_repository.this
  repository = each.value.name
  policy     = data.aws_iam_policy_document.pull.json
}

# Fails the plan with "image not found" when image_tag has not been pushed for a binary.
data "aws_ecr_image" "this" {
  for_each = var.image_tag == null ? toset([]) : toset(var.binaries)

  repository_name = aws_ecr_repository.this[each.value].name
  image_tag       = var.image_tag
}
