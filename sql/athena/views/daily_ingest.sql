-- Images ingested per day (UTC day the upload was accepted), by source, current status and
-- format. Every image counts once, at its latest known status; images since deleted or expired
-- by TTL still count for the day they arrived (images_deleted says how many of them).
-- ingest_date, source, status and format are null for images known only from keys-only stream
-- records.
CREATE OR REPLACE VIEW daily_ingest AS
SELECT
  CAST(received_at AS DATE) AS ingest_date,
  source,
  status,
  format,
  count(*) AS images,
  sum(CASE WHEN is_deleted THEN 1 ELSE 0 END) AS images_deleted,
  sum(size_bytes) AS raw_bytes,
  sum(processed_bytes) AS processed_bytes
FROM images_current
GROUP BY CAST(received_at AS DATE), source, status, format
