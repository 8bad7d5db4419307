# Alarms (errors, throttles, stream iterator age, Kafka offset lag, dead-letter depth, queue age,
# failed stream batches waiting for redrive, reconcile drift, replaced raw images, API 5xx) to an
# encrypted SNS topic, and one dashboard for the whole pipeline.

data "aws_region" "current" {}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  actions = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  for_each = var.function_names

  alarm_name          = "${each.value}-errors"
  alarm_description   = "${each.key} returned errors (a whole invocation failed, not a reported record)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  for_each = var.function_names

  alarm_name          = "${each.value}-throttles"
  alarm_description   = "${each.key} was throttled: raise its reserved concurrency or lower its event source concurrency."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  alarm_name          = "${var.stream_export_function_name}-iterator-age"
  alarm_description   = "The lake is falling behind the metadata table: stream records wait longer than the threshold (stream retention is 24 h)."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = var.stream_export_function_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.iterator_age_threshold_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "kafka_offset_lag" {
  count = var.kafka_enabled ? 1 : 0

  alarm_name          = "${var.kafka_function_name}-offset-lag"
  alarm_description   = "kafka-ingest is falling behind its topic."
  namespace           = "AWS/Lambda"
  metric_name         = "OffsetLag"
  dimensions          = { FunctionName = var.kafka_function_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 10
  datapoints_to_alarm = 5
  threshold           = var.kafka_offset_lag_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each = var.dead_letter_queue_names

  alarm_name          = "${each.value}-not-empty"
  alarm_description   = "${each.key}: messages landed in a dead-letter / on-failure queue; inspect and redrive (terraform/README.md)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "queue_age" {
  alarm_name          = "${var.process_queue_name}-oldest-message"
  alarm_description   = "Images wait too long for processing."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = var.process_queue_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.queue_age_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# The on-failure queue of stream-export is redrive's input: a message older than the threshold
# is a batch that redrive could not re-export (its records may be about to leave the stream).
resource "aws_cloudwatch_metric_alarm" "redrive_queue_age" {
  alarm_name          = "${var.redrive_queue_name}-oldest-message"
  alarm_description   = "A failed stream batch has waited longer than the threshold: redrive is not re-exporting it (disabled, failing, or the records left the stream). Follow the recovery runbook in terraform/README.md: redrive within 24 h, otherwise backfill from a table export."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = var.redrive_queue_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.redrive_queue_age_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# From the reconcile function's EMF line: images whose lake state differs from the table's.
resource "aws_cloudwatch_metric_alarm" "reconcile_drift" {
  count = var.reconcile_enabled ? 1 : 0

  alarm_name          = "${var.name}-reconcile-drift"
  alarm_description   = "The lake differs from the table's last full export (ReconcileDrift images). The report lies next to the export; repair with imglake backfill from that export (terraform/README.md, recovery runbook)."
  namespace           = "imglake"
  metric_name         = "ReconcileDrift"
  dimensions          = { Function = "reconcile" }
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# From the process function's EMF lines (namespace imglake, dimension Function).
resource "aws_cloudwatch_metric_alarm" "raw_replaced" {
  alarm_name          = "${var.name}-raw-replaced"
  alarm_description   = "A raw image was replaced after it was processed (a presigned form posted again with other content): its item describes the earlier upload. The process function's log names the image."
  namespace           = "imglake"
  metric_name         = "RawReplaced"
  dimensions          = { Function = "process" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${var.name}-api-5xx"
  alarm_description   = "The upload API returns server errors."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5xx"
  dimensions          = { ApiId = var.api_id, Stage = "$default" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 5
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

locals {
  region    = data.aws_region.current.region
  functions = values(var.function_names)

  lambda_widget = { for m in ["Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"] : m => {
    type   = "metric"
    width  = 12
    height = 6
    properties = {
      title   = "Lambda ${m}"
      region  = local.region
      stat    = m == "Duration" ? "p99" : (m == "ConcurrentExecutions" ? "Maximum" : "Sum")
      period  = 300
      metrics = [for f in local.functions : ["AWS/Lambda", m, "FunctionName", f]]
    }
  } }

  dashboard_widgets = concat(
    [for m in ["Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"] : local.lambda_widget[m]],
    [
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = {
          title  = "Stream export iterator age (ms) / Kafka offset lag"
          region = local.region
          stat   = "Maximum"
          period = 60
          metrics = [
            ["AWS/Lambda", "IteratorAge", "FunctionName", var.stream_export_function_name],
            ["AWS/Lambda", "OffsetLag", "FunctionName", var.kafka_function_name, { yAxis = "right" }],
          ]
        }
      },
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = {
          title  = "Queues: waiting and dead letters"
          region = local.region
          stat   = "Maximum"
          period = 300
          metrics = concat(
            [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.process_queue_name]],
            [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.redrive_queue_name]],
            [for q in values(var.dead_letter_queue_names) : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q]],
          )
        }
      },
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = {
          title  = "Recovery: oldest failed stream batch (s) / reconcile drift (images)"
          region = local.region
          stat   = "Maximum"
          period = 300
          metrics = [
            ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.redrive_queue_name],
            ["imglake", "ReconcileDrift", "Function", "reconcile", { yAxis = "right" }],
          ]
        }
      },
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = {
          title  = "Upload API"
          region = local.region
          stat   = "Sum"
          period = 300
          metrics = [
            ["AWS/ApiGateway", "Count", "ApiId", var.api_id, "Stage", "$default"],
            ["AWS/ApiGateway", "4xx", "ApiId", var.api_id, "Stage", "$default"],
            ["AWS/ApiGateway", "5xx", "ApiId", var.api_id, "Stage", "$default"],
          ]
        }
      },
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = {
          title  = "Metadata table"
          region = local.region
          stat   = "Sum"
          period = 300
          metrics = [
            ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", var.table_name],
            ["AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", var.table_name],
            ["AWS/DynamoDB", "TimeToLiveDeletedItemCount", "TableName", var.table_name],
          ]
        }
      },
    ],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
