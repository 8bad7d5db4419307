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
