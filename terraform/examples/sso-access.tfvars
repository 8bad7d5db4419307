# The SSO recipe (terraform/README.md): analyst and operator permission sets in IAM Identity
# Center (administered in the management account through identity_center_role_arn), assigned to
# two groups; analysts confined to the VPC endpoints (needs the private network).
#   terraform plan -var-file=terraform.tfvars -var-file=examples/private-network.tfvars -var-file=examples/sso-access.tfvars
access = {
  mode                     = "identity_center"
  identity_center_role_arn = "arn:aws:iam::111111111111:role/identity-center-admin"
  identity_center_region   = "eu-west-1"
  analyst_group_ids        = ["9067a1b2c3-11111111-2222-3333-4444-555555555555"]
  operator_group_ids       = ["9067a1b2c3-66666666-7777-8888-9999-000000000000"]
  private_only             = true
}
