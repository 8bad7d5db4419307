# Recovery and disaster recovery: nightly reconcile against a full table export, redrive every
# 15 minutes (the default), and the lake and images replicated to a second region with RTC.
reconcile_schedule              = "cron(0 3 * * ? *)"
redrive_enabled                 = true
redrive_queue_age_alarm_seconds = 3600
table_export_retention_days     = 7

replication = {
  enabled                  = true
  region                   = "eu-central-1"
  buckets                  = ["lake", "raw", "processed"]
  replication_time_control = true
}
