//! `imglake schema`: the lake schema, printed from `imglake_exporter::schema`.

use std::process::ExitCode;

use imglake_exporter::schema::{COLUMNS, PARTITION_COLUMNS, TABLE_NAME};
use serde_json::json;

use crate::cli::{SchemaArgs, SchemaFormat};

/// Athena types of the partition columns: `dt` is a date, `hour` a two-digit integer.
pub const PARTITION_ATHENA_TYPES: [&str; 2] = ["date", "int"];

pub fn run(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    match args.format {
        SchemaFormat::Json => outln!("{}", schema_json()),
        SchemaFormat::AthenaColumns => out!("{}", athena_columns()),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn schema_json() -> serde_json::Value {
    json!({
        "table": TABLE_NAME,
        "columns": COLUMNS.iter().map(|c| json!({
            "name": c.name,
            "athena_type": c.kind.athena_type(),
            "arrow_type": c.kind.arrow_type().to_string(),
            "doc": c.doc,
        })).collect::<Vec<_>>(),
        "partition_columns": PARTITION_COLUMNS.iter().zip(PARTITION_ATHENA_TYPES).map(|(n, t)| json!({
            "name": n,
            "athena_type": t,
        })).collect::<Vec<_>>(),
    })
}

/// `  name type COMMENT '…',` lines, as inside `CREATE EXTERNAL TABLE image_events ( … )`.
pub fn athena_columns() -> String {
    let width = COLUMNS.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let lines: Vec<String> = COLUMNS
        .iter()
        .map(|c| {
            format!(
                "  `{}`{} {} COMMENT '{}'",
                c.name,
                " ".repeat(width - c.name.len()),
                c.kind.athena_type(),
                c.doc.replace('\'', "''")
            )
        })
        .collect();
    format!("{}\n", lines.join(",\n"))
}
