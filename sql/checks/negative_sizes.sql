-- Check: sizes, dimensions, counts and durations are never negative (size_bytes,
-- processed_bytes, width, height, variant_count, processing_ms). One row per offending change,
-- naming every negative column; zero rows when healthy.
SELECT
  event_id,
  image_id,
  event_name,
  sequence_number,
  dt,
  hour,
  size_bytes,
  processed_bytes,
  width,
  height,
  variant_count,
  processing_ms,
  'negative ' || concat_ws(
    ', ',
    CASE WHEN size_bytes < 0 THEN 'size_bytes' END,
    CASE WHEN processed_bytes < 0 THEN 'processed_bytes' END,
    CASE WHEN width < 0 THEN 'width' END,
    CASE WHEN height < 0 THEN 'height' END,
    CASE WHEN variant_count < 0 THEN 'variant_count' END,
    CASE WHEN processing_ms < 0 THEN 'processing_ms' END
  ) AS problem
FROM image_events_dedup
WHERE size_bytes < 0
   OR processed_bytes < 0
   OR width < 0
   OR height < 0
   OR variant_count < 0
   OR processing_ms < 0
ORDER BY image_id, sequence_number
