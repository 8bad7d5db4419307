//! Arrow → Parquet bytes with the lake's writer settings. Pure, no I/O.

use std::io::Write;
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::buffer::Buffer;
use arrow::datatypes::{
    ArrowNativeType, ArrowPrimitiveType, DataType, Field, Float64Type, Int32Type, Int64Type,
    TimeUnit, TimestampMillisecondType,
};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::{
    add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter, ArrowWriter, ARROW_SCHEMA_META_KEY,
};
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::{get_column_writer, ColumnWriter, ColumnWriterImpl};
use parquet::data_type::{ByteArray, DataType as ParquetType};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::SchemaDescriptor;

/// Rows per row group. Stream batches are far smaller; compaction writes files of ~128 MB,
/// whose row groups then stay in the tens of MB that Athena and Spectrum split well on.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Column compression of the lake files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// ZSTD level 1 (pyarrow's default): small files, fast to write and read; every lake
    /// reader supports it. Compaction rewrites files anyway.
    #[default]
    Zstd,
    /// Snappy: for readers that lack ZSTD.
    Snappy,
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "zstd" => Ok(Compression::Zstd),
            "snappy" => Ok(Compression::Snappy),
            other => Err(format!("unknown compression `{other}`: use zstd or snappy")),
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compression::Zstd => "zstd",
            Compression::Snappy => "snappy",
        })
    }
}

/// The lake's settings for a file of about `rows` rows, as `ArrowWriter` takes them.
pub fn writer_properties(compression: Compression, rows: usize) -> WriterProperties {
    let codec = match compression {
        Compression::Zstd => zstd_codec(),
        Compression::Snappy => PqCompression::SNAPPY,
    };
    properties(codec, rows, None)
}

/// ZSTD at [`ZSTD_LEVEL`], as the column chunks' metadata records it.
fn zstd_codec() -> PqCompression {
    // Level 1 is always valid; `try_new` only fails outside 1..=22.
    PqCompression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default())
}

/// ZSTD level 1 is pyarrow's default.
const ZSTD_LEVEL: i32 = 1;

/// The lake's writer settings with `codec`; `arrow_schema` is the Arrow schema metadata that
/// `ArrowWriter` adds itself and [`encode`] adds here.
fn properties(
    codec: PqCompression,
    rows: usize,
    arrow_schema: Option<KeyValue>,
) -> WriterProperties {
    // Compression, page-level statistics (which also writes the column and offset indexes,
    // the "page index"), and each column's dictionary and bloom filter flags.
    let mut builder = WriterProperties::builder();
    for column in crate::schema::COLUMNS {
        if !column.dictionary {
            builder = builder.set_column_dictionary_enabled(column.name.into(), false);
        }
        if column.bloom_filter {
            builder = builder
                .set_column_bloom_filter_enabled(column.name.into(), true)
                // Sized for this file: the default (1M distinct values) would make every
                // small stream file carry, and zero, about a megabyte of filter.
                .set_column_bloom_filter_max_ndv(column.name.into(), rows.max(1) as u64);
        }
    }
    builder
        .set_compression(codec)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_key_value_metadata(Some(
            std::iter::once(KeyValue::new(
                "imglake.table".to_owned(),
                crate::schema::TABLE_NAME.to_owned(),
            ))
            .chain(arrow_schema)
            .collect(),
        ))
        .build()
}

/// The lake schema as parquet writes it, made once.
struct LakeSchema {
    descriptor: SchemaDescriptor,
    /// `ARROW:schema`, as `ArrowWriter` writes it.
    arrow_schema_metadata: KeyValue,
}

fn lake_schema() -> Result<&'static LakeSchema, ParquetError> {
    static LAKE: OnceLock<Result<LakeSchema, String>> = OnceLock::new();
    LAKE.get_or_init(|| {
        let schema = crate::schema::arrow_schema();
        let mut props = WriterProperties::builder().build();
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let arrow_schema_metadata = props
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|kv| kv.key == ARROW_SCHEMA_META_KEY))
            .cloned()
            .ok_or("parquet added no Arrow schema metadata")?;
        let descriptor = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)
            .map_err(|e| e.to_string())?;
        Ok(LakeSchema {
            descriptor,
            arrow_schema_metadata,
        })
    })
    .as_ref()
    .map_err(|e| ParquetError::General(e.clone()))
}

/// Encodes a batch with the lake schema as one Parquet file in memory: the file parquet's
/// `ArrowWriter` writes with [`writer_properties`] (schema, Arrow schema metadata, encodings,
/// statistics, page index, bloom filter).
///
/// With ZSTD, every page is compressed with one ZSTD context per file: `ArrowWriter` creates
/// a ZSTD compressor and decompressor for each column writer, 37 per file here, and zstd
/// probes the CPU (CPUID) for each, which virtual machines trap, so on small stream files
/// the contexts cost more than the compression (BENCHMARKS.md). The file is
/// still byte for byte `ArrowWriter`'s (tested from a few rows to past a row group), except
/// that in a list column whose levels `ArrowWriter` compacts (see [`uniform_levels`]) pages
/// past 1 024 rows may end at other rows.
pub fn encode(batch: &RecordBatch, compression: Compression) -> Result<Bytes, ParquetError> {
    let schema = crate::schema::arrow_schema();
    if let Some((i, field)) = batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .find(|(i, field)| schema.fields().get(*i) != Some(*field))
    {
        return Err(ParquetError::General(format!(
            "column {i} of the batch is {field:?}; the image_events schema has {:?} there",
            schema.fields().get(i)
        )));
    }
    if batch.num_columns() != schema.fields().len() {
        return Err(ParquetError::General(format!(
            "the batch has {} columns; the image_events schema has {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    match compression {
        Compression::Zstd => encode_zstd(batch),
        // Snappy's codec is cheap to set up, and ArrowWriter's own encoders are faster than
        // parquet's typed column writers (BENCHMARKS.md).
        Compression::Snappy => encode_with_arrow_writer(batch, compression),
    }
}

/// The file parquet's `ArrowWriter` writes with [`writer_properties`]: what [`encode`] writes
/// for Snappy, and the peer its ZSTD path is tested and measured against.
pub fn encode_with_arrow_writer(
    batch: &RecordBatch,
    compression: Compression,
) -> Result<Bytes, ParquetError> {
    let props = writer_properties(compression, batch.num_rows());
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props))?;
    writer.write(batch)?;
    Ok(Bytes::from(writer.into_inner()?))
}

/// [`encode`] with ZSTD: parquet's column writers write plain pages, [`ZstdPages`]
/// compresses them with one context, and the chunk metadata then names ZSTD.
fn encode_zstd(batch: &RecordBatch) -> Result<Bytes, ParquetError> {
    let lake = lake_schema()?;
    let parquet_schema = &lake.descriptor;
    let rows = batch.num_rows();
    let file_props = properties(zstd_codec(), rows, Some(lake.arrow_schema_metadata.clone()));
    let column_props = Arc::new(properties(PqCompression::UNCOMPRESSED, rows, None));
    // ArrowWriter hands a column whose levels are all alike (no nulls, or only nulls) to its
    // column writer in runs of up to a page's row limit, and others in runs of
    // `write_batch_size`; a page can only end between runs. The typed writers always take
    // levels one by one, so such a column gets the larger runs through its properties.
    let uniform_props = Arc::new(
        WriterProperties::clone(&column_props)
            .into_builder()
            .set_write_batch_size(column_props.data_page_row_count_limit())
            .build(),
    );
    let mut zstd = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
    let mut writer = SerializedFileWriter::new(
        Vec::new(),
        parquet_schema.root_schema_ptr(),
        Arc::new(file_props),
    )?;
    let schema = batch.schema();
    let mut offset = 0;
    while offset < batch.num_rows() {
        let len = ROW_GROUP_ROWS.min(batch.num_rows() - offset);
        let group = batch.slice(offset, len);
        let mut row_group = writer.next_row_group()?;
        for (i, column) in group.columns().iter().enumerate() {
            let mut sink = TrackedWrite::new(Vec::new());
            let pages = ZstdPages {
                zstd: &mut zstd,
                sink: &mut sink,
            };
            let props = if uniform_levels(column) {
                &uniform_props
            } else {
                &column_props
            };
            let mut column_writer =
                get_column_writer(parquet_schema.column(i), props.clone(), Box::new(pages));
            let in_column = |e: ParquetError| {
                ParquetError::General(format!("column {}: {e}", schema.field(i).name()))
            };
            write_leaf(&mut column_writer, schema.field(i), column).map_err(in_column)?;
            let mut close = column_writer.close().map_err(in_column)?;
            close.metadata = close
                .metadata
                .into_builder()
                .set_compression(zstd_codec())
                .build()?;
            row_group.append_column(&Bytes::from(sink.into_inner()?), close)?;
        }
        row_group.close()?;
        offset += len;
    }
    Ok(Bytes::from(writer.into_inner()?))
}

/// Hands pages on to the chunk's bytes, each compressed with the file's one ZSTD context
/// (the column writer wrote it uncompressed).
struct ZstdPages<'a> {
    zstd: &'a mut zstd::bulk::Compressor<'static>,
    sink: &'a mut TrackedWrite<Vec<u8>>,
}

impl PageWriter for ZstdPages<'_> {
    fn write_page(&mut self, page: CompressedPage) -> Result<PageWriteSpec, ParquetError> {
        let page = compress_page(self.zstd, page)?;
        SerializedPageWriter::new(self.sink).write_page(page)
    }

    fn close(&mut self) -> Result<(), ParquetError> {
        self.sink.flush()?;
        Ok(())
    }
}

/// The page with its buffer ZSTD-compressed, as parquet's own codec would have written it:
/// the whole buffer of a (version 1) data page or dictionary page.
fn compress_page(
    zstd: &mut zstd::bulk::Compressor<'static>,
    page: CompressedPage,
) -> Result<CompressedPage, ParquetError> {
    let uncompressed_size = page.uncompressed_size();
    let mut compressed = page.compressed_page().clone();
    match &mut compressed {
        Page::DataPage { buf, .. } | Page::DictionaryPage { buf, .. } => {
            let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(buf.len()));
            zstd.compress_to_buffer(&buf[..], &mut out)?;
            *buf = Bytes::from(out);
        }
        // The lake's settings write version 1 data pages; a version 2 page would keep its
        // levels uncompressed, which this writer does not do.
        Page::DataPageV2 { .. } => {
            return Err(ParquetError::General(
                "the lake writer compresses version 1 data pages only".to_owned(),
            ))
        }
    }
    Ok(CompressedPage::new(compressed, uncompressed_size))
}

/// Writes one column of the lake schema (a flat column, or the list of strings) with its
/// definition and repetition levels, as `ArrowWriter` would.
fn write_leaf(
    writer: &mut ColumnWriter<'_>,
    field: &Field,
    column: &ArrayRef,
) -> Result<(), ParquetError> {
    let unexpected = || {
        ParquetError::General(format!(
            "column {} has type {} where the lake schema has {}",
            field.name(),
            column.data_type(),
            field.data_type()
        ))
    };
    match (writer, column.data_type()) {
        (ColumnWriter::ByteArrayColumnWriter(w), DataType::Utf8) => {
            let array = column.as_string_opt::<i32>().ok_or_else(unexpected)?;
            let values = byte_arrays(array);
            w.write_batch(&values, Some(&def_levels(array)), None)?;
        }
        (ColumnWriter::ByteArrayColumnWriter(w), DataType::List(item))
            if item.data_type() == &DataType::Utf8 =>
        {
            let list = column.as_list_opt::<i32>().ok_or_else(unexpected)?;
            let items = list
                .values()
                .as_string_opt::<i32>()
                .ok_or_else(unexpected)?;
            // Levels of an optional list of optional strings (max definition 3): a null list
            // is 0, an empty list 1, a null item 2, an item 3; the first item of a row has
            // repetition level 0, the others 1. Only the items of the rows' own ranges count:
            // a null list may still cover items, and a sliced list's child is not sliced.
            let offsets = list.value_offsets();
            let covered = offsets.last().map_or(0, |&last| last - offsets[0]) as usize;
            let mut def = Vec::with_capacity(covered + list.len());
            let mut rep = Vec::with_capacity(def.capacity());
            let mut values = Vec::with_capacity(covered);
            let item = string_values(items);
            for row in 0..list.len() {
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                if list.is_null(row) {
                    def.push(0);
                    rep.push(0);
                } else if start == end {
                    def.push(1);
                    rep.push(0);
                } else {
                    for i in start..end {
                        rep.push(i16::from(i != start));
                        if items.is_valid(i) {
                            def.push(3);
                            values.push(item(i));
                        } else {
                            def.push(2);
                        }
                    }
                }
            }
            w.write_batch(&values, Some(&def), Some(&rep))?;
        }
        (ColumnWriter::Int32ColumnWriter(w), DataType::Int32) => {
            write_primitive::<_, Int32Type>(w, column).ok_or_else(unexpected)??
        }
        (ColumnWriter::Int64ColumnWriter(w), DataType::Int64) => {
            write_primitive::<_, Int64Type>(w, column).ok_or_else(unexpected)??
        }
        (ColumnWriter::Int64ColumnWriter(w), DataType::Timestamp(TimeUnit::Millisecond, _)) => {
            write_primitive::<_, TimestampMillisecondType>(w, column).ok_or_else(unexpected)??
        }
        (ColumnWriter::DoubleColumnWriter(w), DataType::Float64) => {
            write_primitive::<_, Float64Type>(w, column).ok_or_else(unexpected)??
        }
        (ColumnWriter::BoolColumnWriter(w), DataType::Boolean) => {
            let array = column.as_boolean_opt().ok_or_else(unexpected)?;
            let values = non_null(array, array.iter().flatten());
            w.write_batch(&values, Some(&def_levels(array)), None)?;
        }
        _ => return Err(unexpected()),
    }
    Ok(())
}

/// Whether `ArrowWriter` would hand this column's levels over as one run of one value: a
/// column of nulls only, or a flat column without a null buffer. (It does for a few more
/// list columns, such as one of empty lists only; there this writer's pages may end at
/// other rows past 1 024 rows.)
fn uniform_levels(column: &ArrayRef) -> bool {
    match column.logical_nulls() {
        Some(nulls) => nulls.null_count() == nulls.len(),
        None => !matches!(column.data_type(), DataType::List(_)),
    }
}

/// Definition levels of a flat column (all of the lake's are nullable): 1 for a value, 0 for
/// a null.
fn def_levels(array: &dyn Array) -> Vec<i16> {
    match array.logical_nulls() {
        Some(nulls) => nulls.iter().map(i16::from).collect(),
        None => vec![1; array.len()],
    }
}

/// Writes a primitive column's non-null values with its definition levels; `None` when the
/// column is not an array of `P`.
fn write_primitive<T, P>(
    writer: &mut ColumnWriterImpl<'_, T>,
    column: &ArrayRef,
) -> Option<Result<(), ParquetError>>
where
    T: ParquetType,
    T::T: ArrowNativeType,
    P: ArrowPrimitiveType<Native = T::T>,
{
    let array = column.as_primitive_opt::<P>()?;
    let levels = def_levels(array);
    let written = if array.null_count() == 0 {
        // Every value, straight from the array.
        let all: &[T::T] = array.values();
        writer.write_batch(all, Some(&levels), None)
    } else {
        let values = non_null(array, array.iter().flatten());
        writer.write_batch(&values, Some(&levels), None)
    };
    Some(written.map(drop))
}

/// The non-null values of a string array as parquet byte arrays.
fn byte_arrays(array: &StringArray) -> Vec<ByteArray> {
    let value = string_values(array);
    non_null(
        array,
        (0..array.len()).filter(|&i| array.is_valid(i)).map(value),
    )
}

/// An array's non-null `values` in one vector, sized once (the filtering iterators that
/// yield them do not know their length).
fn non_null<T>(array: &dyn Array, values: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = Vec::with_capacity(array.len() - array.null_count());
    out.extend(values);
    out
}

/// The value at an index of a string array as a parquet byte array: a slice of the array's
/// own value buffer, not a copy.
fn string_values(array: &StringArray) -> impl Fn(usize) -> ByteArray + '_ {
    let offsets = array.value_offsets();
    let data = Bytes::from_owner(ValueBytes(array.values().clone()));
    move |i| ByteArray::from(data.slice(offsets[i] as usize..offsets[i + 1] as usize))
}

/// An Arrow buffer as the owner of a `Bytes`.
struct ValueBytes(Buffer);

impl AsRef<[u8]> for ValueBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        BooleanArray, Float64Array, Int32Array, Int64Array, ListBuilder, StringBuilder,
        TimestampMillisecondArray,
    };
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use proptest::prelude::*;

    use crate::schema::{arrow_schema, Kind, COLUMNS, TIMESTAMP_TZ};

    /// One column's values, drawn per kind; `None` is null. Few distinct strings, so that
    /// dictionary columns have repeats.
    fn cells(kind: Kind, rows: usize) -> BoxedStrategy<ArrayRef> {
        let text = || prop_oneof![Just(String::new()), "[a-c]{1,3}", "[a-zé😀]{0,12}"];
        match kind {
            Kind::Str => prop::collection::vec(prop::option::of(text()), rows)
                .prop_map(|v| Arc::new(StringArray::from(v)) as ArrayRef)
                .boxed(),
            Kind::Int32 => prop::collection::vec(prop::option::of(any::<i32>()), rows)
                .prop_map(|v| Arc::new(Int32Array::from(v)) as ArrayRef)
                .boxed(),
            Kind::Int64 => prop::collection::vec(prop::option::of(any::<i64>()), rows)
                .prop_map(|v| Arc::new(Int64Array::from(v)) as ArrayRef)
                .boxed(),
            Kind::Float64 => prop::collection::vec(
                prop::option::of(prop_oneof![any::<f64>(), Just(f64::NAN), Just(-0.0)]),
                rows,
            )
            .prop_map(|v| Arc::new(Float64Array::from(v)) as ArrayRef)
            .boxed(),
            Kind::Bool => prop::collection::vec(prop::option::of(any::<bool>()), rows)
                .prop_map(|v| Arc::new(BooleanArray::from(v)) as ArrayRef)
                .boxed(),
            Kind::TimestampMillis | Kind::TimestampSeconds => {
                prop::collection::vec(prop::option::of(any::<i64>()), rows)
                    .prop_map(|v| {
                        Arc::new(TimestampMillisecondArray::from(v).with_timezone(TIMESTAMP_TZ))
                            as ArrayRef
                    })
                    .boxed()
            }
            Kind::StrList => prop::collection::vec(
                prop::option::of(prop::collection::vec(prop::option::of(text()), 0..4)),
                rows,
            )
            .prop_map(|rows| {
                let mut b = ListBuilder::new(StringBuilder::new());
                for row in rows {
                    match row {
                        Some(items) => {
                            for item in items {
                                b.values().append_option(item);
                            }
                            b.append(true);
                        }
                        None => b.append(false),
                    }
                }
                Arc::new(b.finish()) as ArrayRef
            })
            .boxed(),
        }
    }

    fn batches() -> impl Strategy<Value = RecordBatch> {
        (0usize..60).prop_flat_map(|rows| {
            COLUMNS
                .iter()
                .map(|c| cells(c.kind, rows))
                .collect::<Vec<_>>()
                .prop_map(|columns| {
                    RecordBatch::try_new(arrow_schema(), columns).expect("lake schema")
                })
        })
    }

    fn arrow_writer(batch: &RecordBatch) -> Bytes {
        encode_with_arrow_writer(batch, Compression::Zstd).unwrap()
    }

    fn read(file: Bytes) -> Vec<RecordBatch> {
        ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// A batch of `rows` rows: string columns from `text` (None: null), int32 columns
    /// counting, every other column null.
    fn large_batch(rows: usize, text: impl Fn(usize) -> Option<String>) -> RecordBatch {
        let columns = COLUMNS
            .iter()
            .map(|c| -> ArrayRef {
                match c.kind {
                    Kind::Str => Arc::new(StringArray::from_iter((0..rows).map(&text))),
                    Kind::Int32 => Arc::new(Int32Array::from_iter_values(0..rows as i32)),
                    _ => arrow::array::new_null_array(&c.kind.arrow_type(), rows),
                }
            })
            .collect();
        RecordBatch::try_new(arrow_schema(), columns).unwrap()
    }

    /// Past [`ROW_GROUP_ROWS`] the file has a second row group, where `ArrowWriter` starts
    /// one too, and pages end where its pages end: past 20 000 rows (a page's row limit)
    /// for columns without nulls and columns of nulls, every 1 024 rows checked for others.
    #[test]
    fn large_files_are_arrow_writers_too() {
        let rows = ROW_GROUP_ROWS + 3;
        let batch = large_batch(rows, |i| (i % 7 != 0).then(|| format!("v{}", i % 1000)));
        let ours = encode(&batch, Compression::Zstd).unwrap();
        let metadata = ParquetRecordBatchReaderBuilder::try_new(ours.clone())
            .unwrap()
            .metadata()
            .clone();
        assert_eq!(metadata.num_row_groups(), 2);
        assert_eq!(metadata.row_group(1).num_rows(), 3);
        assert!(ours == arrow_writer(&batch), "files differ");
        let back = arrow::compute::concat_batches(&arrow_schema(), &read(ours)).unwrap();
        assert_eq!(back, batch);

        // Strings without nulls, just past a page's row limit; large strings, whose pages
        // end at the byte limit; and lists of them over several pages.
        let mut lists = ListBuilder::new(StringBuilder::new());
        for i in 0..3_000 {
            for j in 0..3 {
                lists.values().append_value(format!("{:0400}", i * 3 + j));
            }
            lists.append(i % 5 != 0);
        }
        let with_lists = large_batch(3_000, |_| None);
        let mut columns = with_lists.columns().to_vec();
        columns[crate::schema::column_index("operations").unwrap()] = Arc::new(lists.finish());
        for batch in [
            large_batch(20_001, |i| Some(format!("v{}", i % 1000))),
            large_batch(3_000, |i| Some(format!("{i:0600}"))),
            RecordBatch::try_new(arrow_schema(), columns).unwrap(),
        ] {
            let ours = encode(&batch, Compression::Zstd).unwrap();
            assert!(
                ours == arrow_writer(&batch),
                "files of {} rows differ",
                batch.num_rows()
            );
        }
    }

    /// A null list may still cover items of its child array (arrow allows it; `nullif` and
    /// IPC input make such lists): they are not values of the file.
    #[test]
    fn a_null_list_covering_items_writes_only_the_items_of_lists() {
        let items = Arc::new(StringArray::from(vec!["a", "b", "c"]));
        let list = arrow::array::ListArray::try_new(
            Arc::new(Field::new("item", DataType::Utf8, true)),
            arrow::buffer::OffsetBuffer::new(vec![0, 2, 3].into()),
            items,
            Some(arrow::buffer::NullBuffer::from(vec![false, true])),
        )
        .unwrap();
        let operations = crate::schema::column_index("operations").unwrap();
        let columns = COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| -> ArrayRef {
                if i == operations {
                    Arc::new(list.clone())
                } else {
                    arrow::array::new_null_array(&c.kind.arrow_type(), 2)
                }
            })
            .collect();
        let batch = RecordBatch::try_new(arrow_schema(), columns).unwrap();
        let back = read(encode(&batch, Compression::Zstd).unwrap());
        let back = back[0].column(operations).as_list::<i32>();
        assert!(back.is_null(0));
        let row = back.value(1);
        assert_eq!(
            row.as_string::<i32>().iter().collect::<Vec<_>>(),
            [Some("c")]
        );
    }

    #[test]
    fn a_batch_of_another_schema_is_refused_with_the_column_named() {
        let batch = large_batch(1, |_| None);
        let fewer = batch.project(&[0, 1]).unwrap();
        let err = encode(&fewer, Compression::Zstd).unwrap_err().to_string();
        assert!(err.contains("has 2 columns"), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The ZSTD file is byte for byte the one `ArrowWriter` writes: same pages, same
        /// ZSTD frames, same metadata, statistics, page index and bloom filter. Also for a
        /// batch sliced out of a larger one (compaction writes slices). (Snappy files are
        /// `ArrowWriter`'s own.)
        #[test]
        fn same_file_as_arrow_writer(batch in batches(), cut in 0usize..8) {
            let cut = cut.min(batch.num_rows());
            let sliced = batch.slice(cut, batch.num_rows() - cut);
            for batch in [&batch, &sliced] {
                let ours = encode(batch, Compression::Zstd).unwrap();
                let theirs = arrow_writer(batch);
                prop_assert!(ours == theirs, "files differ");
                let back = arrow::compute::concat_batches(&arrow_schema(), &read(ours)).unwrap();
                prop_assert_eq!(&back, batch);
            }
        }
    }
}
