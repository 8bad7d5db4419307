output "connection_arn" {
  description = "CodeStar connection; complete its handshake in the console (Developer Tools -> Connections) before the first run."
  value       = aws_codestarconnections_connection.source.arn
}

output "pipeline_name" {
  description = "Name of the pipeline."
  value       = aws_codepipeline.this.name
}

output "codebuild_role_arn" {
  description = "CodeBuild's role; the deployment role must trust it (sts:AssumeRole)."
  value       = aws_iam_role.codebuild.arn
}
