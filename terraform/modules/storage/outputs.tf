output "raw_bucket" {
  description = "Raw uploads bucket (id and arn)."
  value       = { id = module.raw.id, arn = module.raw.arn }
}

output "processed_bucket" {
  description = "Processed variants bucket (id and arn)."
  value       = { id = module.processed.id, arn = module.processed.arn }
}

output "lake_bucket" {
  description = "Lake bucket (id and arn)."
  value       = { id = module.lake.id, arn = module.lake.arn }
}

output "athena_results_bucket" {
  description = "Athena query results bucket (id and arn)."
  value       = { id = module.athena_results.id, arn = module.athena_results.arn }
}

output "access_log_bucket" {
  description = "Bucket receiving S3 server access logs (id and arn)."
  value       = { id = module.access_logs.id, arn = module.access_logs.arn }
}
