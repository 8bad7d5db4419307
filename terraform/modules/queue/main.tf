# An SQS queue encrypted with a customer-managed key, optionally with a dead-letter queue that
# only this queue may redrive into.

resource "aws_sqs_queue" "dlq" {
  count                     = var.dead_letter_queue ? 1 : 0
  name                      = "${var.name}-dlq"
  kms_master_key_id         = var.kms_key_arn
  message_retention_seconds = 1209600
  tags                      = var.tags
}

resource "aws_sqs_queue" "this" {
  name                       = var.name
  kms_master_key_id          = var.kms_key_arn
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  tags                       = var.tags

  redrive_policy = var.dead_letter_queue ? jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[0].arn
    maxReceiveCount     = var.max_receive_count
  }) : null
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  count     = var.dead_letter_queue ? 1 : 0
  queue_url = aws_sqs_queue.dlq[0].id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this.arn]
  })
}

resource "aws_sqs_queue_policy" "this" {
  count     = var.attach_policy ? 1 : 0
  queue_url = aws_sqs_queue.this.id
  policy    = var.policy_json
}
