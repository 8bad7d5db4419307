//! Rows of [`Cell`]s → an Arrow `RecordBatch` with the lake schema. Pure, no I/O.
//!
//! The mapper only produces cells that match their column's kind; a mismatch would be a bug,
//! and is written as null rather than panicking in the middle of a batch.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMillisecondBuilder,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::row::Cell;
use crate::schema::{arrow_schema, Kind, COLUMNS, TIMESTAMP_TZ};

/// Appends rows to one Arrow builder per column as they are mapped, so that no row outlives
/// its record; [`BatchBuilder::finish`] makes the `RecordBatch` with the lake schema.
#[derive(Debug)]
pub struct BatchBuilder {
    columns: Vec<ColumnBuilder>,
    rows: usize,
}

#[derive(Debug)]
enum ColumnBuilder {
    Str(StringBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMillisecondBuilder),
    StrList(ListBuilder<StringBuilder>),
}

impl BatchBuilder {
    /// Builders sized for about `rows` rows (they grow as needed).
    pub fn with_capacity(rows: usize) -> Self {
        let columns = COLUMNS
            .iter()
            .map(|column| match column.kind {
                Kind::Str => ColumnBuilder::Str(StringBuilder::with_capacity(rows, rows * 16)),
                Kind::Int32 => ColumnBuilder::Int32(Int32Builder::with_capacity(rows)),
                Kind::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(rows)),
                Kind::Float64 => ColumnBuilder::Float64(Float64Builder::with_capacity(rows)),
                Kind::Bool => ColumnBuilder::Bool(BooleanBuilder::with_capacity(rows)),
                Kind::TimestampMillis | Kind::TimestampSeconds => ColumnBuilder::Timestamp(
                    TimestampMillisecondBuilder::with_capacity(rows).with_timezone(TIMESTAMP_TZ),
                ),
                Kind::StrList => {
                    ColumnBuilder::StrList(ListBuilder::with_capacity(StringBuilder::new(), rows))
                }
            })
            .collect();
        BatchBuilder { columns, rows: 0 }
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Appends one row (cells in [`COLUMNS`] order).
    pub fn append(&mut self, cells: &[Cell<'_>]) {
        for (builder, cell) in self.columns.iter_mut().zip(cells) {
            match (builder, cell) {
                (ColumnBuilder::Str(b), Cell::Str(s)) => b.append_value(s),
                (ColumnBuilder::Str(b), _) => b.append_null(),
                (ColumnBuilder::Int32(b), Cell::I32(v)) => b.append_value(*v),
                (ColumnBuilder::Int32(b), _) => b.append_null(),
                (ColumnBuilder::Int64(b), Cell::I64(v)) => b.append_value(*v),
                (ColumnBuilder::Int64(b), _) => b.append_null(),
                (ColumnBuilder::Float64(b), Cell::F64(v)) => b.append_value(*v),
                (ColumnBuilder::Float64(b), _) => b.append_null(),
                (ColumnBuilder::Bool(b), Cell::Bool(v)) => b.append_value(*v),
                (ColumnBuilder::Bool(b), _) => b.append_null(),
                (ColumnBuilder::Timestamp(b), Cell::Timestamp(v)) => b.append_value(*v),
                (ColumnBuilder::Timestamp(b), _) => b.append_null(),
                (ColumnBuilder::StrList(b), Cell::List(items)) => {
                    for item in items {
                        b.values().append_value(item);
                    }
                    b.append(true);
                }
                (ColumnBuilder::StrList(b), _) => b.append(false),
            }
        }
        self.rows += 1;
    }

    /// The values so far of a string column, as (value bytes, offsets); `None` for other
    /// kinds. For checking the order of rows without copying them out.
    pub fn str_values(&self, column: usize) -> Option<(&[u8], &[i32])> {
        match self.columns.get(column)? {
            ColumnBuilder::Str(b) => Some((b.values_slice(), b.offsets_slice())),
            _ => None,
        }
    }

    /// The batch, with the lake schema.
    pub fn finish(self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = self
            .columns
            .into_iter()
            .map(|builder| -> ArrayRef {
                match builder {
                    ColumnBuilder::Str(mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Int32(mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Int64(mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Float64(mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Bool(mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Timestamp(mut b) => Arc::new(b.finish()),
                    ColumnBuilder::StrList(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        RecordBatch::try_new(arrow_schema(), columns)
    }
}
