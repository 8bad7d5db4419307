# Glue database and the `image_events` table over the Parquet lake (partition projection for
# Athena, so new hours are queryable without crawlers or MSCK REPAIR), the Athena workgroup, the
# views as named queries, and optional QuickSight, Redshift Spectrum and lake-reader access.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition      = data.aws_partition.current.partition
  account_id     = data.aws_caller_identity.current.account_id
  glue_prefix    = "arn:${local.partition}:glue:${data.aws_region.current.region}:${local.account_id}"
  database_name  = replace(var.name, "-", "_")
  table_location = "s3://${var.lake_bucket.id}/${var.lake_prefix}/${var.table_name}/"
  table_keys     = "${var.lake_bucket.arn}/${var.lake_prefix}/${var.table_name}/*"
  view_files     = try(fileset(var.views_dir, "*.sql"), toset([]))
}

resource "aws_glue_catalog_database" "this" {
  name        = local.database_name
  description = "imglake: image metadata change log (Parquet lake)"
}

resource "aws_glue_catalog_table" "image_events" {
  name          = var.table_name
  database_name = aws_glue_catalog_database.this.name
  description   = "One row per DynamoDB stream record of the image metadata table"
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    "EXTERNAL"                    = "TRUE"
    "classification"              = "parquet"
    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "${var.lake_start_date},NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "projection.hour.type"        = "integer"
    "projection.hour.range"       = "0,23"
    "projection.hour.digits"      = "2"
    "storage.location.template"   = "${local.table_location}dt=$${dt}/hour=$${hour}/"
  }

  dynamic "partition_keys" {
    for_each = local.image_events_partition_keys
    content {
      name    = partition_keys.value.name
      type    = partition_keys.value.type
      comment = partition_keys.value.comment
    }
  }

  storage_descriptor {
    location      = local.table_location
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      name                  = "parquet"
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters = {
        "serialization.format" = "1"
      }
    }

    dynamic "columns" {
      for_each = local.image_events_columns
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }
}

resource "aws_athena_workgroup" "this" {
  name          = var.name
  description   = "imglake analytics: encrypted results, bytes-scanned limit"
  state         = "ENABLED"
  force_destroy = var.force_destroy
  tags          = var.tags

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff_per_query

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location       = "s3://${var.athena_results_bucket.id}/results/"
      expected_bucket_owner = local.account_id

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = var.kms_key_arn
      }

      acl_configuration {
        s3_acl_option = "BUCKET_OWNER_FULL_CONTROL"
      }
    }
  }
}

# sql/athena/views/*.sql, saved in the workgroup; run each once after apply (the README and the
# delivery pipeline do) to create or replace the views.
resource "aws_athena_named_query" "views" {
  for_each = local.view_files

  name        = trimsuffix(each.value, ".sql")
  description = "imglake view from sql/athena/views/${each.value}"
  workgroup   = aws_athena_workgroup.this.id
  database    = aws_glue_catalog_database.this.name
  query       = file("${var.views_dir}/${each.value}")
}

# --- Read access to the lake, for notebooks and other readers ---------------------------------

data "aws_iam_policy_document" "lake_read" {
  statement {
    sid       = "ListTable"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.lake_prefix}/${var.table_name}/*", "${var.lake_prefix}/${var.table_name}"]
    }
  }

  # The bare table key too: pyarrow HEADs the dataset path before listing it, and a 403 there
  # (instead of 404) would stop it.
  statement {
    sid       = "ReadTableFiles"
    actions   = ["s3:GetObject"]
    resources = [local.table_keys, "${var.lake_bucket.arn}/${var.lake_prefix}/${var.table_name}"]
  }

  statement {
    sid       = "DecryptLake"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid     = "ReadCatalog"
    actions = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition"]
    resources = [
      "${local.glue_prefix}:catalog",
      "${local.glue_prefix}:database/${local.database_name}",
      "${local.glue_prefix}:table/${local.database_name}/*",
    ]
  }
}

# Attach to a SageMaker execution role (or any reader) to run notebooks/imglake_lake.ipynb.
resource "aws_iam_policy" "lake_read" {
  name        = "${var.name}-lake-read"
  description = "Read the imglake Parquet lake and its Glue table."
  policy      = data.aws_iam_policy_document.lake_read.json
  tags        = var.tags
}

# --- Redshift Spectrum (optional) ----------------------------------------------------------------

data "aws_iam_policy_document" "redshift_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["redshift.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "spectrum" {
  count              = var.enable_redshift_spectrum_role ? 1 : 0
  name               = "${var.name}-redshift-spectrum"
  description        = "Redshift Spectrum reads the imglake lake (registered partitions; Spectrum ignores projection)."
  assume_role_policy = data.aws_iam_policy_document.redshift_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "spectrum" {
  count      = var.enable_redshift_spectrum_role ? 1 : 0
  role       = aws_iam_role.spectrum[0].name
  policy_arn = aws_iam_policy.lake_read.arn
}

# --- QuickSight (optional) -----------------------------------------------------------------------
# QuickSight's own service role must be allowed to use Athena, the lake bucket, the results
# bucket and the data key (QuickSight console -> Security & permissions); see terraform/README.md.

locals {
  quicksight_types = {
    "string"    = "STRING"
    "int"       = "INTEGER"
    "bigint"    = "INTEGER"
    "double"    = "DECIMAL"
    "boolean"   = "BOOLEAN"
    "timestamp" = "DATETIME"
    "date"      = "DATETIME"
  }
  quicksight_data_set_actions = [
    "quicksight:DescribeDataSet",
    "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet",
    "quicksight:DescribeIngestion",
    "quicksight:ListIngestions",
    "quicksight:UpdateDataSet",
    "quicksight:DeleteDataSet",
    "quicksight:CreateIngestion",
    "quicksight:CancelIngestion",
    "quicksight:UpdateDataSetPermissions",
  ]
  # QuickSight has no array type: array columns stay in Athena/notebooks.
  quicksight_columns = [
    for c in concat(local.image_events_columns, local.image_events_partition_keys) :
    { name = c.name, type = local.quicksight_types[c.type] } if contains(keys(local.quicksight_types), c.type)
  ]
}

resource "aws_quicksight_data_source" "athena" {
  count          = var.enable_quicksight ? 1 : 0
  data_source_id = "${var.name}-athena"
  name           = "${var.name} Athena"
  type           = "ATHENA"
  tags           = var.tags

  parameters {
    athena {
      work_group = aws_athena_workgroup.this.name
    }
  }

  ssl_properties {
    disable_ssl = false
  }

  # With modules/network: QuickSight reaches Athena through the VPC's interface endpoint.
  dynamic "vpc_connection_properties" {
    for_each = var.quicksight_vpc_connection_arn == null ? [] : [var.quicksight_vpc_connection_arn]
    content {
      vpc_connection_arn = vpc_connection_properties.value
    }
  }

  permission {
    principal = var.quicksight_principal_arn
    actions = [
      "quicksight:DescribeDataSource",
      "quicksight:DescribeDataSourcePermissions",
      "quicksight:PassDataSource",
      "quicksight:UpdateDataSource",
      "quicksight:DeleteDataSource",
      "quicksight:UpdateDataSourcePermissions",
    ]
  }

  lifecycle {
    precondition {
      condition     = var.quicksight_principal_arn != null
      error_message = "enable_quicksight needs quicksight_principal_arn (a QuickSight user or group ARN)."
    }
  }
}

resource "aws_quicksight_data_set" "image_events" {
  count       = var.enable_quicksight ? 1 : 0
  data_set_id = "${var.name}-image-events"
  name        = "${var.name} image_events"
  import_mode = var.quicksight_import_mode
  tags        = var.tags

  physical_table_map {
    physical_table_map_id = "image-events"

    relational_table {
      data_source_arn = aws_quicksight_data_source.athena[0].arn
      schema          = aws_glue_catalog_database.this.name
      name            = aws_glue_catalog_table.image_events.name

      dynamic "input_columns" {
        for_each = local.quicksight_columns
        content {
          name = input_columns.value.name
          type = input_columns.value.type
        }
      }
    }
  }

  permissions {
    principal = var.quicksight_principal_arn
    actions   = local.quicksight_data_set_actions
  }
}
