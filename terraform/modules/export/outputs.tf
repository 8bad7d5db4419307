output "stream_export_function_name" {
  description = "Name of the stream-export function."
  value       = module.stream_export.function_name
}

output "compact_function_name" {
  description = "Name of the compact function."
  value       = module.compact.function_name
}

output "stream_export_role_arn" {
  description = "Execution role of stream-export."
  value       = module.stream_export.role_arn
}

output "failure_queue_name" {
  description = "Queue receiving records of stream batches that could not be exported."
  value       = module.failures.name
}

output "event_source_mapping_uuid" {
  description = "UUID of the DynamoDB stream event source mapping."
  value       = aws_lambda_event_source_mapping.stream.uuid
}

output "failure_queue_arn" {
  description = "ARN of the on-failure queue."
  value       = module.failures.arn
}

output "failure_queue_url" {
  description = "URL of the on-failure queue (IMGLAKE_REDRIVE_QUEUE_URL; `imglake redrive --queue`)."
  value       = module.failures.url
}

output "redrive_function_name" {
  description = "Name of the redrive function (null with redrive_enabled = false)."
  value       = try(module.redrive[0].function_name, null)
}

output "reconcile_function_name" {
  description = "Name of the reconcile function (null without reconcile_schedule)."
  value       = try(module.reconcile[0].function_name, null)
}

output "reconcile_export_location" {
  description = "Where reconcile's full exports and reports go: s3://<lake bucket>/<table_export_prefix>/reconcile/AWSDynamoDB/<export id>/ (null without reconcile)."
  value       = local.reconcile_enabled ? "s3://${var.lake_bucket.id}/${local.reconcile_export_prefix}" : null
}
