# The columns of `image_events`, in file order. They must EQUAL the exporter's schema
# (exporter/src/schema.rs::COLUMNS, printed by `imglake schema --format json`): name, Athena
# type, order and comment. tests/python/test_terraform.py compares them with the CLI's output,
# so a schema change that is not mirrored here fails the test suite.
# Partition columns (dt date, hour int) live in the object keys and are declared on the table.

locals {
  image_events_columns = [
    { name = "event_id", type = "string", comment = "stream record eventID, or export:<export id>:<image_id> for a row of a table export; unique per change, the dedupe key" },
    { name = "event_name", type = "string", comment = "INSERT | MODIFY | REMOVE; SNAPSHOT for an item of a full table export" },
    { name = "event_time", type = "timestamp", comment = "ApproximateCreationDateTime (UTC, whole seconds), or for a table export the export time or item write time; drives dt/hour" },
    { name = "sequence_number", type = "string", comment = "stream SequenceNumber, zero-padded to 40 digits; for a table export: its time in microseconds" },
    { name = "is_ttl_expiry", type = "boolean", comment = "REMOVE made by DynamoDB TTL (service principal), not a user; for a table export REMOVE, inferred from expires_at having passed" },
    { name = "previous_status", type = "string", comment = "status in OldImage, if any" },
    { name = "exported_at", type = "timestamp", comment = "when the exporter wrote this row; for a table export, when DynamoDB finished the export" },
    { name = "image_id", type = "string", comment = "table hash key (from Keys)" },
    { name = "status", type = "string", comment = "RECEIVED | PROCESSING | PROCESSED | REJECTED | FAILED | ABANDONED" },
    { name = "source", type = "string", comment = "api | kafka" },
    { name = "source_ref", type = "string", comment = "upload request id or topic/partition/offset" },
    { name = "tenant", type = "string", comment = "owning tenant" },
    { name = "content_type", type = "string", comment = "MIME type detected from magic bytes" },
    { name = "format", type = "string", comment = "jpeg | png | webp | gif | tiff" },
    { name = "size_bytes", type = "bigint", comment = "raw object size" },
    { name = "sha256", type = "string", comment = "hex SHA-256 of the raw bytes" },
    { name = "width", type = "int", comment = "displayed pixels (after EXIF orientation), the same on every row" },
    { name = "height", type = "int", comment = "displayed pixels (after EXIF orientation), the same on every row" },
    { name = "raw_key", type = "string", comment = "object key of the raw upload" },
    { name = "variant_count", type = "int", comment = "number of processed variants" },
    { name = "variants_json", type = "string", comment = "JSON array of {name, key, format, width, height, bytes}: recipe name, processed-store key, jpeg|png|webp, pixels, file bytes" },
    { name = "processed_bytes", type = "bigint", comment = "total bytes of all variants" },
    { name = "operations", type = "array<string>", comment = "operations applied, in order" },
    { name = "error_code", type = "string", comment = "machine-readable reason for REJECTED / FAILED" },
    { name = "error_message", type = "string", comment = "human-readable reason for REJECTED / FAILED" },
    { name = "received_at", type = "timestamp", comment = "when the upload was accepted" },
    { name = "processed_at", type = "timestamp", comment = "when processing finished" },
    { name = "expires_at", type = "timestamp", comment = "DynamoDB TTL (epoch seconds in the item)" },
    { name = "captured_at", type = "timestamp", comment = "EXIF DateTimeOriginal, if any" },
    { name = "processing_ms", type = "int", comment = "processing wall time" },
    { name = "dominant_color", type = "string", comment = "#rrggbb" },
    { name = "mean_luma", type = "double", comment = "mean luma 0..255" },
    { name = "sharpness", type = "double", comment = "variance of the Laplacian" },
    { name = "has_alpha", type = "boolean", comment = "image has an alpha channel" },
    { name = "camera_make", type = "string", comment = "EXIF Make" },
    { name = "camera_model", type = "string", comment = "EXIF Model" },
    { name = "extra_attributes", type = "string", comment = "JSON (DynamoDB JSON) of item attributes no column knows" },
  ]

  image_events_partition_keys = [
    { name = "dt", type = "date", comment = "UTC date of event_time (partition)" },
    { name = "hour", type = "int", comment = "UTC hour of event_time, two digits in the key (partition)" },
  ]
}
