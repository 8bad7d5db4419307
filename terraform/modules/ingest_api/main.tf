# HTTP API -> `upload` Lambda. Every route requires a JWT (or IAM) authorizer; the stage is
# throttled (POST /images, which issues upload forms and records an image for each, more tightly)
# and writes JSON access logs to an encrypted log group.

locals {
  routes = {
    create_upload = "POST /images"
    direct_upload = "PUT /images"
    get_image     = "GET /images/{id}"
    head_image    = "HEAD /images/{id}"
  }
}

data "aws_iam_policy_document" "upload" {
  statement {
    sid       = "StoreRawUploads"
    actions   = ["s3:PutObject"]
    resources = ["${var.raw_bucket.arn}/*"]
  }

  # Presigned GETs for a finished image's variants are signed with this role.
  statement {
    sid       = "PresignVariantDownloads"
    actions   = ["s3:GetObject"]
    resources = ["${var.processed_bucket.arn}/*"]
  }

  statement {
    sid       = "RecordMetadata"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
    resources = [var.table_arn]
  }

  # Direct writes and presigned POSTs use SSE-KMS with the data key.
  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

module "function" {
  source = "../lambda_function"

  function_name        = "${var.name}-upload"
  binary               = "upload"
  package_type         = var.package_type
  image_uri            = lookup(var.image_uris, "upload", null)
  description          = "Upload API: presigned POSTs, direct small uploads, image status."
  artifact_dir         = var.artifact_dir
  memory_size          = var.memory_size
  timeout              = var.timeout
  reserved_concurrency = var.reserved_concurrency
  environment          = var.environment
  policy_json          = data.aws_iam_policy_document.upload.json
  kms_key_arn          = var.kms_key_arn
  log_kms_key_arn      = var.log_kms_key_arn
  log_retention_days   = var.log_retention_days
  async_dlq_arn        = var.async_dlq_arn
  tracing              = var.tracing
  vpc_config           = var.vpc_config
  tags                 = var.tags
}

resource "aws_apigatewayv2_api" "this" {
  name          = "${var.name}-api"
  protocol_type = "HTTP"
  description   = "imglake upload API"
  tags          = var.tags

  dynamic "cors_configuration" {
    for_each = length(var.cors_allow_origins) > 0 ? [1] : []
    content {
      allow_origins = var.cors_allow_origins
      # As `imglake serve` answers (src/console/cors.rs): HEAD too, and the page may read the
      # Location of a created image and the Retry-After of a 503.
      allow_methods  = ["GET", "HEAD", "POST", "PUT"]
      allow_headers  = ["authorization", "content-type", "idempotency-key", "x-imglake-tenant"]
      expose_headers = ["location", "retry-after"]
      max_age        = 3600
    }
  }
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count            = var.auth_type == "JWT" ? 1 : 0
  api_id           = aws_apigatewayv2_api.this.id
  name             = "jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = var.jwt_audience
  }

  lifecycle {
    precondition {
      condition     = var.jwt_issuer != null && length(var.jwt_audience) > 0
      error_message = "auth_type = JWT needs api_jwt_issuer and api_jwt_audience (or choose AWS_IAM)."
    }
  }
}

resource "aws_apigatewayv2_integration" "upload" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_uri        = module.function.invoke_arn
  payload_format_version = var.payload_format_version
  timeout_milliseconds   = min(30000, (var.timeout + 1) * 1000)
}

resource "aws_apigatewayv2_route" "this" {
  for_each = local.routes

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.upload.id}"
  authorization_type = var.auth_type
  authorizer_id      = var.auth_type == "JWT" ? aws_apigatewayv2_authorizer.jwt[0].id : null
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name}-api"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_apigatewayv2_stage" "default" {
  # route_settings names a route that must exist first.
  depends_on = [aws_apigatewayv2_route.this]

  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true
  tags        = var.tags

  default_route_settings {
    throttling_burst_limit   = var.throttling_burst_limit
    throttling_rate_limit    = var.throttling_rate_limit
    detailed_metrics_enabled = true
  }

  # Each form records a RECEIVED image: a flood of unused forms is metadata and lake rows until
  # the process function's sweep abandons them. HTTP APIs throttle a route for all clients
  # together (they have no usage plans and take no WAF web ACL), so this bounds the total.
  route_settings {
    route_key                = local.routes.create_upload
    throttling_burst_limit   = var.form_throttling_burst_limit
    throttling_rate_limit    = var.form_throttling_rate_limit
    detailed_metrics_enabled = true
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      ip                 = "$context.identity.sourceIp"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
      principal          = "$context.authorizer.claims.sub"
    })
  }
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = module.function.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}
