# `kafka-ingest` Lambda and its event source mapping from an existing MSK cluster (IAM auth) or
# a self-managed Kafka cluster (SASL credentials in Secrets Manager). The mapping runs in
# provisioned mode, which gives Kafka partial batch responses, bisection, bounded retries and an
# on-failure destination.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  msk          = var.kafka_source == "msk"
  self_managed = var.kafka_source == "self_managed"
  ec2_arn      = "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}"
  # MSK IAM resources: arn:...:cluster/<name>/<uuid> -> topic/<name>/<uuid>/<topic>, group/...
  msk_topic_arn = local.msk ? "${replace(var.msk_cluster_arn, ":cluster/", ":topic/")}/${var.topic}" : null
  msk_group_arn = local.msk ? "${replace(var.msk_cluster_arn, ":cluster/", ":group/")}/${var.consumer_group_id}" : null
  needs_enis    = local.msk || (local.self_managed && length(var.vpc_subnet_ids) > 0)
  secret_arn    = local.self_managed ? coalesce(var.sasl_secret_arn, try(aws_secretsmanager_secret.sasl[0].arn, null)) : null
}

# Created empty: put {"username": ..., "password": ...} with `aws secretsmanager put-secret-value`
# so the password never passes through Terraform state.
resource "aws_secretsmanager_secret" "sasl" {
  #checkov:skip=CKV2_AWS_57:SCRAM credentials live in the Kafka cluster's own user store; rotating them needs a cluster-specific rotation function owned by the Kafka operators, who update this secret when they rotate.
  count                   = local.self_managed && var.sasl_secret_arn == null ? 1 : 0
  name                    = "${var.name}/kafka-ingest/sasl"
  description             = "SASL credentials of the imglake kafka-ingest consumer ({\"username\",\"password\"})."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

module "failures" {
  source = "../queue"

  name        = "${var.name}-kafka-ingest-failures"
  kms_key_arn = var.kms_key_arn
  tags        = var.tags
}

data "aws_iam_policy_document" "kafka_ingest" {
  statement {
    sid       = "StoreRawImages"
    actions   = ["s3:PutObject"]
    resources = ["${var.raw_bucket.arn}/*"]
  }

  statement {
    sid       = "ReadClaimChecks"
    actions   = ["s3:GetObject"]
    resources = [for arn in concat([var.raw_bucket.arn], var.claim_check_bucket_arns) : "${arn}/*"]
  }

  # Without ListBucket, S3 answers a GetObject of a missing key with 403 instead of 404, and a
  # claim-check naming a key that does not exist looks like a passing access problem: retried
  # until the mapping gives up, never recorded as REJECTED claim_check_missing.
  statement {
    sid       = "TellMissingClaimChecks"
    actions   = ["s3:ListBucket"]
    resources = concat([var.raw_bucket.arn], var.claim_check_bucket_arns)
  }

  statement {
    sid       = "RecordMetadata"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
    resources = [var.table_arn]
  }

  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "OnFailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [module.failures.arn]
  }

  dynamic "statement" {
    for_each = local.msk ? [1] : []
    content {
      sid       = "DescribeMskCluster"
      actions   = ["kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"]
      resources = [var.msk_cluster_arn]
    }
  }

  dynamic "statement" {
    for_each = local.msk ? [1] : []
    content {
      sid       = "ConnectToMsk"
      actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration"]
      resources = [var.msk_cluster_arn]
    }
  }

  dynamic "statement" {
    for_each = local.msk ? [1] : []
    content {
      sid       = "ReadTopic"
      actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
      resources = [local.msk_topic_arn]
    }
  }

  dynamic "statement" {
    for_each = local.msk ? [1] : []
    content {
      sid       = "UseConsumerGroup"
      actions   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
      resources = [local.msk_group_arn]
    }
  }

  dynamic "statement" {
    for_each = local.self_managed ? [1] : []
    content {
      sid       = "ReadSaslSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [local.secret_arn]
    }
  }

  # Lambda's pollers reach brokers in a VPC through ENIs created with the execution role.
  dynamic "statement" {
    for_each = local.needs_enis ? [1] : []
    content {
      sid     = "CreatePollerEnis"
      actions = ["ec2:CreateNetworkInterface"]
      resources = [
        "${local.ec2_arn}:network-interface/*",
        "${local.ec2_arn}:subnet/*",
        "${local.ec2_arn}:security-group/*",
      ]
    }
  }

  dynamic "statement" {
    for_each = local.needs_enis ? [1] : []
    content {
      sid       = "DeletePollerEnis"
      actions   = ["ec2:DeleteNetworkInterface"]
      resources = ["${local.ec2_arn}:network-interface/*"]
    }
  }

  dynamic "statement" {
    for_each = local.needs_enis ? [1] : []
    content {
      sid       = "DescribeNetwork"
      actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"]
      resources = ["*"]
    }
  }
}

module "function" {
  source = "../lambda_function"

  function_name        = "${var.name}-kafka-ingest"
  binary               = "kafka-ingest"
  package_type         = var.package_type
  image_uri            = lookup(var.image_uris, "kafka-ingest", null)
  description          = "Kafka records (image bytes or S3 claim-checks) -> raw bucket + metadata."
  artifact_dir         = var.artifact_dir
  memory_size          = var.memory_size
  timeout              = var.timeout
  reserved_concurrency = var.reserved_concurrency
  policy_json          = data.aws_iam_policy_document.kafka_ingest.json
  kms_key_arn          = var.kms_key_arn
  log_kms_key_arn      = var.log_kms_key_arn
  log_retention_days   = var.log_retention_days
  async_dlq_arn        = var.async_dlq_arn
  tracing              = var.tracing
  vpc_config           = var.vpc_config
  tags                 = var.tags

  # Bucket names (not ARNs) that claim-checks may name; the raw bucket is always allowed.
  environment = merge(var.environment, {
    IMGLAKE_CLAIM_CHECK_BUCKETS = join(",", [for arn in var.claim_check_bucket_arns : element(split(":::", arn), 1)])
  })
}

resource "aws_lambda_event_source_mapping" "msk" {
  count = local.msk ? 1 : 0

  event_source_arn                   = var.msk_cluster_arn
  function_name                      = module.function.function_arn
  topics                             = [var.topic]
  starting_position                  = var.starting_position
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_in_seconds

  amazon_managed_kafka_event_source_config {
    consumer_group_id = var.consumer_group_id
  }

  provisioned_poller_config {
    minimum_pollers = var.minimum_pollers
    maximum_pollers = var.maximum_pollers
  }

  destination_config {
    on_failure {
      destination_arn = module.failures.arn
    }
  }

  lifecycle {
    precondition {
      condition     = var.msk_cluster_arn != null
      error_message = "kafka_source = msk needs kafka_msk_cluster_arn."
    }
  }
}

resource "aws_lambda_event_source_mapping" "self_managed" {
  count = local.self_managed ? 1 : 0

  function_name                      = module.function.function_arn
  topics                             = [var.topic]
  starting_position                  = var.starting_position
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_in_seconds

  self_managed_event_source {
    endpoints = {
      KAFKA_BOOTSTRAP_SERVERS = join(",", var.bootstrap_servers)
    }
  }

  self_managed_kafka_event_source_config {
    consumer_group_id = var.consumer_group_id
  }

  provisioned_poller_config {
    minimum_pollers = var.minimum_pollers
    maximum_pollers = var.maximum_pollers
  }

  source_access_configuration {
    type = var.sasl_mechanism
    uri  = local.secret_arn
  }

  dynamic "source_access_configuration" {
    for_each = var.vpc_subnet_ids
    content {
      type = "VPC_SUBNET"
      uri  = "subnet:${source_access_configuration.value}"
    }
  }

  dynamic "source_access_configuration" {
    for_each = var.vpc_security_group_ids
    content {
      type = "VPC_SECURITY_GROUP"
      uri  = "security_group:${source_access_configuration.value}"
    }
  }

  destination_config {
    on_failure {
      destination_arn = module.failures.arn
    }
  }

  lifecycle {
    precondition {
      condition     = length(var.bootstrap_servers) > 0
      error_message = "kafka_source = self_managed needs kafka_bootstrap_servers."
    }
  }
}
