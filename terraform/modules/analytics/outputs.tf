output "database_name" {
  description = "Glue database of the lake."
  value       = aws_glue_catalog_database.this.name
}

output "table_name" {
  description = "Glue table over the lake."
  value       = aws_glue_catalog_table.image_events.name
}

output "table_location" {
  description = "S3 location of the table."
  value       = local.table_location
}

output "workgroup_name" {
  description = "Athena workgroup (encrypted results, bytes-scanned cutoff)."
  value       = aws_athena_workgroup.this.name
}

output "named_query_ids" {
  description = "Named queries holding the view statements, by file name."
  value       = { for k, q in aws_athena_named_query.views : k => q.id }
}

output "lake_read_policy_arn" {
  description = "Managed policy granting read access to the lake (attach to a SageMaker execution role)."
  value       = aws_iam_policy.lake_read.arn
}

output "redshift_spectrum_role_arn" {
  description = "Role for CREATE EXTERNAL SCHEMA ... IAM_ROLE (null when disabled)."
  value       = try(aws_iam_role.spectrum[0].arn, null)
}

output "quicksight_data_set_arn" {
  description = "QuickSight dataset over image_events (null when disabled)."
  value       = try(aws_quicksight_data_set.image_events[0].arn, null)
}

output "quicksight_dashboard_data_set_arns" {
  description = "QuickSight datasets of the dashboards (sql/queries), by query name (empty when disabled)."
  value       = { for k, d in aws_quicksight_data_set.dashboards : k => d.arn }
}
