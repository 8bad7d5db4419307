variable "name" {
  description = "Name prefix, e.g. imglake-prod; repositories are <name>/<binary>."
  type        = string
}

variable "binaries" {
  description = "Lambda binaries (one repository each), as named by the crates' [[bin]] entries and the targets of docker/Dockerfile."
  type        = list(string)
}

variable "image_tag" {
  description = "Tag pushed for every binary (e.g. the git commit); null before the first push (repositories only)."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "Key encrypting the repositories."
  type        = string
}

variable "keep_images" {
  description = "Tagged images kept per repository (older ones expire)."
  type        = number
  default     = 30
}

variable "force_destroy" {
  description = "Let terraform destroy delete repositories that still hold images."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
