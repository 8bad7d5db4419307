# CodePipeline: source from a CodeStar (CodeConnections) connection -> plan (build the Lambda
# zips with cargo-lambda, terraform plan) -> optional manual approval -> apply (apply the saved
# plan, refresh the Athena views). CodeCommit is closed to new customers, hence the connection.
# The connection is created PENDING: complete the handshake once in the console.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  projects   = ["plan", "apply"]
  state_arn  = "arn:${local.partition}:s3:::${var.tf_state_bucket}"
}

module "artifacts" {
  source = "../bucket"

  name                               = "${var.name}-${var.bucket_suffix}-cicd"
  kms_key_arn                        = var.kms_key_arn
  access_log_bucket                  = var.access_log_bucket
  noncurrent_version_expiration_days = 7
  force_destroy                      = var.force_destroy
  tags                               = var.tags

  expiration_rules = [
    { id = "expire-pipeline-artifacts", prefix = "", days = 30 },
  ]
}

resource "aws_codestarconnections_connection" "source" {
  name          = substr("${var.name}-source", 0, 32)
  provider_type = var.connection_provider_type
  tags          = var.tags
}

resource "aws_cloudwatch_log_group" "build" {
  name              = "/aws/codebuild/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

# --- CodeBuild ------------------------------------------------------------------------------------

data "aws_iam_policy_document" "codebuild_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["codebuild.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "codebuild" {
  name               = "${var.name}-codebuild"
  assume_role_policy = data.aws_iam_policy_document.codebuild_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "codebuild" {
  statement {
    sid       = "BuildLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.build.arn}:*"]
  }

  statement {
    sid       = "PipelineArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${module.artifacts.arn}/*"]
  }

  statement {
    sid       = "PipelineArtifactBucket"
    actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    resources = [module.artifacts.arn]
  }

  statement {
    sid       = "ArtifactKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "StateBucket"
    actions   = ["s3:ListBucket"]
    resources = [local.state_arn]
  }

  statement {
    sid       = "StateObjectAndLock"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.state_arn}/${var.tf_state_key}", "${local.state_arn}/${var.tf_state_key}.tflock"]
  }

  # All changes to the account are made by the deployment role, never by this role.
  statement {
    sid       = "AssumeDeployRole"
    actions   = ["sts:AssumeRole"]
    resources = [var.deploy_role_arn]
  }
}

resource "aws_iam_role_policy" "codebuild" {
  name   = "build-and-deploy"
  role   = aws_iam_role.codebuild.id
  policy = data.aws_iam_policy_document.codebuild.json
}

resource "aws_codebuild_project" "this" {
  for_each = toset(local.projects)

  name           = "${var.name}-${each.key}"
  description    = each.key == "plan" ? "Build the Lambda zips and plan the imglake deployment." : "Apply the approved plan and refresh the Athena views."
  service_role   = aws_iam_role.codebuild.arn
  encryption_key = var.kms_key_arn
  build_timeout  = 90
  tags           = var.tags

  artifacts {
    type = "CODEPIPELINE"
  }

  source {
    type      = "CODEPIPELINE"
    buildspec = file("${path.module}/buildspec/${each.key}.yml")
  }

  environment {
    type                        = "ARM_CONTAINER"
    image                       = "aws/codebuild/amazonlinux-aarch64-standard:3.0"
    compute_type                = var.build_compute_type
    image_pull_credentials_type = "CODEBUILD"
    privileged_mode             = false

    environment_variable {
      name  = "TF_VERSION"
      value = var.terraform_version
    }

    environment_variable {
      name  = "TF_STATE_BUCKET"
      value = var.tf_state_bucket
    }

    environment_variable {
      name  = "TF_STATE_KEY"
      value = var.tf_state_key
    }

    environment_variable {
      name  = "TF_STATE_REGION"
      value = local.region
    }

    environment_variable {
      name  = "TF_VARS_FILE"
      value = var.tfvars_file
    }

    environment_variable {
      name  = "TF_VAR_assume_role_arn"
      value = var.deploy_role_arn
    }
  }

  logs_config {
    cloudwatch_logs {
      status     = "ENABLED"
      group_name = aws_cloudwatch_log_group.build.name
    }

    s3_logs {
      status = "DISABLED"
    }
  }
}

# --- CodePipeline ---------------------------------------------------------------------------------

data "aws_iam_policy_document" "pipeline_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["codepipeline.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "pipeline" {
  name               = "${var.name}-pipeline"
  assume_role_policy = data.aws_iam_policy_document.pipeline_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "pipeline" {
  statement {
    sid       = "UseSourceConnection"
    actions   = ["codestar-connections:UseConnection", "codeconnections:UseConnection"]
    resources = [aws_codestarconnections_connection.source.arn]
  }

  statement {
    sid       = "Artifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:GetBucketVersioning"]
    resources = [module.artifacts.arn, "${module.artifacts.arn}/*"]
  }

  statement {
    sid       = "ArtifactKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "RunBuilds"
    actions   = ["codebuild:StartBuild", "codebuild:BatchGetBuilds"]
    resources = [for p in aws_codebuild_project.this : p.arn]
  }
}

resource "aws_iam_role_policy" "pipeline" {
  name   = "run-pipeline"
  role   = aws_iam_role.pipeline.id
  policy = data.aws_iam_policy_document.pipeline.json
}

resource "aws_codepipeline" "this" {
  name          = var.name
  role_arn      = aws_iam_role.pipeline.arn
  pipeline_type = "V2"
  tags          = var.tags

  artifact_store {
    location = module.artifacts.id
    type     = "S3"

    encryption_key {
      id   = var.kms_key_arn
      type = "KMS"
    }
  }

  stage {
    name = "Source"

    action {
      name             = "Source"
      category         = "Source"
      owner            = "AWS"
      provider         = "CodeStarSourceConnection"
      version          = "1"
      output_artifacts = ["source"]

      configuration = {
        ConnectionArn        = aws_codestarconnections_connection.source.arn
        FullRepositoryId     = var.repository_id
        BranchName           = var.branch
        OutputArtifactFormat = "CODE_ZIP"
        DetectChanges        = "true"
      }
    }
  }

  stage {
    name = "Plan"

    action {
      name             = "BuildAndPlan"
      category         = "Build"
      owner            = "AWS"
      provider         = "CodeBuild"
      version          = "1"
      input_artifacts  = ["source"]
      output_artifacts = ["plan"]

      configuration = {
        ProjectName = aws_codebuild_project.this["plan"].name
      }
    }
  }

  dynamic "stage" {
    for_each = var.require_approval ? [1] : []
    content {
      name = "Approve"

      action {
        name     = "ReviewPlan"
        category = "Approval"
        owner    = "AWS"
        provider = "Manual"
        version  = "1"

        configuration = {
          CustomData = "Review the terraform plan in the BuildAndPlan logs before approving."
        }
      }
    }
  }

  stage {
    name = "Apply"

    action {
      name            = "Apply"
      category        = "Build"
      owner           = "AWS"
      provider        = "CodeBuild"
      version         = "1"
      input_artifacts = ["plan"]

      configuration = {
        ProjectName = aws_codebuild_project.this["apply"].name
      }
    }
  }

  depends_on = [aws_iam_role_policy.pipeline]
}
