-- Latest state of every image: its newest row. Images removed by a user or expired by DynamoDB
-- TTL keep their last known state, flagged by is_deleted and is_ttl_expiry, so dashboards can
-- count or exclude them.
-- Newest is by time, then by sequence number. Stream rows carry DynamoDB's
-- ApproximateCreationDateTime, rounded down to the second; rows of a table export (backfill:
-- event_id 'export:…', event_name SNAPSHOT for a full export) carry the export time or the
-- item's write time, to the millisecond. Within one second a stream row wins over an export
-- row: the export either already holds the stream row's change or was taken before it. Between
-- stream rows of one second the sequence number decides, as it did before exports existed.
CREATE OR REPLACE VIEW images_current AS
SELECT
  image_id,
  status,
  event_name = 'REMOVE' AS is_deleted,
  is_ttl_expiry,
  source,
  source_ref,
  tenant,
  content_type,
  format,
  size_bytes,
  sha256,
  width,
  height,
  raw_key,
  variant_count,
  variants_json,
  processed_bytes,
  operations,
  error_code,
  error_message,
  received_at,
  processed_at,
  expires_at,
  captured_at,
  processing_ms,
  dominant_color,
  mean_luma,
  sharpness,
  has_alpha,
  camera_make,
  camera_model,
  event_time AS last_event_time,
  sequence_number AS last_sequence_number
FROM (
  SELECT
    d.*,
    row_number() OVER (
      PARTITION BY d.image_id
      ORDER BY
        date_trunc('second', d.event_time) DESC NULLS LAST,
        CASE WHEN d.event_id LIKE 'export:%' THEN 0 ELSE 1 END DESC,
        d.event_time DESC NULLS LAST,
        d.sequence_number DESC NULLS LAST
    ) AS recency
  FROM image_events_dedup d
) latest
WHERE recency = 1
