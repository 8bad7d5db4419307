-- QuickSight dataset "Ingest overview": per UTC day and source, images by outcome and bytes.
-- Outcome columns split `images` by the images' latest status; in_flight is RECEIVED or
-- PROCESSING, abandoned is an upload form that expired unused (never in flight), unknown is no
-- status (keys-only stream records).
SELECT
  ingest_date,
  source,
  sum(images) AS images,
  sum(CASE WHEN status = 'PROCESSED' THEN images ELSE 0 END) AS processed,
  sum(CASE WHEN status = 'REJECTED' THEN images ELSE 0 END) AS rejected,
  sum(CASE WHEN status = 'FAILED' THEN images ELSE 0 END) AS failed,
  sum(CASE WHEN status IN ('RECEIVED', 'PROCESSING') THEN images ELSE 0 END) AS in_flight,
  sum(CASE WHEN status = 'ABANDONED' THEN images ELSE 0 END) AS abandoned,
  sum(CASE WHEN status IS NULL THEN images ELSE 0 END) AS unknown,
  sum(images_deleted) AS deleted,
  sum(raw_bytes) AS raw_bytes,
  sum(processed_bytes) AS processed_bytes
FROM daily_ingest
GROUP BY ingest_date, source
ORDER BY ingest_date, source
