output "replica_buckets" {
  description = "Replica buckets by role (id and arn), in the replica region."
  value       = { for k, b in module.replica : k => { id = b.id, arn = b.arn } }
}

output "replica_region" {
  description = "Region of the replicas."
  value       = local.replica_region
}

output "replica_kms_key_arn" {
  description = "Key encrypting the replicas."
  value       = module.replica_key.key_arn
}

output "role_arn" {
  description = "Role S3 replicates with."
  value       = aws_iam_role.replication.arn
}
