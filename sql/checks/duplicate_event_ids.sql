-- Check: an event_id stands for one change. Redelivery (Lambda retries, bisected batches) may
-- write a record more than once; those copies are identical but for exported_at, and the views
-- keep one. This reports event_ids whose copies differ in the sequence number or in any other
-- column (every column of the schema but event_id and exported_at), including copies in two
-- different partitions: such an id names two different changes, and deduplication would drop one.
-- One row per differing copy, compared with the latest delivery; zero rows when healthy.
WITH deliveries AS (
  SELECT
    e.*,
    row_number() OVER (
      PARTITION BY e.event_id
      ORDER BY e.exported_at DESC NULLS LAST, e.sequence_number DESC NULLS LAST, e.event_time DESC NULLS LAST
    ) AS delivery,
    count(*) OVER (PARTITION BY e.event_id) AS copies
  FROM image_events e
),
repeated AS (
  SELECT * FROM deliveries WHERE copies > 1
),
compared AS (
  SELECT
    latest.event_id,
    latest.copies,
    latest.image_id AS latest_image_id,
    latest.sequence_number AS latest_sequence_number,
    latest.dt AS latest_dt,
    latest.hour AS latest_hour,
    other.image_id AS other_image_id,
    other.sequence_number AS other_sequence_number,
    other.dt AS other_dt,
    other.hour AS other_hour,
    concat_ws(
      ', ',
      CASE WHEN latest.sequence_number  IS DISTINCT FROM other.sequence_number  THEN 'sequence_number' END,
      CASE WHEN latest.event_name       IS DISTINCT FROM other.event_name       THEN 'event_name' END,
      CASE WHEN latest.event_time       IS DISTINCT FROM other.event_time       THEN 'event_time' END,
      CASE WHEN latest.is_ttl_expiry    IS DISTINCT FROM other.is_ttl_expiry    THEN 'is_ttl_expiry' END,
      CASE WHEN latest.previous_status  IS DISTINCT FROM other.previous_status  THEN 'previous_status' END,
      CASE WHEN latest.image_id         IS DISTINCT FROM other.image_id         THEN 'image_id' END,
      CASE WHEN latest.status           IS DISTINCT FROM other.status           THEN 'status' END,
      CASE WHEN latest.source           IS DISTINCT FROM other.source           THEN 'source' END,
      CASE WHEN latest.source_ref       IS DISTINCT FROM other.source_ref       THEN 'source_ref' END,
      CASE WHEN latest.tenant           IS DISTINCT FROM other.tenant           THEN 'tenant' END,
      CASE WHEN latest.content_type     IS DISTINCT FROM other.content_type     THEN 'content_type' END,
      CASE WHEN latest.format           IS DISTINCT FROM other.format           THEN 'format' END,
      CASE WHEN latest.size_bytes       IS DISTINCT FROM other.size_bytes       THEN 'size_bytes' END,
      CASE WHEN latest.sha256           IS DISTINCT FROM other.sha256           THEN 'sha256' END,
      CASE WHEN latest.width            IS DISTINCT FROM other.width            THEN 'width' END,
      CASE WHEN latest.height           IS DISTINCT FROM other.height           THEN 'height' END,
      CASE WHEN latest.raw_key          IS DISTINCT FROM other.raw_key          THEN 'raw_key' END,
      CASE WHEN latest.variant_count    IS DISTINCT FROM other.variant_count    THEN 'variant_count' END,
      CASE WHEN latest.variants_json    IS DISTINCT FROM other.variants_json    THEN 'variants_json' END,
      CASE WHEN latest.processed_bytes  IS DISTINCT FROM other.processed_bytes  THEN 'processed_bytes' END,
      CASE WHEN latest.operations       IS DISTINCT FROM other.operations       THEN 'operations' END,
      CASE WHEN latest.error_code       IS DISTINCT FROM other.error_code       THEN 'error_code' END,
      CASE WHEN latest.error_message    IS DISTINCT FROM other.error_message    THEN 'error_message' END,
      CASE WHEN latest.received_at      IS DISTINCT FROM other.received_at      THEN 'received_at' END,
      CASE WHEN latest.processed_at     IS DISTINCT FROM other.processed_at     THEN 'processed_at' END,
      CASE WHEN latest.expires_at       IS DISTINCT FROM other.expires_at       THEN 'expires_at' END,
      CASE WHEN latest.captured_at      IS DISTINCT FROM other.captured_at      THEN 'captured_at' END,
      CASE WHEN latest.processing_ms    IS DISTINCT FROM other.processing_ms    THEN 'processing_ms' END,
      CASE WHEN latest.dominant_color   IS DISTINCT FROM other.dominant_color   THEN 'dominant_color' END,
      CASE WHEN latest.mean_luma        IS DISTINCT FROM other.mean_luma        THEN 'mean_luma' END,
      CASE WHEN latest.sharpness        IS DISTINCT FROM other.sharpness        THEN 'sharpness' END,
      CASE WHEN latest.has_alpha        IS DISTINCT FROM other.has_alpha        THEN 'has_alpha' END,
      CASE WHEN latest.camera_make      IS DISTINCT FROM other.camera_make      THEN 'camera_make' END,
      CASE WHEN latest.camera_model     IS DISTINCT FROM other.camera_model     THEN 'camera_model' END,
      CASE WHEN latest.extra_attributes IS DISTINCT FROM other.extra_attributes THEN 'extra_attributes' END
    ) AS differing_columns
  FROM repeated latest
  JOIN repeated other
    ON other.event_id = latest.event_id AND latest.delivery = 1 AND other.delivery > 1
)
SELECT
  event_id,
  copies,
  latest_image_id,
  latest_sequence_number,
  latest_dt,
  latest_hour,
  other_image_id,
  other_sequence_number,
  other_dt,
  other_hour,
  'same event_id, different ' || differing_columns AS problem
FROM compared
WHERE differing_columns <> ''
ORDER BY event_id, other_sequence_number, other_dt, other_hour
