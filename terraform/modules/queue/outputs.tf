output "arn" {
  description = "Queue ARN."
  value       = aws_sqs_queue.this.arn
}

output "url" {
  description = "Queue URL."
  value       = aws_sqs_queue.this.id
}

output "name" {
  description = "Queue name."
  value       = aws_sqs_queue.this.name
}

output "dlq_arn" {
  description = "Dead-letter queue ARN (null without one)."
  value       = var.dead_letter_queue ? aws_sqs_queue.dlq[0].arn : null
}

output "dlq_name" {
  description = "Dead-letter queue name (null without one)."
  value       = var.dead_letter_queue ? aws_sqs_queue.dlq[0].name : null
}
