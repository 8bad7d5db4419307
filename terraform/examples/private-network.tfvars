# The private-network recipe (terraform/README.md): functions in private subnets of a new VPC with
# no route to the internet, the endpoints they need, bucket policies that refuse the functions'
# roles outside the S3 endpoint, and Athena and QuickSight kept inside.
#   terraform plan -var-file=terraform.tfvars -var-file=examples/private-network.tfvars
network = {
  enabled                   = true
  availability_zones        = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  athena_endpoint           = true
  quicksight_vpc_connection = true
  client_cidrs              = ["10.0.0.0/8"]
}

enable_quicksight        = true
quicksight_principal_arn = "arn:aws:quicksight:eu-west-1:111122223333:group/default/analysts"
