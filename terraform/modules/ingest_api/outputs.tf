output "api_endpoint" {
  description = "Base URL of the upload API."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "function_name" {
  description = "Name of the upload function."
  value       = module.function.function_name
}
