output "trail_arn" {
  description = "ARN of the trail (null when disabled)."
  value       = try(aws_cloudtrail.this[0].arn, null)
}

output "audit_bucket" {
  description = "Bucket holding trail files (null when disabled)."
  value       = try(module.bucket[0].id, null)
}

output "guardduty_detector_id" {
  description = "GuardDuty detector (null when disabled)."
  value       = try(aws_guardduty_detector.this[0].id, null)
}
