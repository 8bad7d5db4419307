-- Check: no image's raw key took a second upload. S3 cannot refuse a presigned form posted
-- again before it expires; the process worker then keeps the upload its item describes, sets
-- the later one aside and records it on the item (error_code upload_replaced, same status).
-- Each such change is reported so that someone looks at the client that replayed the form.
-- Zero rows when healthy.
SELECT
  event_id,
  image_id,
  event_name,
  sequence_number,
  dt,
  hour,
  status,
  error_code,
  error_message,
  'a later upload to ' || coalesce(raw_key, 'the raw key') || ' was set aside (upload_replaced)' AS problem
FROM image_events_dedup
WHERE event_name = 'MODIFY'
  AND error_code = 'upload_replaced'
ORDER BY image_id, sequence_number
