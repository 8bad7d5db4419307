output "function_name" {
  description = "Name of the kafka-ingest function."
  value       = module.function.function_name
}

output "failure_queue_name" {
  description = "Queue receiving records of Kafka batches that could not be ingested."
  value       = module.failures.name
}

output "failure_queue_arn" {
  description = "ARN of the queue receiving records of Kafka batches that could not be ingested."
  value       = module.failures.arn
}

output "sasl_secret_arn" {
  description = "Secret holding the self-managed Kafka SASL credentials (null otherwise)."
  value       = local.secret_arn
}
