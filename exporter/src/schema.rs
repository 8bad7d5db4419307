//! The lake contract: table `image_events`, defined once.
//!
//! Every other description of the table (the Arrow schema the writer uses, the Athena/Glue DDL
//! in `sql/` and `terraform/`, the docs) is generated from [`COLUMNS`] or tested against it.
//! DynamoDB item attribute names equal the column names of [`Origin::Image`] columns.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Table name in the lake, the Glue catalog and every query engine.
pub const TABLE_NAME: &str = "image_events";

/// Hive partition columns, in path order. They live in the object key, not in the files.
pub const PARTITION_COLUMNS: [&str; 2] = ["dt", "hour"];

/// Timestamps are written as INT64 TIMESTAMP(MILLIS, UTC): Athena reads milliseconds reliably
/// and Redshift Spectrum has had trouble with nanoseconds.
pub const TIMESTAMP_TZ: &str = "UTC";

/// Sequence numbers are left-padded with zeros to this many digits so that they sort
/// correctly as strings. DynamoDB documents them as 21 to 40 characters.
pub const SEQUENCE_NUMBER_WIDTH: usize = 40;

/// The value kind of a column, with its Arrow and Athena (Hive DDL) types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 string (DynamoDB `S`).
    Str,
    /// 32-bit signed integer (DynamoDB `N`, integral and in range).
    Int32,
    /// 64-bit signed integer (DynamoDB `N`, integral and in range).
    Int64,
    /// 64-bit float (DynamoDB `N`).
    Float64,
    /// Boolean (DynamoDB `BOOL`).
    Bool,
    /// Timestamp in epoch milliseconds (DynamoDB `N` holding epoch milliseconds).
    TimestampMillis,
    /// Timestamp stored in DynamoDB as epoch *seconds* (`N`), as DynamoDB TTL requires.
    TimestampSeconds,
    /// List of strings (DynamoDB `L` of `S`, or `SS`).
    StrList,
}

impl Kind {
    /// The Arrow type written to Parquet.
    pub fn arrow_type(self) -> DataType {
        match self {
            Kind::Str => DataType::Utf8,
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
            Kind::Bool => DataType::Boolean,
            Kind::TimestampMillis | Kind::TimestampSeconds => {
                DataType::Timestamp(TimeUnit::Millisecond, Some(TIMESTAMP_TZ.into()))
            }
            Kind::StrList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        }
    }

    /// The column type in Athena / Glue (Hive DDL) syntax.
    pub fn athena_type(self) -> &'static str {
        match self {
            Kind::Str => "string",
            Kind::Int32 => "int",
            Kind::Int64 => "bigint",
            Kind::Float64 => "double",
            Kind::Bool => "boolean",
            Kind::TimestampMillis | Kind::TimestampSeconds => "timestamp",
            Kind::StrList => "array<string>",
        }
    }
}

/// Where a column's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Derived from the stream record itself (the change).
    Change,
    /// An attribute of the item image (NewImage, or OldImage for REMOVE), same name.
    Image,
    /// Attributes of the image that no column knows, as lossless DynamoDB JSON.
    Extra,
}

/// One column of `image_events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub origin: Origin,
    /// One line for docs and DDL comments.
    pub doc: &'static str,
    /// Parquet dictionary encoding. Off for columns whose values are unique per row or per
    /// image (an image's few change records repeat them): a dictionary only costs time and
    /// space there, and ZSTD finds the per-image repeats in plain pages anyway (about 8%
    /// smaller files on the benchmark's records than dictionary-encoding those too).
    pub dictionary: bool,
    /// A Parquet bloom filter, for point look-ups (`where image_id = …`).
    pub bloom_filter: bool,
}

const fn col(name: &'static str, kind: Kind, origin: Origin, doc: &'static str) -> Column {
    Column {
        name,
        kind,
        origin,
        doc,
        dictionary: true,
        bloom_filter: false,
    }
}

impl Column {
    /// Without dictionary encoding (see [`Column::dictionary`]).
    const fn plain(self) -> Column {
        Column {
            dictionary: false,
            ..self
        }
    }

    /// With a bloom filter (see [`Column::bloom_filter`]).
    const fn bloom(self) -> Column {
        Column {
            bloom_filter: true,
            ..self
        }
    }
}

use Kind::*;
use Origin::*;

/// The columns of `image_events`, in file order. Partition columns `dt` and `hour` follow
/// them in every engine's table definition but are not stored in the files.
pub const COLUMNS: &[Column] = &[
    col(
        "event_id",
        Str,
        Change,
        "stream record eventID, or export:<export id>:<image_id> for a row of a table export; unique per change, the dedupe key",
    ).plain(),
    col(
        "event_name",
        Str,
        Change,
        "INSERT | MODIFY | REMOVE; SNAPSHOT for an item of a full table export",
    ),
    col(
        "event_time",
        TimestampMillis,
        Change,
        "ApproximateCreationDateTime (UTC, whole seconds), or for a table export the export time or item write time; drives dt/hour",
    ).plain(),
    col(
        "sequence_number",
        Str,
        Change,
        "stream SequenceNumber, zero-padded to 40 digits; for a table export: its time in microseconds",
    ).plain(),
    col(
        "is_ttl_expiry",
        Bool,
        Change,
        "REMOVE made by DynamoDB TTL (service principal), not a user; for a table export REMOVE, inferred from expires_at having passed",
    ),
    col("previous_status", Str, Change, "status in OldImage, if any"),
    col(
        "exported_at",
        TimestampMillis,
        Change,
        "when the exporter wrote this row; for a table export, when DynamoDB finished the export",
    ),
    col("image_id", Str, Image, "table hash key (from Keys)").bloom(),
    col(
        "status",
        Str,
        Image,
        "RECEIVED | PROCESSING | PROCESSED | REJECTED | FAILED | ABANDONED",
    ),
    col("source", Str, Image, "api | kafka"),
    col(
        "source_ref",
        Str,
        Image,
        "upload request id or topic/partition/offset",
    ).plain(),
    col("tenant", Str, Image, "owning tenant"),
    col(
        "content_type",
        Str,
        Image,
        "MIME type detected from magic bytes",
    ),
    col("format", Str, Image, "jpeg | png | webp | gif | tiff"),
    col("size_bytes", Int64, Image, "raw object size").plain(),
    col("sha256", Str, Image, "hex SHA-256 of the raw bytes").plain(),
    col(
        "width",
        Int32,
        Image,
        "displayed pixels (after EXIF orientation), the same on every row",
    ),
    col(
        "height",
        Int32,
        Image,
        "displayed pixels (after EXIF orientation), the same on every row",
    ),
    col("raw_key", Str, Image, "object key of the raw upload").plain(),
    col(
        "variant_count",
        Int32,
        Image,
        "number of processed variants",
    ),
    col(
        "variants_json",
        Str,
        Image,
        "JSON array of {name, key, format, width, height, bytes}: recipe name, processed-store key, jpeg|png|webp, pixels, file bytes",
    ).plain(),
    col(
        "processed_bytes",
        Int64,
        Image,
        "total bytes of all variants",
    ).plain(),
    col("operations", StrList, Image, "operations applied, in order"),
    col(
        "error_code",
        Str,
        Image,
        "machine-readable reason for REJECTED / FAILED",
    ),
    col(
        "error_message",
        Str,
        Image,
        "human-readable reason for REJECTED / FAILED",
    ),
    col(
        "received_at",
        TimestampMillis,
        Image,
        "when the upload was accepted",
    ).plain(),
    col(
        "processed_at",
        TimestampMillis,
        Image,
        "when processing finished",
    ).plain(),
    col(
        "expires_at",
        TimestampSeconds,
        Image,
        "DynamoDB TTL (epoch seconds in the item)",
    ).plain(),
    col(
        "captured_at",
        TimestampMillis,
        Image,
        "EXIF DateTimeOriginal, if any",
    ).plain(),
    col("processing_ms", Int32, Image, "processing wall time"),
    col("dominant_color", Str, Image, "#rrggbb").plain(),
    col("mean_luma", Float64, Image, "mean luma 0..255").plain(),
    col("sharpness", Float64, Image, "variance of the Laplacian").plain(),
    col("has_alpha", Bool, Image, "image has an alpha channel"),
    col("camera_make", Str, Image, "EXIF Make"),
    col("camera_model", Str, Image, "EXIF Model"),
    col(
        "extra_attributes",
        Str,
        Extra,
        "JSON (DynamoDB JSON) of item attributes no column knows",
    ),
];

/// Name of the hash key attribute in the metadata table.
pub const HASH_KEY: &str = "image_id";

/// The Arrow schema of the files (without partition columns). All columns are nullable:
/// KEYS_ONLY records and REMOVE records without an OldImage carry only keys.
pub fn arrow_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let fields: Vec<Field> = COLUMNS
                .iter()
                .map(|c| Field::new(c.name, c.kind.arrow_type(), true))
                .collect();
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// Position of a column in [`COLUMNS`], if it exists.
pub fn column_index(name: &str) -> Option<usize> {
    COLUMNS.iter().position(|c| c.name == name)
}

/// THE ordering of an image's rows, oldest first; the newest is the image's current state.
/// `images_current`, the `illegal_status_transitions` check, the Redshift example and
/// reconcile all use it: the SQL files spell these terms (ascending, or each `DESC` for
/// newest first), and tests/sql_views.rs checks that they do; [`recency_key`] is the same
/// rule in Rust.
///
/// 1. The second of `event_time`: stream rows carry `ApproximateCreationDateTime`, whole
///    seconds; export rows milliseconds.
/// 2. Within a second, a full export's `SNAPSHOT` first: it is the item at one millisecond of
///    that second, and a stream change of the same second may have come after it (ordering by
///    the millisecond would put a snapshot taken at .500 after a change made at .900).
/// 3. Then by the millisecond: an incremental export's row (the item's last write of the
///    export's window, at `WriteTimestampMicros`) comes after a stream row of the same second,
///    which is that write or an earlier one; it is later only if it was written after the
///    window closed in that same second.
/// 4. Then by the zero-padded sequence number (an export row's µs sorts below every stream
///    sequence number).
pub const RECENCY_ORDER: [&str; 4] = [
    "date_trunc('second', event_time)",
    "CASE WHEN event_name = 'SNAPSHOT' THEN 0 ELSE 1 END",
    "event_time",
    "sequence_number",
];

/// [`RECENCY_ORDER`] as a sort key, oldest first: of two rows of an image, the greater key is
/// the newer row.
pub fn recency_key<'a>(
    event_time_ms: i64,
    event_name: Option<&str>,
    sequence_number: &'a str,
) -> (i64, u8, i64, &'a str) {
    (
        event_time_ms.div_euclid(1000),
        u8::from(event_name != Some("SNAPSHOT")),
        event_time_ms,
        sequence_number,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_and_snake_case() {
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        assert!(names.iter().all(|n| n
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')));
        names.sort_unstable();
        let len = names.len();
        names.dedup();
        assert_eq!(names.len(), len, "duplicate column name");
        for p in PARTITION_COLUMNS {
            assert!(
                column_index(p).is_none(),
                "{p} must only be a partition column"
            );
        }
    }

    #[test]
    fn schema_matches_the_issue_contract() {
        let schema = arrow_schema();
        assert_eq!(schema.fields().len(), 37);
        let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        for name in [
            "event_time",
            "exported_at",
            "received_at",
            "processed_at",
            "expires_at",
            "captured_at",
        ] {
            assert_eq!(
                schema.field_with_name(name).unwrap().data_type(),
                &ts,
                "{name}"
            );
        }
        assert_eq!(
            schema.field_with_name("operations").unwrap().data_type(),
            &Kind::StrList.arrow_type()
        );
        assert_eq!(
            COLUMNS[column_index(HASH_KEY).unwrap()].origin,
            Origin::Image
        );
        assert_eq!(COLUMNS.last().unwrap().origin, Origin::Extra);
        let bloom: Vec<&str> = COLUMNS
            .iter()
            .filter(|c| c.bloom_filter)
            .map(|c| c.name)
            .collect();
        assert_eq!(bloom, [HASH_KEY]);
        assert_eq!(COLUMNS.iter().filter(|c| !c.dictionary).count(), 16);
    }
}
