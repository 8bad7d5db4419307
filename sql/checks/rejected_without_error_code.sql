-- Check: every REJECTED image, and every FAILED or ABANDONED one, says why: error_code is set
-- and not blank (dashboards group rejections by it). Every deduplicated row with such a status is
-- checked, including REMOVE rows. Zero rows when healthy.
SELECT
  event_id,
  image_id,
  event_name,
  sequence_number,
  dt,
  hour,
  status,
  error_code,
  error_message,
  status || ' without an error_code' AS problem
FROM image_events_dedup
WHERE status IN ('REJECTED', 'FAILED', 'ABANDONED')
  AND (error_code IS NULL OR regexp_like(error_code, '^\s*$'))
ORDER BY image_id, sequence_number
