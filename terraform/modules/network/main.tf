# Private networking for the functions: private subnets (created, or the organisation's own),
# gateway endpoints for S3 and DynamoDB, the interface endpoints the functions need, each with a
# policy that allows only this deployment's buckets, table, queues, catalog and keys, least-
# privilege security groups, flow logs, and the bucket-policy statements that refuse the
# functions' roles outside the S3 endpoint. No NAT gateway: nothing in these subnets reaches the
# internet.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

# Exactly the zones asked for, so the set never grows when AWS adds a zone.
data "aws_availability_zones" "chosen" {
  state = "available"

  filter {
    name   = "zone-name"
    values = local.zones
  }
}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id
  arn_prefix = "arn:${local.partition}"
  create_vpc = var.vpc_id == null
  # A VPC the module creates holds imglake alone; one given by vpc_id is taken to be shared
  # unless dedicated_vpc says otherwise (see the variable and terraform/README.md).
  dedicated = var.dedicated_vpc == null ? local.create_vpc : var.dedicated_vpc
  zones      = length(var.availability_zones) > 0 ? var.availability_zones : ["${data.aws_region.current.region}a", "${data.aws_region.current.region}b"]

  vpc_id          = local.create_vpc ? aws_vpc.this[0].id : var.vpc_id
  subnet_ids      = local.create_vpc ? aws_subnet.private[*].id : var.private_subnet_ids
  route_table_ids = local.create_vpc ? [aws_route_table.private[0].id] : var.route_table_ids

  role_arn  = "${local.arn_prefix}:iam::${local.account_id}:role/${var.name}"
  upload    = "${local.role_arn}-upload"
  processor = [for b in ["kafka-ingest", "process", "stream-export", "compact", "redrive", "reconcile"] : "${local.role_arn}-${b}"]
  queues    = "${local.arn_prefix}:sqs:${local.region}:${local.account_id}:${var.name}-*"
  functions = "${local.arn_prefix}:lambda:${local.region}:${local.account_id}:function:${var.name}-*"
  glue      = "${local.arn_prefix}:glue:${local.region}:${local.account_id}"
  buckets   = concat(values(var.bucket_arns), var.extra_bucket_arns)

  # Interface endpoints by service, each because a function (or a named client) needs it.
  interface_endpoints = merge(
    { glue = "stream-export and redrive register lake partitions in Glue" },
    # Only redrive calls SQS itself; Lambda's Kafka pollers send to kafka-ingest's on-failure
    # queue by SQS's public name (private DNS, so a dedicated VPC only).
    var.redrive_enabled || (var.kafka_in_vpc && local.dedicated) ? {
      sqs = join(", ", compact([
        var.redrive_enabled ? "redrive reads stream-export's on-failure queue" : "",
        var.kafka_in_vpc && local.dedicated ? "Lambda's Kafka pollers send to kafka-ingest's on-failure queue" : "",
      ]))
    } : {},
    # Lambda's pollers reach these by their public names only (private DNS), which in a shared
    # VPC would take the services over for every workload: there the VPC must provide them.
    var.kafka_in_vpc && local.dedicated ? {
      lambda         = "Lambda's Kafka pollers invoke kafka-ingest"
      sts            = "Lambda's Kafka pollers assume kafka-ingest's role"
      secretsmanager = "Lambda's pollers read the self-managed Kafka SASL secret"
    } : {},
    var.athena_endpoint ? { athena = "analysts and QuickSight reach Athena inside the network" } : {},
    { for s in var.extra_interface_endpoints : s => "requested for clients inside the VPC" },
  )
}

# --- The VPC (only when none is given) -----------------------------------------------------------

resource "aws_vpc" "this" {
  count                = local.create_vpc ? 1 : 0
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

# No rules: nothing may use the default security group.
resource "aws_default_security_group" "this" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
  tags   = merge(var.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_subnet" "private" {
  count                   = local.create_vpc ? length(local.zones) : 0
  vpc_id                  = aws_vpc.this[0].id
  availability_zone       = data.aws_availability_zones.chosen.names[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, count.index)
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.name}-private-${data.aws_availability_zones.chosen.names[count.index]}" })
}

# Local routes and the gateway endpoints only.
resource "aws_route_table" "private" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
  tags   = merge(var.tags, { Name = "${var.name}-private" })
}

resource "aws_route_table_association" "private" {
  count          = local.create_vpc ? length(local.zones) : 0
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[0].id
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/aws/vpc/${var.name}-flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${var.name}-vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "deliver-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

resource "aws_flow_log" "this" {
  vpc_id               = local.create_vpc ? aws_vpc.this[0].id : var.vpc_id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn         = aws_iam_role.flow_logs.arn
  tags                 = var.tags
}

# --- Security groups ----------------------------------------------------------------------------

resource "aws_security_group" "functions" {
  #checkov:skip=CKV2_AWS_5:Attached to every Lambda function through the vpc_config output of this module (modules/lambda_function), which checkov cannot follow across modules.
  name        = "${var.name}-functions"
  description = "imglake Lambda functions: HTTPS to the VPC endpoints only"
  vpc_id      = local.vpc_id
  tags        = var.tags
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name}-endpoints"
  description = "imglake interface endpoints: HTTPS from the functions and the allowed client networks"
  vpc_id      = local.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "functions_to_endpoints" {
  security_group_id            = aws_security_group.functions.id
  description                  = "HTTPS to the interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "functions_to_gateways" {
  for_each = {
    s3       = aws_vpc_endpoint.s3.prefix_list_id
    dynamodb = aws_vpc_endpoint.dynamodb.prefix_list_id
  }
  security_group_id = aws_security_group.functions.id
  description       = "HTTPS to ${each.key} through its gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = each.value
  tags              = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_functions" {
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from the imglake functions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.functions.id
  tags                         = var.tags
}

# Lambda's Kafka pollers run with the event source mapping's security groups (the MSK cluster's,
# or kafka.vpc_security_group_ids for a self-managed cluster), not the functions' group: without
# this rule the lambda, STS, Secrets Manager and SQS endpoints made for them are unreachable.
# Those endpoints are made only in a dedicated VPC (a shared one provides its own), so the rule
# is too. Keyed by position so that group ids known only after apply still plan.
resource "aws_vpc_security_group_ingress_rule" "endpoints_from_kafka_pollers" {
  for_each                     = var.kafka_in_vpc && local.dedicated ? { for i, sg in var.kafka_security_group_ids : tostring(i) => sg } : {}
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from Lambda's Kafka pollers (the event source mapping's security group)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value
  tags                         = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_clients" {
  for_each          = toset(var.client_cidrs)
  security_group_id = aws_security_group.endpoints.id
  description       = "HTTPS from an allowed client network (VPN, Direct Connect, peering)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
  tags              = var.tags
}

# --- Gateway endpoints --------------------------------------------------------------------------

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = local.vpc_id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = local.route_table_ids
  policy            = data.aws_iam_policy_document.endpoint["s3"].json
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}

resource "aws_vpc_endpoint" "dynamodb" {
  vpc_id            = local.vpc_id
  service_name      = "com.amazonaws.${local.region}.dynamodb"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = local.route_table_ids
  policy            = data.aws_iam_policy_document.endpoint["dynamodb"].json
  tags              = merge(var.tags, { Name = "${var.name}-dynamodb" })
}

# --- Interface endpoints ------------------------------------------------------------------------

# Each endpoint's policy: this account's principals, this deployment's resources only.
locals {
  endpoint_statements = {
    s3 = [{
      sid = "ThisDeploymentsBuckets"
      actions = [
        # process reads the event's object version and deletes replaced versions.
        "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
        "s3:AbortMultipartUpload", "s3:ListBucket", "s3:GetBucketLocation", "s3:ListMultipartUploadParts",
      ]
      resources = concat(local.buckets, [for b in local.buckets : "${b}/*"])
    }]
    dynamodb = [
      {
        sid = "ThisDeploymentsTable"
        actions = [
          # Scan: process's abandon sweep.
          "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "dynamodb:Scan",
          "dynamodb:DescribeTable", "dynamodb:ExportTableToPointInTime", "dynamodb:DescribeExport",
        ]
        resources = [var.table_arn, "${var.table_arn}/export/*"]
      },
      # ListExports takes no resource (reconcile finds its exports with it).
      { sid = "ListExports", actions = ["dynamodb:ListExports"], resources = ["*"] },
    ]
    dynamodb_streams = [{
      sid       = "ThisDeploymentsStream"
      actions   = ["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords", "dynamodb:ListStreams"]
      resources = ["${var.table_arn}/stream/*"]
    }]
    glue = [{
      sid = "ThisDeploymentsCatalog"
      actions = [
        "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions",
        "glue:BatchGetPartition", "glue:CreatePartition", "glue:BatchCreatePartition",
      ]
      resources = ["${local.glue}:catalog", "${local.glue}:database/${var.glue_database_name}", "${local.glue}:table/${var.glue_database_name}/*"]
    }]
    sqs = [{
      sid       = "ThisDeploymentsQueues"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"]
      resources = [local.queues]
    }]
    lambda = [{ sid = "ThisDeploymentsFunctions", actions = ["lambda:InvokeFunction"], resources = [local.functions] }]
    sts = [
      { sid = "ThisDeploymentsRoles", actions = ["sts:AssumeRole"], resources = ["${local.role_arn}-*"] },
      # Lambda's Kafka pollers assume kafka-ingest's role as the Lambda service: the caller is the
      # service principal, which has no aws:PrincipalAccount (AWS's documented STS endpoint policy
      # for event source mappings names lambda.amazonaws.com). Only that role; its trust policy
      # still decides who may assume it.
      {
        sid        = "LambdaPollersAssumeKafkaIngest"
        actions    = ["sts:AssumeRole"]
        resources  = ["${local.role_arn}-kafka-ingest"]
        principals = { type = "Service", identifiers = ["lambda.amazonaws.com"] }
      },
    ]
    secretsmanager = [{
      sid       = "ThisDeploymentsSecrets"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = ["${local.arn_prefix}:secretsmanager:${local.region}:${local.account_id}:secret:${var.name}/*"]
    }]
    athena = [
      {
        sid = "ThisDeploymentsWorkgroup"
        actions = [
          "athena:StartQueryExecution", "athena:StopQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
          "athena:GetQueryRuntimeStatistics", "athena:BatchGetQueryExecution", "athena:ListQueryExecutions", "athena:GetWorkGroup",
          "athena:GetNamedQuery", "athena:BatchGetNamedQuery", "athena:ListNamedQueries",
          "athena:GetDataCatalog", "athena:GetDatabase", "athena:ListDatabases", "athena:GetTableMetadata", "athena:ListTableMetadata",
        ]
        resources = [
          "${local.arn_prefix}:athena:${local.region}:${local.account_id}:workgroup/${var.athena_workgroup_name}",
          "${local.arn_prefix}:athena:${local.region}:${local.account_id}:datacatalog/AwsDataCatalog",
        ]
      },
      # Listing workgroups and catalogs (the console, JDBC/ODBC drivers) has no resource.
      { sid = "Listings", actions = ["athena:ListWorkGroups", "athena:ListDataCatalogs", "athena:ListEngineVersions"], resources = ["*"] },
    ]
    kms = [{ sid = "ThisDeploymentsKeys", actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"], resources = var.kms_key_arns }]
    logs = [{
      sid       = "ThisDeploymentsLogGroups"
      actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents"]
      resources = ["${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${var.name}-*"]
    }]
    # CloudWatch metrics and X-Ray have no resource-level permissions.
    monitoring = [{ sid = "Metrics", actions = ["cloudwatch:PutMetricData", "cloudwatch:GetMetricData"], resources = ["*"] }]
    xray       = [{ sid = "Traces", actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"], resources = ["*"] }]
  }
  endpoints = concat(["s3", "dynamodb"], var.redrive_enabled ? ["dynamodb_streams"] : [], keys(local.interface_endpoints))

  # The AWS SDKs' service-specific endpoint variables (AWS_ENDPOINT_URL_<service id>).
  endpoint_env_names = {
    glue       = "AWS_ENDPOINT_URL_GLUE"
    sqs        = "AWS_ENDPOINT_URL_SQS"
    athena     = "AWS_ENDPOINT_URL_ATHENA"
    kms        = "AWS_ENDPOINT_URL_KMS"
    logs       = "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"
    monitoring = "AWS_ENDPOINT_URL_CLOUDWATCH"
    xray       = "AWS_ENDPOINT_URL_XRAY"
  }
}

data "aws_iam_policy_document" "endpoint" {
  for_each = toset(local.endpoints)

  dynamic "statement" {
    for_each = local.endpoint_statements[each.key]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      principals {
        type        = try(statement.value.principals.type, "*")
        identifiers = try(statement.value.principals.identifiers, ["*"])
      }

      # Any principal of this account; a service principal (above) has no account of its own.
      dynamic "condition" {
        for_each = can(statement.value.principals) ? [] : [local.account_id]
        content {
          test     = "StringEquals"
          variable = "aws:PrincipalAccount"
          values   = [condition.value]
        }
      }
    }
  }
}

# Private DNS only in a dedicated VPC: it answers the service's public name (sqs.<region>...)
# with this endpoint for the whole VPC, and these policies admit this deployment's resources
# only, so in a shared VPC every other workload's SQS, Glue, ... calls would be refused. In a
# shared VPC the functions address the endpoints by their own DNS names instead
# (AWS_ENDPOINT_URL_<SERVICE>, the endpoint_environment output, which the AWS SDK reads).
resource "aws_vpc_endpoint" "interface" {
  for_each = local.interface_endpoints

  vpc_id              = local.vpc_id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = local.subnet_ids
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = local.dedicated
  policy              = data.aws_iam_policy_document.endpoint[each.key].json
  tags                = merge(var.tags, { Name = "${var.name}-${each.key}", Purpose = each.value })
}

# DynamoDB Streams has interface endpoints only, and without private DNS: clients address the
# endpoint's own DNS name (redrive gets it as AWS_ENDPOINT_URL_DYNAMODB_STREAMS, which the AWS
# SDK reads). Its service name is looked up rather than assumed. Only redrive reads the stream
# from the subnets (stream-export's reads are Lambda's pollers, outside the VPC): no redrive, no
# endpoint.
data "aws_vpc_endpoint_service" "dynamodb_streams" {
  count        = var.redrive_enabled ? 1 : 0
  service_type = "Interface"

  filter {
    name   = "service-name"
    values = ["com.amazonaws.${local.region}.dynamodb-streams", "com.amazonaws.${local.region}.streams.dynamodb"]
  }
}

resource "aws_vpc_endpoint" "dynamodb_streams" {
  count               = var.redrive_enabled ? 1 : 0
  vpc_id              = local.vpc_id
  service_name        = data.aws_vpc_endpoint_service.dynamodb_streams[0].service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = local.subnet_ids
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = false
  policy              = data.aws_iam_policy_document.endpoint["dynamodb_streams"].json
  tags                = merge(var.tags, { Name = "${var.name}-dynamodb-streams", Purpose = "redrive re-reads failed batches from the stream" })
}

# --- Bucket policies: the functions' roles only through the S3 endpoint -------------------------
# A function's credentials used anywhere but this VPC's S3 endpoint are refused. Exceptions:
# - the upload role outside the VPC may only PutObject on the raw bucket and GetObject on the
#   processed bucket: those are the browsers' presigned POST uploads and presigned variant
#   downloads, signed with that role's credentials and sent from the internet;
# - requests a service makes with the role's credentials on its behalf (aws:ViaAWSService:
#   DynamoDB writing reconcile's table exports, Athena reading for a query) do not pass the VPC.

data "aws_iam_policy_document" "bucket" {
  for_each = var.restrict_buckets_to_vpc ? var.bucket_arns : {}

  statement {
    sid       = "FunctionsOnlyThroughTheVpcEndpoint"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value, "${each.value}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "aws:SourceVpce"
      values   = [aws_vpc_endpoint.s3.id]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = local.processor
    }

    condition {
      test     = "BoolIfExists"
      variable = "aws:ViaAWSService"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = contains(["raw", "processed"], each.key) ? [each.key == "raw" ? "s3:PutObject" : "s3:GetObject"] : []
    content {
      sid         = "UploadRoleOutsideTheVpcOnlyForPresignedBrowserRequests"
      effect      = "Deny"
      not_actions = [statement.value]
      resources   = [each.value, "${each.value}/*"]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      condition {
        test     = "StringNotEqualsIfExists"
        variable = "aws:SourceVpce"
        values   = [aws_vpc_endpoint.s3.id]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:PrincipalArn"
        values   = [local.upload]
      }
    }
  }
}

# --- QuickSight VPC connection (optional) -------------------------------------------------------

resource "aws_security_group" "quicksight" {
  count       = var.quicksight_vpc_connection ? 1 : 0
  name        = "${var.name}-quicksight"
  description = "QuickSight network interfaces: HTTPS to the interface endpoints (Athena)"
  vpc_id      = local.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "quicksight_to_endpoints" {
  count                        = var.quicksight_vpc_connection ? 1 : 0
  security_group_id            = aws_security_group.quicksight[0].id
  description                  = "HTTPS to the interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints.id
  tags                         = var.tags
}

# QuickSight's network interfaces do not track connections: the replies of the endpoints need
# an inbound rule (QuickSight's documented security-group setup).
resource "aws_vpc_security_group_ingress_rule" "quicksight_from_endpoints" {
  #checkov:skip=CKV_AWS_24:The source is the endpoints' security group (referenced_security_group_id), not an address range; no host outside it can reach these ports.
  #checkov:skip=CKV_AWS_25:Same rule: the source is the endpoints' security group only.
  #checkov:skip=CKV_AWS_260:Same rule: the source is the endpoints' security group only.
  count                        = var.quicksight_vpc_connection ? 1 : 0
  security_group_id            = aws_security_group.quicksight[0].id
  description                  = "Replies from the interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 0
  to_port                      = 65535
  referenced_security_group_id = aws_security_group.endpoints.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_quicksight" {
  count                        = var.quicksight_vpc_connection ? 1 : 0
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from QuickSight's network interfaces"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.quicksight[0].id
  tags                         = var.tags
}

data "aws_iam_policy_document" "quicksight_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["quicksight.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "quicksight" {
  count              = var.quicksight_vpc_connection ? 1 : 0
  name               = "${var.name}-quicksight-vpc"
  assume_role_policy = data.aws_iam_policy_document.quicksight_assume.json
  tags               = var.tags
}

# The network interfaces QuickSight creates for the connection; EC2 has no resource-level
# permissions for the Describe calls.
data "aws_iam_policy_document" "quicksight" {
  statement {
    sid       = "ManageConnectionInterfaces"
    actions   = ["ec2:CreateNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute", "ec2:DeleteNetworkInterface"]
    resources = ["${local.arn_prefix}:ec2:${local.region}:${local.account_id}:*"]
  }

  statement {
    sid       = "DescribeNetwork"
    actions   = ["ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "quicksight" {
  count  = var.quicksight_vpc_connection ? 1 : 0
  name   = "vpc-connection"
  role   = aws_iam_role.quicksight[0].id
  policy = data.aws_iam_policy_document.quicksight.json
}

resource "aws_quicksight_vpc_connection" "this" {
  count              = var.quicksight_vpc_connection ? 1 : 0
  vpc_connection_id  = "${var.name}-vpc"
  name               = "${var.name} private network"
  role_arn           = aws_iam_role.quicksight[0].arn
  subnet_ids         = local.subnet_ids
  security_group_ids = [aws_security_group.quicksight[0].id]
  tags               = var.tags

  depends_on = [aws_iam_role_policy.quicksight]
}
