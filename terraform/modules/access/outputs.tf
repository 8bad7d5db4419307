output "permission_set_arns" {
  description = "Identity Center permission sets by role (empty in iam_roles mode)."
  value       = { for k, p in aws_ssoadmin_permission_set.this : k => p.arn }
}

output "role_arns" {
  description = "IAM roles by role (empty in identity_center mode)."
  value       = { for k, r in aws_iam_role.this : k => r.arn }
}

output "policy_json" {
  description = "The analyst and operator policies, to attach elsewhere (e.g. a SageMaker execution role for analysts)."
  value       = local.policies
}
