//! `imglake query`: SQL over the lake.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, GenericListArray, OffsetSizeTrait, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::cli::{OutputFormat, QueryArgs};
use crate::engine;

pub async fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let lake = super::open_existing_lake(&args.lake, super::Needs::Directory).await?;
    let ctx = engine::session(&lake).await?;
    let df = ctx
        .sql_with_options(&args.sql, engine::read_only())
        .await
        .map_err(engine::explain_refusal)
        .context("planning the query")?;
    let schema = df.schema().inner().clone();
    let batches = match df.collect().await {
        Ok(batches) => batches,
        Err(err) => {
            return Err(crate::diagnose::with_lake_problems(&lake, err.into())
                .await
                .context("running the query"))
        }
    };
    let mut out = crate::Stdout;
    write_batches(&mut out, &schema, &batches, args.format)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes query results in the chosen format; a result without rows still shows its
/// columns (table and CSV).
pub fn write_batches(
    out: &mut impl std::io::Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => {
            let table = datafusion::arrow::util::pretty::pretty_format_batches_with_schema(
                schema.clone(),
                batches,
            )?;
            writeln!(out, "{table}")?;
        }
        OutputFormat::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            if batches.is_empty() {
                writer.write(&csv_ready(&RecordBatch::new_empty(schema.clone()))?)?;
            }
            for batch in batches {
                writer.write(&csv_ready(batch)?)?;
            }
        }
        OutputFormat::Json => {
            // Every key on every line (null columns as null), so rows have one shape.
            let mut writer = datafusion::arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, datafusion::arrow::json::writer::LineDelimited>(out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    Ok(())
}

/// CSV has no nested values: a list of strings (such as `operations`, of any string type)
/// becomes its JSON array text, any other nested value its display text.
fn csv_ready(batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type().is_nested() {
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(nested_as_text(column)?);
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn nested_as_text(column: &ArrayRef) -> anyhow::Result<ArrayRef> {
    let text: StringArray = match column.data_type() {
        DataType::List(item) if is_text(item.data_type()) => json_lists(column.as_list::<i32>())?,
        DataType::LargeList(item) if is_text(item.data_type()) => {
            json_lists(column.as_list::<i64>())?
        }
        _ => {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
            (0..column.len())
                .map(|i| column.is_valid(i).then(|| formatter.value(i).to_string()))
                .collect()
        }
    };
    Ok(Arc::new(text))
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Each list of strings as its JSON array text; a null list stays null.
fn json_lists<O: OffsetSizeTrait>(lists: &GenericListArray<O>) -> anyhow::Result<StringArray> {
    (0..lists.len())
        .map(|i| {
            lists
                .is_valid(i)
                .then(|| json_strings(&lists.value(i)))
                .transpose()
        })
        .collect()
}

/// One list of strings as a JSON array (nulls as `null`).
fn json_strings(items: &ArrayRef) -> anyhow::Result<String> {
    let items = datafusion::arrow::compute::cast(items, &DataType::Utf8)?;
    let items: Vec<Option<&str>> = items.as_string::<i32>().iter().collect();
    Ok(serde_json::to_string(&items)?)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{LargeStringBuilder, ListBuilder, StringBuilder};

    use super::*;

    fn operations() -> RecordBatch {
        let mut ops = ListBuilder::new(StringBuilder::new());
        ops.values().append_value("orient");
        ops.values().append_value("resize:\"thumb\"");
        ops.append(true);
        ops.append(false);
        let ops: ArrayRef = Arc::new(ops.finish());
        let ids: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
        RecordBatch::try_from_iter([("image_id", ids), ("operations", ops)]).unwrap()
    }

    fn written(batches: &[RecordBatch], schema: &SchemaRef, format: OutputFormat) -> String {
        let mut out = Vec::new();
        write_batches(&mut out, schema, batches, format).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_writes_a_list_of_strings_as_json_text() {
        let batch = operations();
        let csv = written(
            std::slice::from_ref(&batch),
            &batch.schema(),
            OutputFormat::Csv,
        );
        // The JSON text ["orient","resize:\"thumb\""], quoted for CSV; a null list is empty.
        assert_eq!(
            csv,
            concat!(
                "image_id,operations\n",
                r#"a,"[""orient"",""resize:\""thumb\""""]""#,
                "\nb,\n"
            )
        );
    }

    #[test]
    fn csv_writes_lists_of_any_string_type_as_json_text() {
        let mut ops = ListBuilder::new(LargeStringBuilder::new());
        ops.values().append_value("a,b");
        ops.values().append_value("c");
        ops.append(true);
        let ops: ArrayRef = Arc::new(ops.finish());
        let batch = RecordBatch::try_from_iter([("ops", ops)]).unwrap();
        let csv = written(
            std::slice::from_ref(&batch),
            &batch.schema(),
            OutputFormat::Csv,
        );
        // One element "a,b" and one "c", not three.
        assert_eq!(csv, concat!("ops\n", r#""[""a,b"",""c""]""#, "\n"));
    }

    #[test]
    fn a_result_without_rows_still_names_its_columns() {
        let schema = operations().schema();
        let table = written(&[], &schema, OutputFormat::Table);
        assert!(table.contains("| image_id | operations |"), "{table}");
        let csv = written(&[], &schema, OutputFormat::Csv);
        assert_eq!(csv, "image_id,operations\n");
    }
}
