-- Check: no change is dated in the future. event_time is DynamoDB's
-- ApproximateCreationDateTime and decides the partition; more than 5 minutes past the clock of
-- the engine means a bad clock or a bad record, and a partition that Athena's projection (which
-- ends today) cannot see. In Athena, rows dated after today are therefore invisible to this
-- check too; `imglake query` and Redshift Spectrum see them. Zero rows when healthy.
SELECT
  event_id,
  image_id,
  event_name,
  sequence_number,
  event_time,
  dt,
  hour,
  'event_time more than 5 minutes in the future' AS problem
FROM image_events_dedup
WHERE event_time > current_timestamp + INTERVAL '5' MINUTE
ORDER BY event_time, event_id
