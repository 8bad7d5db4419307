-- What a Redshift Spectrum user runs over imglake.image_events (after external_schema.sql).
-- image_events is a change log: one row per DynamoDB stream record, possibly delivered twice
-- (same event_id). Filter on dt (date) and hour (int) so that Spectrum reads only those
-- partitions. The Athena views (images_current, …) do not exist in Redshift; the late-binding
-- view below is the Redshift counterpart of images_current. Select columns by name, and reach
-- the array column `operations` by unnesting it (as in the operations query below).

-- Changes of one day, by event and status, duplicates removed.
SELECT event_name, status, count(DISTINCT event_id) AS changes
FROM imglake.image_events
WHERE dt = '2026-11-24'
GROUP BY event_name, status
ORDER BY event_name, status;

-- The history of one image, oldest change first, duplicates removed.
SELECT DISTINCT event_id, sequence_number, event_time, event_name, previous_status, status, is_ttl_expiry
FROM imglake.image_events
WHERE image_id = '01JDFY2Q4W8Z8H6V3M5N7K9P1A'
ORDER BY event_time, sequence_number;

-- Latest state of every image (Athena's images_current). A view over an external table must be
-- late-binding in Redshift: WITH NO SCHEMA BINDING.
CREATE OR REPLACE VIEW public.imglake_images_current AS
SELECT
  image_id, status, event_name = 'REMOVE' AS is_deleted, is_ttl_expiry, source, tenant, format,
  size_bytes, processed_bytes, variant_count, error_code, error_message, received_at,
  processed_at, processing_ms, event_time AS last_event_time
FROM (
  SELECT
    image_id, status, event_name, is_ttl_expiry, source, tenant, format, size_bytes,
    processed_bytes, variant_count, error_code, error_message, received_at, processed_at,
    processing_ms, event_time,
    -- As sql/athena/views/images_current.sql (exporter/src/schema.rs RECENCY_ORDER): by the
    -- second, a full export's SNAPSHOT below stream rows within it, then by time and sequence
    -- number.
    row_number() OVER (
      PARTITION BY image_id
      ORDER BY date_trunc('second', event_time) DESC,
        CASE WHEN event_name = 'SNAPSHOT' THEN 0 ELSE 1 END DESC,
        event_time DESC, sequence_number DESC
    ) AS recency
  FROM imglake.image_events
) latest
WHERE recency = 1
WITH NO SCHEMA BINDING;

-- Processing time per day and source: exact percentiles in milliseconds (Redshift requires one
-- ORDER BY for all the percentiles of a query) and the mean time from upload to processed.
SELECT
  trunc(processed_at) AS processed_date,
  source,
  count(*) AS processed_images,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY processing_ms) AS processing_ms_p50,
  percentile_cont(0.9) WITHIN GROUP (ORDER BY processing_ms) AS processing_ms_p90,
  percentile_cont(0.99) WITHIN GROUP (ORDER BY processing_ms) AS processing_ms_p99,
  avg(datediff(millisecond, received_at, processed_at)) AS received_to_processed_ms_avg
FROM public.imglake_images_current
WHERE status = 'PROCESSED'
GROUP BY trunc(processed_at), source
ORDER BY processed_date, source;

-- Operations applied by processing: unnest the array column with Spectrum's extended FROM
-- clause. Images, not rows: a change delivered twice, or an operation used by two variants,
-- counts once per image.
SELECT op AS operation, count(DISTINCT e.image_id) AS images
FROM imglake.image_events e, e.operations AS op
WHERE e.dt >= '2026-11-01' AND e.status = 'PROCESSED' AND e.event_name = 'MODIFY'
  AND e.previous_status = 'PROCESSING'
GROUP BY op
ORDER BY images DESC, operation;

-- A month of deduplicated changes in a local table, for heavy joins (CREATE TABLE AS has no
-- IF NOT EXISTS in Redshift: drop the table first to rebuild it).
CREATE TABLE public.imglake_events_2026_11 AS
SELECT event_id, event_name, event_time, sequence_number, image_id, status, previous_status,
       source, tenant, format, size_bytes, processed_bytes, error_code, dt, hour
FROM (
  SELECT
    event_id, event_name, event_time, sequence_number, image_id, status, previous_status,
    source, tenant, format, size_bytes, processed_bytes, error_code, dt, hour,
    row_number() OVER (PARTITION BY event_id ORDER BY exported_at DESC) AS delivery
  FROM imglake.image_events
  WHERE dt BETWEEN '2026-11-01' AND '2026-11-30'
) d
WHERE delivery = 1;
