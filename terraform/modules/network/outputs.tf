output "vpc_id" {
  description = "The VPC of the functions."
  value       = local.vpc_id
}

output "vpc_config" {
  description = "Placement of every function: the private subnets and the functions' security group."
  value       = { subnet_ids = local.subnet_ids, security_group_ids = [aws_security_group.functions.id] }
}

output "s3_endpoint_id" {
  description = "The S3 gateway endpoint (aws:SourceVpce of the functions' S3 requests)."
  value       = aws_vpc_endpoint.s3.id
}

output "interface_endpoint_ids" {
  description = "Interface endpoints by service (glue, sqs, and the optional ones)."
  value       = { for k, e in aws_vpc_endpoint.interface : k => e.id }
}

output "athena_endpoint_id" {
  description = "The Athena interface endpoint (null without athena_endpoint)."
  value       = try(aws_vpc_endpoint.interface["athena"].id, null)
}

output "dynamodb_streams_endpoint_url" {
  description = "HTTPS URL of the DynamoDB Streams interface endpoint (its own DNS name; the service has no private DNS); null without redrive_enabled."
  value       = var.redrive_enabled ? "https://${aws_vpc_endpoint.dynamodb_streams[0].dns_entry[0].dns_name}" : null
}

output "bucket_policy_documents" {
  description = "Bucket-policy statements (JSON) by bucket role that refuse the functions' roles outside the S3 endpoint (empty without restrict_buckets_to_vpc)."
  value       = { for k, d in data.aws_iam_policy_document.bucket : k => d.json }
}

output "quicksight_vpc_connection_arn" {
  description = "QuickSight VPC connection for the Athena data source (null without quicksight_vpc_connection)."
  value       = try(aws_quicksight_vpc_connection.this[0].arn, null)
}

output "endpoint_environment" {
  description = "In a shared VPC (no private DNS): AWS_ENDPOINT_URL_<SERVICE> = the interface endpoint's own HTTPS name, for the functions' environment; empty in a dedicated VPC."
  value = local.dedicated ? {} : {
    for k, e in aws_vpc_endpoint.interface : local.endpoint_env_names[k] => "https://${e.dns_entry[0].dns_name}"
  }
}
