-- Latency of processed images per UTC day of processing and source, as approximate
-- percentiles in milliseconds:
--   processing_ms_*             the processor's own wall time (processing_ms)
--   received_to_processed_ms_*  upload accepted -> processing finished (processed_at minus
--                               received_at), which adds queueing and retries to processing_ms.
-- approx_percentile is Trino's; `imglake query` rewrites it to DataFusion's
-- approx_percentile_cont, and to_unixtime(ts) (seconds, with milliseconds as the fraction) to
-- date_part('epoch', ts) (src/sql.rs). The two engines approximate differently: DataFusion
-- returns a value of the group without interpolating, so small groups can differ noticeably.
CREATE OR REPLACE VIEW processing_latency AS
SELECT
  processed_date,
  source,
  count(*) AS processed_images,
  CAST(round(approx_percentile(processing_ms, 0.5)) AS BIGINT) AS processing_ms_p50,
  CAST(round(approx_percentile(processing_ms, 0.9)) AS BIGINT) AS processing_ms_p90,
  CAST(round(approx_percentile(processing_ms, 0.99)) AS BIGINT) AS processing_ms_p99,
  CAST(round(approx_percentile(received_to_processed_ms, 0.5)) AS BIGINT) AS received_to_processed_ms_p50,
  CAST(round(approx_percentile(received_to_processed_ms, 0.9)) AS BIGINT) AS received_to_processed_ms_p90,
  CAST(round(approx_percentile(received_to_processed_ms, 0.99)) AS BIGINT) AS received_to_processed_ms_p99
FROM (
  SELECT
    CAST(processed_at AS DATE) AS processed_date,
    source,
    CAST(processing_ms AS DOUBLE) AS processing_ms,
    round((to_unixtime(processed_at) - to_unixtime(received_at)) * 1000) AS received_to_processed_ms
  FROM images_current
  WHERE status = 'PROCESSED'
) processed
GROUP BY processed_date, source
