//! Rows of [`Cell`]s → an Arrow `RecordBatch` with the lake schema. Pure, no I/O.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMillisecondBuilder,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::map::Cell;
use crate::schema::{arrow_schema, Kind, COLUMNS, TIMESTAMP_TZ};

/// Builds a batch from rows whose cells are in [`COLUMNS`] order.
///
/// The mapper only produces cells that match their column's kind; a mismatch would be a bug,
/// and is written as null rather than panicking in the middle of a batch.
pub fn rows_to_batch<'a, 'b: 'a, I>(rows: I, len_hint: usize) -> Result<RecordBatch, ArrowError>
where
    I: IntoIterator<Item = &'a [Cell<'b>]> + Clone,
{
    let columns: Vec<ArrayRef> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, column)| {
            build_column(
                column.kind,
                rows.clone().into_iter().map(|r| &r[i]),
                len_hint,
            )
        })
        .collect();
    RecordBatch::try_new(arrow_schema(), columns)
}

fn build_column<'a, 'b: 'a>(
    kind: Kind,
    cells: impl Iterator<Item = &'a Cell<'b>>,
    len: usize,
) -> ArrayRef {
    match kind {
        Kind::Str => {
            let mut b = StringBuilder::with_capacity(len, len * 16);
            for cell in cells {
                match cell {
                    Cell::Str(s) => b.append_value(s),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        Kind::Int32 => {
            let mut b = Int32Builder::with_capacity(len);
            for cell in cells {
                b.append_option(match cell {
                    Cell::I32(v) => Some(*v),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        Kind::Int64 => {
            let mut b = Int64Builder::with_capacity(len);
            for cell in cells {
                b.append_option(match cell {
                    Cell::I64(v) => Some(*v),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        Kind::Float64 => {
            let mut b = Float64Builder::with_capacity(len);
            for cell in cells {
                b.append_option(match cell {
                    Cell::F64(v) => Some(*v),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        Kind::Bool => {
            let mut b = BooleanBuilder::with_capacity(len);
            for cell in cells {
                b.append_option(match cell {
                    Cell::Bool(v) => Some(*v),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        Kind::TimestampMillis | Kind::TimestampSeconds => {
            let mut b = TimestampMillisecondBuilder::with_capacity(len).with_timezone(TIMESTAMP_TZ);
            for cell in cells {
                b.append_option(match cell {
                    Cell::Timestamp(v) => Some(*v),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        Kind::StrList => {
            let mut b = ListBuilder::with_capacity(StringBuilder::new(), len);
            for cell in cells {
                match cell {
                    Cell::List(items) => {
                        for item in items {
                            b.values().append_value(item);
                        }
                        b.append(true);
                    }
                    _ => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
    }
}
