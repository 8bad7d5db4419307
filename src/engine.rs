//! DataFusion over the lake: `image_events` over a Hive-partitioned listing table with the
//! exporter's schema (`hour` cast to int from its directory name), on a local directory or
//! `s3://` alike.

use std::sync::Arc;

use anyhow::Context;
use datafusion::arrow::datatypes::DataType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use imglake_exporter::schema::{arrow_schema, TABLE_NAME};
use imglake_exporter::Lake;

use crate::sql::{SqlFile, VIEWS};

/// What `imglake query` runs: queries only. `INSERT INTO image_events_files` would add
/// files to the lake that no exporter wrote (and every reader would count their rows twice),
/// `COPY … TO` writes wherever it is pointed, and DDL or `SET` has nothing to act on in a
/// one-statement session.
pub fn read_only() -> datafusion::execution::context::SQLOptions {
    datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// A refusal by [`read_only`] explained with the way to do what was probably meant.
pub fn explain_refusal(err: datafusion::error::DataFusionError) -> anyhow::Error {
    let text = err.to_string();
    if [
        "DML not supported",
        "DDL not supported",
        "Statement not supported",
    ]
    .iter()
    .any(|refusal| text.contains(refusal))
    {
        anyhow::anyhow!(
            "{text}: `imglake query` only reads the lake. To save a result, use \
             --format csv or json and redirect the output; the lake is written by \
             `imglake export` and `imglake compact` only"
        )
    } else {
        err.into()
    }
}

/// A session with `image_events` registered over `lake`.
pub async fn session(lake: &Lake) -> anyhow::Result<SessionContext> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        // Read strings as plain Utf8, the type the files and the table schema declare.
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        );
    let ctx = SessionContext::new_with_config(config);
    ctx.register_object_store(&lake.store_url, lake.store.clone());

    let table_url = lake.table_url().context("building the table URL")?;
    // `hour` is read as the text of its directory name (`hour=09`) and cast to int in the
    // `image_events` view. Declared as Int32 on the files, DataFusion lists only the
    // directory `hour=9` for `dt = … and hour = 9` (it prints the literal to build the path
    // prefix), and hours 00–09 of a day silently came back empty.
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![
            ("dt".to_owned(), DataType::Date32),
            ("hour".to_owned(), DataType::Utf8),
        ]);
    let config = ListingTableConfig::new(ListingTableUrl::parse(table_url.as_str())?)
        .with_listing_options(options)
        .with_schema(arrow_schema());
    let table = ListingTable::try_new(config)?;
    ctx.register_table(FILES_TABLE, Arc::new(table))?;
    let columns: Vec<String> = arrow_schema()
        .fields()
        .iter()
        .map(|f| format!("\"{}\"", f.name()))
        .collect();
    ctx.sql(&format!(
        "create view {TABLE_NAME} as select {}, dt, cast(hour as int) as hour from {FILES_TABLE}",
        columns.join(", ")
    ))
    .await
    .context("registering image_events")?;
    register_views(&ctx).await?;
    Ok(ctx)
}

/// The listing table under `image_events`: the files as they are, `hour` as text.
const FILES_TABLE: &str = "image_events_files";

/// Registers the Athena views of `sql/athena/views`, adapted for DataFusion. Views may use
/// each other; each round registers those whose inputs exist, until all are in.
async fn register_views(ctx: &SessionContext) -> anyhow::Result<()> {
    let mut pending: Vec<&SqlFile> = VIEWS.iter().collect();
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut errors = Vec::new();
        for view in &pending {
            let sql = view.for_datafusion();
            match ctx.sql(&sql).await {
                Ok(df) => {
                    df.collect().await?;
                }
                Err(e) => {
                    errors.push(format!("{}: {e}", view.path));
                    failed.push(*view);
                }
            }
        }
        if failed.len() == pending.len() {
            anyhow::bail!(
                "cannot register the views of sql/athena/views:\n{}",
                errors.join("\n")
            );
        }
        pending = failed;
    }
    Ok(())
}
