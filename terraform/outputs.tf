output "api_endpoint" {
  description = "Base URL of the upload API (POST/PUT /images, GET and HEAD /images/{id})."
  value       = module.ingest_api.api_endpoint
}

output "raw_bucket" {
  description = "Raw uploads bucket."
  value       = module.storage.raw_bucket.id
}

output "processed_bucket" {
  description = "Processed variants bucket."
  value       = module.storage.processed_bucket.id
}

output "lake_url" {
  description = "The lake, as IMGLAKE_LAKE_URL / `imglake query --lake` take it."
  value       = "s3://${module.storage.lake_bucket.id}/${var.lake_prefix}"
}

output "metadata_table" {
  description = "DynamoDB metadata table."
  value       = module.metadata.table_name
}

output "data_key_arn" {
  description = "The data key (buckets, table, queues, table exports: --s3-sse-kms-key-id)."
  value       = module.data_key.key_arn
}

output "metadata_stream_arn" {
  description = "The table's stream (NEW_AND_OLD_IMAGES)."
  value       = module.metadata.stream_arn
}

output "glue_database" {
  description = "Glue database holding image_events."
  value       = module.analytics.database_name
}

output "athena_workgroup" {
  description = "Athena workgroup to query the lake with."
  value       = module.analytics.workgroup_name
}

output "athena_view_query_ids" {
  description = "Named queries holding the view statements (run once after apply)."
  value       = module.analytics.named_query_ids
}

output "lake_read_policy_arn" {
  description = "Policy to attach to a SageMaker execution role for notebooks/imglake_lake.ipynb."
  value       = module.analytics.lake_read_policy_arn
}

output "redshift_spectrum_role_arn" {
  description = "IAM role for Redshift Spectrum's external schema (null when disabled)."
  value       = module.analytics.redshift_spectrum_role_arn
}

output "quicksight_data_set_arn" {
  description = "QuickSight dataset over image_events (null when disabled)."
  value       = module.analytics.quicksight_data_set_arn
}

output "quicksight_dashboard_data_set_arns" {
  description = "QuickSight datasets of the dashboards (sql/queries), by query name (empty when disabled)."
  value       = module.analytics.quicksight_dashboard_data_set_arns
}

output "function_names" {
  description = "Lambda functions by binary (redrive with redrive_enabled, reconcile with reconcile_schedule)."
  value = merge(
    {
      upload          = module.ingest_api.function_name
      "kafka-ingest"  = module.kafka_ingest.function_name
      process         = module.processing.function_name
      "stream-export" = module.export.stream_export_function_name
      compact         = module.export.compact_function_name
    },
    var.redrive_enabled ? { redrive = module.export.redrive_function_name } : {},
    var.reconcile_schedule == null ? {} : { reconcile = module.export.reconcile_function_name },
  )
}

output "redrive_queue_url" {
  description = "The stream-export on-failure queue: `imglake redrive --queue <url>`."
  value       = module.export.failure_queue_url
}

output "table_export_location" {
  description = "s3:// prefix for DynamoDB table exports (a backfill's exports go under <this>/manual; reconcile's under <this>/reconcile)."
  value       = "s3://${module.storage.lake_bucket.id}/${var.table_export_prefix}"
}

output "image_repository_urls" {
  description = "ECR repository of each binary (lambda_package_type = Image; empty otherwise)."
  value       = try(module.images[0].repository_urls, {})
}

output "kafka_sasl_secret_arn" {
  description = "Secret to fill with the self-managed Kafka SASL credentials (null otherwise)."
  value       = module.kafka_ingest.sasl_secret_arn
}

output "alarm_topic_arn" {
  description = "SNS topic receiving alarms."
  value       = module.monitoring.alarm_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.monitoring.dashboard_name
}

output "delivery_connection_arn" {
  description = "CodeStar connection of the pipeline, to be confirmed in the console (null without delivery)."
  value       = try(module.delivery[0].connection_arn, null)
}

output "delivery_codebuild_role_arn" {
  description = "CodeBuild role of the pipeline; the deployment role must trust it (null without delivery)."
  value       = try(module.delivery[0].codebuild_role_arn, null)
}

output "access_permission_set_arns" {
  description = "Identity Center permission sets (analyst, operator) with access.mode = identity_center."
  value       = try(module.access[0].permission_set_arns, {})
}

output "access_role_arns" {
  description = "IAM roles (analyst, operator) with access.mode = iam_roles."
  value       = try(module.access[0].role_arns, {})
}

output "network" {
  description = "The private network with network.enabled (null otherwise): VPC, the functions' placement, endpoints."
  value = try({
    vpc_id                 = module.network[0].vpc_id
    vpc_config             = module.network[0].vpc_config
    s3_endpoint_id         = module.network[0].s3_endpoint_id
    interface_endpoint_ids = module.network[0].interface_endpoint_ids
  }, null)
}

output "replication" {
  description = "Replica buckets, region and key with replication.enabled (null otherwise)."
  value = try({
    region      = module.replication[0].replica_region
    buckets     = module.replication[0].replica_buckets
    kms_key_arn = module.replication[0].replica_kms_key_arn
  }, null)
}
