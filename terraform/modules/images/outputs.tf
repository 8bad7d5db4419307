output "repository_urls" {
  description = "Repository URL by binary (push <url>:<tag>)."
  value       = { for b, r in aws_ecr_repository.this : b => r.repository_url }
}

output "image_uris" {
  description = "Image of each binary pinned by digest (<url>@sha256:...); empty until image_tag is set."
  value       = { for b, img in data.aws_ecr_image.this : b => "${aws_ecr_repository.this[b].repository_url}@${img.image_digest}" }
}
