-- Latest state of every image: its newest row. Images removed by a user or expired by DynamoDB
-- TTL keep their last known state, flagged by is_deleted and is_ttl_expiry, so dashboards can
-- count or exclude them.
-- Newest by the one ordering rule of an image's rows (exporter/src/schema.rs RECENCY_ORDER;
-- reconcile and checks/illegal_status_transitions use the same): by the second of event_time
-- (stream rows carry DynamoDB's ApproximateCreationDateTime, whole seconds; rows of a table
-- export, event_id 'export:…', the export time or the item's write time, to the millisecond);
-- within a second a full export's SNAPSHOT first (a stream change of that second may have come
-- after it); then by the millisecond (an incremental export's row, the item's last write of its
-- window, comes after a stream row of its second: that row is the same write or an earlier
-- one); then by sequence number, as between stream rows before exports existed.
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
        CASE WHEN d.event_name = 'SNAPSHOT' THEN 0 ELSE 1 END DESC,
        d.event_time DESC NULLS LAST,
        d.sequence_number DESC NULLS LAST
    ) AS recency
  FROM image_events_dedup d
) latest
WHERE recency = 1
