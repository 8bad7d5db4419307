-- QuickSight dataset "Latency trend": processing and end-to-end latency percentiles (ms) per
-- UTC day of processing and source.
SELECT
  processed_date,
  source,
  processed_images,
  processing_ms_p50,
  processing_ms_p90,
  processing_ms_p99,
  received_to_processed_ms_p50,
  received_to_processed_ms_p90,
  received_to_processed_ms_p99
FROM processing_latency
ORDER BY processed_date, source
