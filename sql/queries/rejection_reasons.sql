-- QuickSight dataset "Rejection reasons": REJECTED and FAILED images by error_code, with each
-- reason's share of all of them (percent, one decimal) and an example message.
SELECT
  status,
  error_code,
  images,
  round(100 * CAST(images AS DOUBLE) / sum(images) OVER (), 1) AS share_pct,
  tenants,
  example_error_message,
  first_received_at,
  last_received_at
FROM rejections
ORDER BY images DESC NULLS LAST, status, error_code
