-- Check: every change follows the pipeline's state machine.
--   INSERT            creates a RECEIVED image, and only when the image does not exist
--   RECEIVED       -> PROCESSING | REJECTED | ABANDONED (its upload form expired unused)
--   PROCESSING     -> PROCESSED | FAILED | REJECTED
--   any status     -> the same status (an update that leaves the status alone)
--   REMOVE            (user delete or TTL expiry) keeps the status the image had
-- The status before a change is the stream's OldImage status (previous_status); when the stream
-- has no OldImage (NEW_IMAGE view type) it is the status left by the image's previous row in
-- the lake (by sequence number). When both exist and differ, a change between the two rows is
-- missing from the lake (lost, or quarantined by the exporter), and the lake's history jumps:
-- reported too. So is a MODIFY or REMOVE right after a REMOVE (its INSERT is missing).
-- Rows of a table export (backfill: event_id 'export:…') are states, not changes: a full
-- export's SNAPSHOT is the item at the export time, an incremental export's row the net change
-- of a window (RECEIVED -> PROCESSED in one step is normal there). They are never judged, and a
-- stream row right after one is judged by its own OldImage and the state the export row left,
-- but not for a missing change (the export row may have filled it). Rows are ordered as
-- images_current orders them (exporter/src/schema.rs RECENCY_ORDER): by the second, a full
-- export's SNAPSHOT first within it, then by time and sequence number.
-- Not judged: rows without a status (keys-only stream records), and changes whose previous
-- status is unknown (the first row the lake holds for an image, when it is not an INSERT).
-- Zero rows when healthy.
WITH ordered AS (
  SELECT
    event_id,
    image_id,
    event_name,
    sequence_number,
    dt,
    hour,
    previous_status,
    status,
    event_id LIKE 'export:%' AS is_export,
    lag(event_name) OVER (
      PARTITION BY image_id
      ORDER BY date_trunc('second', event_time), CASE WHEN event_name = 'SNAPSHOT' THEN 0 ELSE 1 END,
        event_time, sequence_number
    ) AS lake_previous_event,
    lag(status) OVER (
      PARTITION BY image_id
      ORDER BY date_trunc('second', event_time), CASE WHEN event_name = 'SNAPSHOT' THEN 0 ELSE 1 END,
        event_time, sequence_number
    ) AS lake_previous_status,
    lag(event_id LIKE 'export:%') OVER (
      PARTITION BY image_id
      ORDER BY date_trunc('second', event_time), CASE WHEN event_name = 'SNAPSHOT' THEN 0 ELSE 1 END,
        event_time, sequence_number
    ) AS lake_previous_is_export
  FROM image_events_dedup
),
history AS (
  SELECT
    o.*,
    coalesce(
      previous_status,
      CASE WHEN lake_previous_event IN ('INSERT', 'MODIFY', 'SNAPSHOT') THEN lake_previous_status END
    ) AS status_before
  FROM ordered o
),
judged AS (
  SELECT
    h.*,
    CASE
      WHEN status IS NULL OR is_export THEN NULL
      WHEN event_name = 'INSERT' AND status <> 'RECEIVED'
        THEN 'INSERT must create a RECEIVED image, not ' || status
      WHEN event_name = 'INSERT' AND lake_previous_event IN ('INSERT', 'MODIFY')
        AND NOT lake_previous_is_export
        THEN 'INSERT of an image that exists (no REMOVE after its previous change)'
      WHEN event_name <> 'INSERT' AND lake_previous_event = 'REMOVE'
        AND NOT lake_previous_is_export
        THEN event_name || ' of an image removed by its previous change (an INSERT is missing)'
      WHEN event_name = 'REMOVE' AND previous_status IS NOT NULL AND status <> previous_status
        THEN 'REMOVE must keep the status: ' || previous_status || ' -> ' || status
      WHEN event_name = 'MODIFY'
        AND status_before IS NOT NULL
        AND status_before <> status
        AND (status_before || ' -> ' || status) NOT IN (
          'RECEIVED -> PROCESSING',
          'RECEIVED -> REJECTED',
          'RECEIVED -> ABANDONED',
          'PROCESSING -> PROCESSED',
          'PROCESSING -> FAILED',
          'PROCESSING -> REJECTED'
        )
        THEN status_before || ' -> ' || status || ' is not a legal transition'
      WHEN previous_status IS NOT NULL
        AND lake_previous_event IN ('INSERT', 'MODIFY')
        AND NOT lake_previous_is_export
        AND lake_previous_status IS NOT NULL
        AND lake_previous_status <> previous_status
        THEN 'a change is missing from the lake: the previous row left ' || lake_previous_status
          || ', this ' || event_name || ' starts from ' || previous_status
    END AS problem
  FROM history h
)
SELECT
  event_id,
  image_id,
  event_name,
  sequence_number,
  dt,
  hour,
  lake_previous_event,
  lake_previous_status,
  previous_status,
  status,
  problem
FROM judged
WHERE problem IS NOT NULL
ORDER BY image_id, sequence_number
