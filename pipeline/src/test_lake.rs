//! What the lake holds after an export, for the unit tests: the real exporter writes into a
//! temporary lake, and every row is read back from its Parquet file.

use std::collections::BTreeMap;

use arrow::array::AsArray;
use arrow::datatypes::TimestampMillisecondType;
use arrow::util::display::array_value_to_string;
use imglake_exporter::{ExportOptions, ExportReport, Lake, Source};

/// One lake row: column name → value as text (`""` for null; timestamps in ISO 8601, UTC,
/// with milliseconds).
pub type Row = BTreeMap<String, String>;

/// Exports `source` into a new temporary lake; the report and every row, in sequence-number
/// order.
pub async fn export(source: Source<'_>, exported_at_ms: i64) -> (ExportReport, Vec<Row>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open(dir.path().to_str().expect("UTF-8 path")).expect("lake");
    let report = lake
        .exporter(ExportOptions::default())
        .export(source, exported_at_ms)
        .await
        .expect("export");
    let mut rows = Vec::new();
    for file in &report.files {
        if !file.key.ends_with(".parquet") {
            continue;
        }
        let body = object_store::ObjectStoreExt::get(
            lake.store.as_ref(),
            &object_store::path::Path::from(file.key.as_str()),
        )
        .await
        .expect("lake file")
        .bytes()
        .await
        .expect("lake file");
        for batch in imglake_exporter::compact::read_file(&file.key, body).expect("parquet") {
            for i in 0..batch.num_rows() {
                let row: Row = batch
                    .schema()
                    .fields()
                    .iter()
                    .zip(batch.columns())
                    .map(|(field, column)| {
                        let value = if column.is_null(i) {
                            String::new()
                        } else if let Some(ms) =
                            column.as_primitive_opt::<TimestampMillisecondType>()
                        {
                            // Timestamps in UTC, ISO 8601 with milliseconds.
                            chrono::DateTime::from_timestamp_millis(ms.value(i))
                                .expect("in range")
                                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                                .to_string()
                        } else {
                            array_value_to_string(column, i).expect("displayable")
                        };
                        (field.name().clone(), value)
                    })
                    .collect();
                rows.push(row);
            }
        }
    }
    rows.sort_by(|a, b| a["sequence_number"].cmp(&b["sequence_number"]));
    (report, rows)
}
