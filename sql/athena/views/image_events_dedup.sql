-- One row per stream record. At-least-once delivery (Lambda retries, bisected batches) can
-- write the same record twice, in different files; event_id identifies it and the latest
-- delivery is kept (by exported_at, then sequence_number).
-- A redelivered record has the same ApproximateCreationDateTime, hence the same dt/hour, so
-- the window is partitioned by (dt, hour, event_id): same result as by event_id alone, and a
-- filter on dt/hour is pushed below the window (partition pruning in Athena and DataFusion).
-- The same event_id in two partitions is corruption, not redelivery; checks/duplicate_event_ids
-- reports it. delivery_rank is always 1 here. Runs on Athena (Trino) and DataFusion; NULLS LAST
-- is spelled out because the engines' defaults differ for DESC (Trino: last, DataFusion: first).
CREATE OR REPLACE VIEW image_events_dedup AS
SELECT *
FROM (
  SELECT
    e.*,
    row_number() OVER (
      PARTITION BY e.dt, e.hour, e.event_id
      ORDER BY e.exported_at DESC NULLS LAST, e.sequence_number DESC NULLS LAST
    ) AS delivery_rank
  FROM image_events e
) ranked
WHERE delivery_rank = 1
