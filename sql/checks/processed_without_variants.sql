-- Check: an image that is PROCESSED has variants: variant_count of at least 1, a non-empty
-- variants_json array and processed_bytes of at least 1. Every deduplicated row whose status
-- is PROCESSED is checked, including REMOVE rows (which keep the last status). Zero rows when
-- healthy.
SELECT
  event_id,
  image_id,
  event_name,
  sequence_number,
  dt,
  hour,
  variant_count,
  variants_json,
  processed_bytes,
  'PROCESSED without variants: ' || missing AS problem
FROM (
  SELECT
    d.*,
    concat_ws(
      ', ',
      CASE
        WHEN variant_count IS NULL THEN 'variant_count is null'
        WHEN variant_count < 1 THEN 'variant_count < 1'
      END,
      CASE
        WHEN variants_json IS NULL THEN 'variants_json is null'
        WHEN regexp_like(variants_json, '^\s*(\[\s*\])?\s*$') THEN 'variants_json is empty'
      END,
      CASE
        WHEN processed_bytes IS NULL THEN 'processed_bytes is null'
        WHEN processed_bytes < 1 THEN 'processed_bytes < 1'
      END
    ) AS missing
  FROM image_events_dedup d
  WHERE status = 'PROCESSED'
) processed
WHERE missing <> ''
ORDER BY image_id, sequence_number
