-- Bytes saved by processing, per UTC day of processing and tenant: the raw uploads of processed
-- images against the sum of their variants. processed_to_raw_ratio is processed / raw (0.05
-- means the variants take 5 % of the raw bytes); saved_bytes is raw - processed. Images whose
-- raw or processed size is unknown are left out, so that both sums cover the same images.
CREATE OR REPLACE VIEW storage_savings AS
SELECT
  CAST(processed_at AS DATE) AS processed_date,
  tenant,
  count(*) AS processed_images,
  sum(size_bytes) AS raw_bytes,
  sum(processed_bytes) AS processed_bytes,
  sum(size_bytes) - sum(processed_bytes) AS saved_bytes,
  round(CAST(sum(processed_bytes) AS DOUBLE) / nullif(sum(size_bytes), 0), 4) AS processed_to_raw_ratio
FROM images_current
WHERE status = 'PROCESSED' AND size_bytes IS NOT NULL AND processed_bytes IS NOT NULL
GROUP BY CAST(processed_at AS DATE), tenant
