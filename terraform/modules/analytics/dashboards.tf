# QuickSight datasets of the dashboards: the custom SQL of sql/queries/<name>.sql, one dataset
# each, next to the change-log dataset in main.tf. The columns are what each query returns, in
# order, with QuickSight's types; tests/python/test_terraform.py runs every query with
# `imglake query` and compares names and types, so a query change that is not mirrored here fails
# the test suite. QuickSight's custom SQL has no default database, so the views the queries read
# are qualified with the Glue database.

locals {
  dashboard_datasets = {
    ingest_overview = {
      title = "Ingest overview"
      columns = [
        { name = "ingest_date", type = "DATETIME" },
        { name = "source", type = "STRING" },
        { name = "images", type = "INTEGER" },
        { name = "processed", type = "INTEGER" },
        { name = "rejected", type = "INTEGER" },
        { name = "failed", type = "INTEGER" },
        { name = "in_flight", type = "INTEGER" },
        { name = "abandoned", type = "INTEGER" },
        { name = "unknown", type = "INTEGER" },
        { name = "deleted", type = "INTEGER" },
        { name = "raw_bytes", type = "INTEGER" },
        { name = "processed_bytes", type = "INTEGER" },
      ]
    }
    latency_trend = {
      title = "Latency trend"
      columns = [
        { name = "processed_date", type = "DATETIME" },
        { name = "source", type = "STRING" },
        { name = "processed_images", type = "INTEGER" },
        { name = "processing_ms_p50", type = "INTEGER" },
        { name = "processing_ms_p90", type = "INTEGER" },
        { name = "processing_ms_p99", type = "INTEGER" },
        { name = "received_to_processed_ms_p50", type = "INTEGER" },
        { name = "received_to_processed_ms_p90", type = "INTEGER" },
        { name = "received_to_processed_ms_p99", type = "INTEGER" },
      ]
    }
    rejection_reasons = {
      title = "Rejection reasons"
      columns = [
        { name = "status", type = "STRING" },
        { name = "error_code", type = "STRING" },
        { name = "images", type = "INTEGER" },
        { name = "share_pct", type = "DECIMAL" },
        { name = "tenants", type = "INTEGER" },
        { name = "example_error_message", type = "STRING" },
        { name = "first_received_at", type = "DATETIME" },
        { name = "last_received_at", type = "DATETIME" },
      ]
    }
    tenant_storage = {
      title = "Tenant storage"
      columns = [
        { name = "tenant", type = "STRING" },
        { name = "processed_images", type = "INTEGER" },
        { name = "raw_bytes", type = "INTEGER" },
        { name = "processed_bytes", type = "INTEGER" },
        { name = "saved_bytes", type = "INTEGER" },
        { name = "processed_to_raw_ratio", type = "DECIMAL" },
      ]
    }
  }

  view_names = [for f in local.view_files : trimsuffix(f, ".sql")]
  # FROM/JOIN <view> -> FROM/JOIN "<database>"."<view>" (RE2; $1/$2 are the captured words).
  view_reference = "/(?i)\\b(FROM|JOIN)\\s+(${join("|", length(local.view_names) > 0 ? local.view_names : ["image_events"])})\\b/"
  dashboard_sql = {
    for name in keys(local.dashboard_datasets) :
    name => replace(file("${var.queries_dir}/${name}.sql"), local.view_reference, "$1 \"${local.database_name}\".\"$2\"")
  }
}

resource "aws_quicksight_data_set" "dashboards" {
  for_each = var.enable_quicksight ? local.dashboard_datasets : {}

  data_set_id = "${var.name}-${replace(each.key, "_", "-")}"
  name        = "${var.name} ${each.value.title}"
  import_mode = var.quicksight_import_mode
  tags        = var.tags

  physical_table_map {
    physical_table_map_id = replace(each.key, "_", "-")

    custom_sql {
      data_source_arn = aws_quicksight_data_source.athena[0].arn
      name            = each.value.title
      sql_query       = local.dashboard_sql[each.key]

      dynamic "columns" {
        for_each = each.value.columns
        content {
          name = columns.value.name
          type = columns.value.type
        }
      }
    }
  }

  permissions {
    principal = var.quicksight_principal_arn
    actions   = local.quicksight_data_set_actions
  }

  lifecycle {
    precondition {
      condition     = fileexists("${var.queries_dir}/${each.key}.sql")
      error_message = "Missing ${var.queries_dir}/${each.key}.sql: the dashboards' datasets are the queries of sql/queries."
    }
  }
}
