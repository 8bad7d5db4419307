-- Why images did not make it: images whose latest status is REJECTED (bad input, refused by
-- validation) or FAILED (processing error), by status and error_code, with how many images and
-- tenants it hit, one example message (the alphabetically first, so it is stable) and when the
-- affected images arrived. Images later deleted or expired by TTL keep their status and count.
CREATE OR REPLACE VIEW rejections AS
SELECT
  status,
  error_code,
  count(*) AS images,
  count(DISTINCT tenant) AS tenants,
  min(error_message) AS example_error_message,
  min(received_at) AS first_received_at,
  max(received_at) AS last_received_at
FROM images_current
WHERE status IN ('REJECTED', 'FAILED')
GROUP BY status, error_code
