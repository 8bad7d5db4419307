# Human access to the deployment: an analyst (Athena in the workgroup, the lake and its catalog,
# QuickSight sign-in) and an operator (redrive, compaction, reconcile and backfill, alarms,
# dead-letter queues, logs), as IAM Identity Center permission sets assigned to groups, or as
# plain IAM roles for accounts without Identity Center. Neither may read the raw or processed
# images: those stay with the processing functions (an explicit deny, so no other policy a
# person also holds can open them). With private_only, the analyst's Athena calls and lake reads
# must come through the VPC's endpoints.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id
  arn        = "arn:${local.partition}"
  glue       = "${local.arn}:glue:${local.region}:${local.account_id}"
  athena     = "${local.arn}:athena:${local.region}:${local.account_id}"
  functions  = "${local.arn}:lambda:${local.region}:${local.account_id}:function:${var.name}"
  table_keys = "${var.lake_bucket_arn}/${var.lake_prefix}/${var.lake_table_name}"
  quarantine = "${var.lake_bucket_arn}/${var.lake_prefix}/_quarantine/${var.lake_table_name}"
  exports    = "${var.lake_bucket_arn}/${var.table_export_prefix}"
  ic         = var.mode == "identity_center"

  policies = {
    analyst  = data.aws_iam_policy_document.analyst.json
    operator = data.aws_iam_policy_document.operator.json
  }
  descriptions = {
    analyst  = "imglake ${var.name}: Athena queries over the lake, its catalog, QuickSight sign-in; no images"
    operator = "imglake ${var.name}: redrive, compaction, reconcile and backfill, alarms, dead letters, logs; no images"
  }
}

# Both roles: the images are the processing functions' alone.
data "aws_iam_policy_document" "no_images" {
  statement {
    sid       = "ImagesStayWithTheProcessingFunctions"
    effect    = "Deny"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes", "s3:RestoreObject"]
    resources = [for b in var.image_bucket_arns : "${b}/*"]
  }
}

data "aws_iam_policy_document" "query" {
  statement {
    sid = "QueryInTheWorkgroup"
    actions = [
      "athena:StartQueryExecution", "athena:StopQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
      "athena:GetQueryRuntimeStatistics", "athena:BatchGetQueryExecution", "athena:ListQueryExecutions", "athena:GetWorkGroup",
      "athena:GetNamedQuery", "athena:BatchGetNamedQuery", "athena:ListNamedQueries",
    ]
    resources = ["${local.athena}:workgroup/${var.athena_workgroup_name}"]
  }

  statement {
    sid       = "BrowseTheCatalog"
    actions   = ["athena:GetDataCatalog", "athena:GetDatabase", "athena:ListDatabases", "athena:GetTableMetadata", "athena:ListTableMetadata"]
    resources = ["${local.athena}:datacatalog/AwsDataCatalog"]
  }

  # Listing workgroups and catalogs has no resource-level permissions.
  statement {
    sid       = "ListWorkgroups"
    actions   = ["athena:ListWorkGroups", "athena:ListDataCatalogs"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadGlueCatalog"
    actions   = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition"]
    resources = ["${local.glue}:catalog", "${local.glue}:database/${var.glue_database_name}", "${local.glue}:table/${var.glue_database_name}/*"]
  }

  statement {
    sid       = "ListLakeTable"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.lake_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.lake_prefix}/${var.lake_table_name}/*", "${var.lake_prefix}/${var.lake_table_name}"]
    }
  }

  statement {
    sid       = "ReadLakeTable"
    actions   = ["s3:GetObject"]
    resources = ["${local.table_keys}/*", local.table_keys]
  }

  # Athena reads and writes query results with the caller's credentials.
  statement {
    sid       = "QueryResults"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${var.athena_results_bucket_arn}/results/*"]
  }

  statement {
    sid       = "QueryResultsBucket"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.athena_results_bucket_arn]
  }

  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.data_key_arn]
  }
}

data "aws_iam_policy_document" "private_only" {
  count = var.private_only ? 1 : 0

  statement {
    sid       = "AthenaOnlyThroughTheVpcEndpoint"
    effect    = "Deny"
    actions   = ["athena:*"]
    resources = ["*"]

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "aws:SourceVpce"
      values   = [var.athena_endpoint_id]
    }
  }

  # Athena's own reads of the lake (aws:ViaAWSService) do not pass the VPC.
  statement {
    sid       = "LakeOnlyThroughTheVpcEndpoint"
    effect    = "Deny"
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = [var.lake_bucket_arn, "${var.lake_bucket_arn}/*"]

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "aws:SourceVpce"
      values   = [var.s3_endpoint_id]
    }

    condition {
      test     = "BoolIfExists"
      variable = "aws:ViaAWSService"
      values   = ["false"]
    }
  }
}

data "aws_iam_policy_document" "analyst" {
  source_policy_documents = concat(
    [data.aws_iam_policy_document.query.json, data.aws_iam_policy_document.no_images.json],
    [for d in data.aws_iam_policy_document.private_only : d.json],
  )

  # A federated analyst becomes a QuickSight reader under their own session name.
  statement {
    sid       = "QuickSightSignIn"
    actions   = ["quicksight:CreateReader"]
    resources = ["${local.arn}:quicksight::${local.account_id}:user/$${aws:userid}"]
  }
}

data "aws_iam_policy_document" "operator" {
  source_policy_documents = [data.aws_iam_policy_document.query.json, data.aws_iam_policy_document.no_images.json]

  statement {
    sid       = "RunRecoveryFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = ["${local.functions}-redrive", "${local.functions}-compact", "${local.functions}-reconcile"]
  }

  statement {
    sid       = "InspectFunctions"
    actions   = ["lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:ListEventSourceMappings", "lambda:GetEventSourceMapping"]
    resources = ["${local.functions}-*"]
  }

  # Dead letters: look, then move them back (aws sqs start-message-move-task); `imglake redrive`
  # consumes stream-export's on-failure queue.
  statement {
    sid = "DeadLettersAndFailedBatches"
    actions = [
      "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
      "sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks", "sqs:CancelMessageMoveTask", "sqs:SendMessage",
    ]
    resources = var.queue_arns
  }

  # start-message-move-task sends the process DLQ's messages back to the process queue as the
  # caller: SendMessage there, and nothing that would drain it.
  statement {
    sid       = "MoveDeadLettersBack"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
    resources = var.move_target_queue_arns
  }

  statement {
    sid       = "RereadTheStream"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"]
    resources = [var.stream_arn]
  }

  statement {
    sid       = "ExportTheTable"
    actions   = ["dynamodb:ExportTableToPointInTime", "dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups"]
    resources = [var.table_arn]
  }

  statement {
    sid       = "FollowExports"
    actions   = ["dynamodb:DescribeExport"]
    resources = ["${var.table_arn}/export/*"]
  }

  statement {
    sid       = "ListExports"
    actions   = ["dynamodb:ListExports"]
    resources = ["*"]
  }

  # imglake backfill / redrive / compact write the lake; reconcile reads the exports.
  statement {
    sid       = "RepairTheLake"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.table_keys}/*", "${local.quarantine}/*"]
  }

  statement {
    sid       = "TableExports"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${local.exports}/*"]
  }

  statement {
    sid       = "ListLakeAndExports"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.lake_prefix}/*", "${var.table_export_prefix}/*"]
    }
  }

  statement {
    sid       = "RegisterPartitions"
    actions   = ["glue:CreatePartition", "glue:BatchCreatePartition"]
    resources = ["${local.glue}:catalog", "${local.glue}:database/${var.glue_database_name}", "${local.glue}:table/${var.glue_database_name}/${var.lake_table_name}"]
  }

  statement {
    sid       = "AlarmsAndSchedules"
    actions   = ["cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory", "cloudwatch:EnableAlarmActions", "cloudwatch:DisableAlarmActions", "cloudwatch:SetAlarmState"]
    resources = ["${local.arn}:cloudwatch:${local.region}:${local.account_id}:alarm:${var.name}-*"]
  }

  # Metric reads and dashboard lists have no resource-level permissions.
  statement {
    sid       = "ReadMetrics"
    actions   = ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "cloudwatch:ListDashboards"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadDashboard"
    actions   = ["cloudwatch:GetDashboard"]
    resources = ["${local.arn}:cloudwatch::${local.account_id}:dashboard/${var.name}"]
  }

  statement {
    sid       = "ReadSchedules"
    actions   = ["scheduler:GetSchedule"]
    resources = ["${local.arn}:scheduler:${local.region}:${local.account_id}:schedule/default/${var.name}-*"]
  }

  statement {
    sid       = "ReadLogs"
    actions   = ["logs:StartQuery", "logs:GetQueryResults", "logs:FilterLogEvents", "logs:GetLogEvents", "logs:DescribeLogStreams"]
    resources = ["${local.arn}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${var.name}-*"]
  }

}

# --- IAM Identity Center ------------------------------------------------------------------------

data "aws_ssoadmin_instances" "this" {
  count    = local.ic && var.identity_center_instance_arn == null ? 1 : 0
  provider = aws.identity_center
}

locals {
  instance_arn = local.ic ? coalesce(var.identity_center_instance_arn, try(tolist(data.aws_ssoadmin_instances.this[0].arns)[0], null)) : null
  assignments = local.ic ? merge(
    { for g in var.analyst_group_ids : "analyst/${g}" => { role = "analyst", group = g } },
    { for g in var.operator_group_ids : "operator/${g}" => { role = "operator", group = g } },
  ) : {}
}

resource "aws_ssoadmin_permission_set" "this" {
  for_each = local.ic ? local.policies : {}
  provider = aws.identity_center

  name             = substr("${var.name}-${each.key}", 0, 32)
  description      = local.descriptions[each.key]
  instance_arn     = local.instance_arn
  session_duration = var.session_duration
  tags             = var.tags
}

resource "aws_ssoadmin_permission_set_inline_policy" "this" {
  for_each = aws_ssoadmin_permission_set.this
  provider = aws.identity_center

  instance_arn       = local.instance_arn
  permission_set_arn = each.value.arn
  inline_policy      = local.policies[each.key]
}

resource "aws_ssoadmin_account_assignment" "this" {
  for_each = local.assignments
  provider = aws.identity_center

  instance_arn       = local.instance_arn
  permission_set_arn = aws_ssoadmin_permission_set.this[each.value.role].arn
  principal_type     = "GROUP"
  principal_id       = each.value.group
  target_type        = "AWS_ACCOUNT"
  target_id          = local.account_id

  depends_on = [aws_ssoadmin_permission_set_inline_policy.this]
}

# --- Plain IAM roles ------------------------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  dynamic "statement" {
    for_each = length(var.trusted_principal_arns) > 0 ? [1] : []
    content {
      sid     = "TrustedPrincipalsWithMfa"
      actions = ["sts:AssumeRole", "sts:SetSourceIdentity"]

      principals {
        type        = "AWS"
        identifiers = var.trusted_principal_arns
      }

      condition {
        test     = "Bool"
        variable = "aws:MultiFactorAuthPresent"
        values   = ["true"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.saml_provider_arn == null ? [] : [var.saml_provider_arn]
    content {
      sid     = "SamlFederation"
      actions = ["sts:AssumeRoleWithSAML"]

      principals {
        type        = "Federated"
        identifiers = [statement.value]
      }

      condition {
        test     = "StringEquals"
        variable = "SAML:aud"
        values   = ["https://signin.aws.amazon.com/saml"]
      }
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.ic ? {} : local.policies

  name                 = "${var.name}-${each.key}"
  description          = local.descriptions[each.key]
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 28800
  tags                 = var.tags

  lifecycle {
    precondition {
      condition     = length(var.trusted_principal_arns) > 0 || var.saml_provider_arn != null
      error_message = "access.mode = iam_roles needs trusted_principal_arns or saml_provider_arn: someone must be able to assume the roles."
    }
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = aws_iam_role.this

  name   = "imglake-${each.key}"
  role   = each.value.id
  policy = local.policies[each.key]
}
