-- The lake table for Athena and the Glue Data Catalog: one row per DynamoDB stream record
-- (a change log of image metadata), Parquet files under
--   s3://<bucket>/<prefix>/image_events/dt=YYYY-MM-DD/hour=HH/part-*.parquet
--
-- The column list is exactly what `imglake schema --format athena-columns` prints from the
-- exporter's schema (exporter/src/schema.rs); tests/sql_views.rs fails if they differ. To change
-- a column, change the schema and paste the new output here.
--
-- Placeholders, replaced at deploy time (see sql/README.md; e.g.
--   envsubst '$lake_bucket $lake_prefix $lake_start_date' < image_events.sql):
--   lake_bucket      bucket of the lake, e.g. imglake-lake-123456789012
--   lake_prefix      key prefix of the lake, no leading or trailing slash, e.g. lake
--   lake_start_date  first day with data, yyyy-MM-dd, e.g. 2026-11-01 (start of the projection)
-- The dt and hour placeholders in storage.location.template belong to Athena: leave them as
-- they are (Terraform's templatefile() would need them escaped as $$).
--
-- Partition projection: Athena computes partitions from dt (a day from lake_start_date to
-- today, UTC) and hour (00..23) and reads them through storage.location.template, so new
-- partitions are queryable at once, with no crawler and no MSCK REPAIR TABLE. Redshift Spectrum
-- and EMR ignore projection and read the partitions registered in Glue (see sql/redshift/).
CREATE EXTERNAL TABLE image_events (
  `event_id`         string COMMENT 'stream record eventID, or export:<export id>:<image_id> for a row of a table export; unique per change, the dedupe key',
  `event_name`       string COMMENT 'INSERT | MODIFY | REMOVE; SNAPSHOT for an item of a full table export',
  `event_time`       timestamp COMMENT 'ApproximateCreationDateTime (UTC, whole seconds), or for a table export the export time or item write time; drives dt/hour',
  `sequence_number`  string COMMENT 'stream SequenceNumber, zero-padded to 40 digits; for a table export: its time in microseconds',
  `is_ttl_expiry`    boolean COMMENT 'REMOVE made by DynamoDB TTL (service principal), not a user; for a table export REMOVE, inferred from expires_at having passed',
  `previous_status`  string COMMENT 'status in OldImage, if any',
  `exported_at`      timestamp COMMENT 'when the exporter wrote this row; for a table export, when DynamoDB finished the export',
  `image_id`         string COMMENT 'table hash key (from Keys)',
  `status`           string COMMENT 'RECEIVED | PROCESSING | PROCESSED | REJECTED | FAILED | ABANDONED',
  `source`           string COMMENT 'api | kafka',
  `source_ref`       string COMMENT 'upload request id or topic/partition/offset',
  `tenant`           string COMMENT 'owning tenant',
  `content_type`     string COMMENT 'MIME type detected from magic bytes',
  `format`           string COMMENT 'jpeg | png | webp | gif | tiff',
  `size_bytes`       bigint COMMENT 'raw object size',
  `sha256`           string COMMENT 'hex SHA-256 of the raw bytes',
  `width`            int COMMENT 'displayed pixels (after EXIF orientation), the same on every row',
  `height`           int COMMENT 'displayed pixels (after EXIF orientation), the same on every row',
  `raw_key`          string COMMENT 'object key of the raw upload',
  `variant_count`    int COMMENT 'number of processed variants',
  `variants_json`    string COMMENT 'JSON array of {name, key, format, width, height, bytes}: recipe name, processed-store key, jpeg|png|webp, pixels, file bytes',
  `processed_bytes`  bigint COMMENT 'total bytes of all variants',
  `operations`       array<string> COMMENT 'operations applied, in order',
  `error_code`       string COMMENT 'machine-readable reason for REJECTED / FAILED',
  `error_message`    string COMMENT 'human-readable reason for REJECTED / FAILED',
  `received_at`      timestamp COMMENT 'when the upload was accepted',
  `processed_at`     timestamp COMMENT 'when processing finished',
  `expires_at`       timestamp COMMENT 'DynamoDB TTL (epoch seconds in the item)',
  `captured_at`      timestamp COMMENT 'EXIF DateTimeOriginal, if any',
  `processing_ms`    int COMMENT 'processing wall time',
  `dominant_color`   string COMMENT '#rrggbb',
  `mean_luma`        double COMMENT 'mean luma 0..255',
  `sharpness`        double COMMENT 'variance of the Laplacian',
  `has_alpha`        boolean COMMENT 'image has an alpha channel',
  `camera_make`      string COMMENT 'EXIF Make',
  `camera_model`     string COMMENT 'EXIF Model',
  `extra_attributes` string COMMENT 'JSON (DynamoDB JSON) of item attributes no column knows'
)
PARTITIONED BY (
  `dt`   date COMMENT 'UTC day of event_time (yyyy-MM-dd in the path)',
  `hour` int  COMMENT 'UTC hour of event_time (two digits in the path)'
)
STORED AS PARQUET
LOCATION 's3://${lake_bucket}/${lake_prefix}/image_events/'
TBLPROPERTIES (
  'projection.enabled'             = 'true',
  'projection.dt.type'             = 'date',
  'projection.dt.format'           = 'yyyy-MM-dd',
  'projection.dt.range'            = '${lake_start_date},NOW',
  'projection.dt.interval'         = '1',
  'projection.dt.interval.unit'    = 'DAYS',
  'projection.hour.type'           = 'integer',
  'projection.hour.range'          = '0,23',
  'projection.hour.digits'         = '2',
  'storage.location.template'      = 's3://${lake_bucket}/${lake_prefix}/image_events/dt=${dt}/hour=${hour}/',
  'parquet.compression'            = 'ZSTD',
  'classification'                 = 'parquet'
)
