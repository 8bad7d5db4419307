-- QuickSight dataset "Tenant storage": per tenant, raw bytes of its processed images against
-- the bytes of their variants, over all days.
SELECT
  tenant,
  sum(processed_images) AS processed_images,
  sum(raw_bytes) AS raw_bytes,
  sum(processed_bytes) AS processed_bytes,
  sum(saved_bytes) AS saved_bytes,
  round(CAST(sum(processed_bytes) AS DOUBLE) / nullif(sum(raw_bytes), 0), 4) AS processed_to_raw_ratio
FROM storage_savings
GROUP BY tenant
ORDER BY raw_bytes DESC NULLS LAST, tenant
