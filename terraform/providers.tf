provider "aws" {
  region = var.aws_region

  # The delivery pipeline (and anyone applying from a workstation with a narrower identity)
  # makes every change through this role.
  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "imglake-terraform"
    }
  }

  default_tags {
    tags = merge(
      {
        Project     = "imglake"
        Environment = var.environment
        ManagedBy   = "terraform"
      },
      var.tags,
    )
  }
}

# Where IAM Identity Center is administered (the organisation's management account or its
# delegated administrator) for the access module's permission sets; this account by default.
provider "aws" {
  alias  = "identity_center"
  region = coalesce(var.access.identity_center_region, var.aws_region)

  dynamic "assume_role" {
    for_each = var.access.identity_center_role_arn == null ? [] : [var.access.identity_center_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "imglake-terraform-access"
    }
  }

  default_tags {
    tags = merge({ Project = "imglake", Environment = var.environment, ManagedBy = "terraform" }, var.tags)
  }
}

# The replica region of modules/replication (the deployment's own region while replication is
# off, so the alias always has a region).
provider "aws" {
  alias  = "replica"
  region = coalesce(var.replication.region, var.aws_region)

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "imglake-terraform"
    }
  }

  default_tags {
    tags = merge({ Project = "imglake", Environment = var.environment, ManagedBy = "terraform" }, var.tags)
  }
}
