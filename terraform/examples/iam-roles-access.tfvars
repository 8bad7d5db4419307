# Analyst and operator roles for an account without IAM Identity Center: assumable with MFA by
# the named principals, or through the organisation's SAML provider.
access = {
  mode                   = "iam_roles"
  trusted_principal_arns = ["arn:aws:iam::111122223333:root"]
  saml_provider_arn      = "arn:aws:iam::111122223333:saml-provider/corporate-idp"
}
