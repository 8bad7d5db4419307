-- Partitions of imglake.image_events as Redshift Spectrum sees them. Spectrum does not use
-- Athena's partition projection: a dt/hour partition is visible only once it is registered in
-- the Glue catalog, which the exporter does for every partition it writes. If a partition is
-- missing here but present in S3 (files written by a tool that does not register partitions, or
-- a failed registration), register it with the ALTER TABLE below.

-- Registered partitions, newest first.
SELECT schemaname, tablename, "values", location
FROM svv_external_partitions
WHERE schemaname = 'imglake' AND tablename = 'image_events'
ORDER BY "values" DESC
LIMIT 48;

-- Register one partition by hand (idempotent). Give hour with two digits, as its folder and
-- the exporter's own registrations do: Glue keeps partition values as text, so hour = 9 would
-- be a second partition over the same folder, and Spectrum would read its files twice.
ALTER TABLE imglake.image_events
ADD IF NOT EXISTS PARTITION (dt = '2026-11-24', hour = '09')
LOCATION 's3://${lake_bucket}/${lake_prefix}/image_events/dt=2026-11-24/hour=09/';
