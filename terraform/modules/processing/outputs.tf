output "function_name" {
  description = "Name of the process function."
  value       = module.function.function_name
}

output "queue_name" {
  description = "Name of the process queue."
  value       = module.queue.name
}

output "dlq_name" {
  description = "Name of the process queue's dead-letter queue."
  value       = module.queue.dlq_name
}

output "dlq_arn" {
  description = "ARN of the process queue's dead-letter queue."
  value       = module.queue.dlq_arn
}

output "queue_url" {
  description = "URL of the process queue."
  value       = module.queue.url
}

output "queue_arn" {
  description = "ARN of the process queue (where operators move dead letters back to)."
  value       = module.queue.arn
}
