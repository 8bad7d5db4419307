output "table_name" {
  description = "Name of the metadata table."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the metadata table."
  value       = aws_dynamodb_table.this.arn
}

output "stream_arn" {
  description = "ARN of the table's stream (NEW_AND_OLD_IMAGES)."
  value       = aws_dynamodb_table.this.stream_arn
}
