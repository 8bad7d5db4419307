//! Reconcile: the lake's state of every image as of a full export's time against the items of
//! that export. Both sides go through the same mapping (the export's lines through the reader
//! core and [`crate::row`], the lake's rows as the exporter wrote them), and each image column
//! is compared as one canonical text per value, kept as a 64-bit hash: a table of a million
//! images takes a few hundred MB on each side. Images that differ are read again, only they,
//! to show their values.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, TimestampMillisecondArray,
};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde::Serialize;

use super::{Export, ExportError, ExportKind};
use crate::compact::{read_file, CompactError};
use crate::lake::Lake;
use crate::layout::{self, Partition};
use crate::reader::{self, RecordSink, Source};
use crate::record::StreamRecord;
use crate::row::{self, Cell, MapContext, MapError};
use crate::schema::{column_index, recency_key, Kind, Origin, COLUMNS, HASH_KEY};

/// How far reconcile looks.
#[derive(Debug, Clone, Copy)]
pub struct ReconcileOptions {
    /// Lake partitions from this long before the export time are read: an image's latest
    /// change must be in them (images live 7 days by default; TTL deletions can lag days).
    pub window_ms: i64,
    /// Images of each kind of drift shown with their values.
    pub examples: usize,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        ReconcileOptions {
            window_ms: 10 * 24 * 3_600_000,
            examples: 10,
        }
    }
}

/// One image the lake and the table disagree on.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub image_id: String,
    /// `missing_from_lake`, `differs` or `gone_from_table`.
    pub kind: &'static str,
    /// Differing columns: (column, lake value, table value); `null` for absent.
    pub columns: Vec<(String, Option<String>, Option<String>)>,
}

/// What reconcile found. `drift` is the number of images in the first three counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconcileReport {
    pub export_arn: String,
    pub export_time: String,
    pub table_items: u64,
    /// Images the lake holds alive (not removed) as of the export time.
    pub lake_images: u64,
    /// Items of the table with no row in the lake, or whose last row is a removal.
    pub missing_from_lake: u64,
    /// Items whose attributes differ from the lake's last row.
    pub differs: u64,
    /// Images the lake holds alive that the table no longer has, and that had not expired.
    pub gone_from_table: u64,
    /// Images the lake holds alive that the table no longer has because they had expired
    /// (DynamoDB TTL removed them; the REMOVE is on its way): not drift.
    pub expired: u64,
    /// Items whose only difference is a change in the export time's second (the stream's
    /// times are whole seconds, so that change may be after the export): not drift.
    pub changed_at_export_time: u64,
    /// Lines of the export that could not be mapped (quarantined by a backfill too).
    pub unmappable_lines: u64,
    pub drift: u64,
    pub examples: Vec<Difference>,
}

/// Why reconcile could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("reconcile needs a full export (a snapshot of the table); {0} is incremental")]
    Incremental(String),
    #[error("reading the lake: {0}")]
    Lake(#[from] CompactError),
    #[error("listing the lake: {0}")]
    List(#[from] object_store::Error),
    #[error(transparent)]
    Read(#[from] reader::ReadError),
}

/// Columns compared: the item's attributes (image columns but the key) and the extras.
fn compared() -> Vec<usize> {
    COLUMNS
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            (c.origin == Origin::Image && c.name != HASH_KEY) || c.origin == Origin::Extra
        })
        .map(|(i, _)| i)
        .collect()
}

fn hash_text(text: Option<&str>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// A cell as text, the same text [`array_text`] gives for the value the writer made of it.
fn cell_text(cell: &Cell<'_>) -> Option<String> {
    match cell {
        Cell::Null => None,
        Cell::Str(s) => Some(s.to_string()),
        Cell::I32(n) => Some(n.to_string()),
        Cell::I64(n) | Cell::Timestamp(n) => Some(n.to_string()),
        Cell::F64(f) => Some(f.to_string()),
        Cell::Bool(b) => Some(b.to_string()),
        Cell::List(items) => serde_json::to_string(items).ok(),
    }
}

/// Row `i` of a lake column of `kind` as text (see [`cell_text`]).
fn array_text(column: &dyn Array, kind: Kind, i: usize) -> Option<String> {
    if column.is_null(i) {
        return None;
    }
    let any = column.as_any();
    match kind {
        Kind::Str => any
            .downcast_ref::<StringArray>()
            .map(|a| a.value(i).to_owned()),
        Kind::Int32 => any
            .downcast_ref::<Int32Array>()
            .map(|a| a.value(i).to_string()),
        Kind::Int64 => any
            .downcast_ref::<Int64Array>()
            .map(|a| a.value(i).to_string()),
        Kind::Float64 => any
            .downcast_ref::<Float64Array>()
            .map(|a| a.value(i).to_string()),
        Kind::Bool => any
            .downcast_ref::<BooleanArray>()
            .map(|a| a.value(i).to_string()),
        Kind::TimestampMillis | Kind::TimestampSeconds => any
            .downcast_ref::<TimestampMillisecondArray>()
            .map(|a| a.value(i).to_string()),
        Kind::StrList => any.downcast_ref::<ListArray>().and_then(|a| {
            let items = a.value(i);
            let strings = items.as_string_opt::<i32>()?;
            let values: Vec<&str> = (0..strings.len()).map(|j| strings.value(j)).collect();
            serde_json::to_string(&values).ok()
        }),
    }
}

/// The table's side: each item's compared columns, hashed (or as text for `keep`).
struct TableSink<'k> {
    ctx: MapContext,
    columns: Vec<usize>,
    items: HashMap<String, Vec<u64>>,
    keep: &'k HashSet<String>,
    kept: HashMap<String, Vec<Option<String>>>,
    unmappable: u64,
    cells: Vec<Cell<'static>>,
}

impl RecordSink for TableSink<'_> {
    fn record(&mut self, record: &mut StreamRecord<'_>, _raw: &str) {
        let mut cells: Vec<Cell<'_>> = std::mem::take(&mut self.cells);
        if row::map(record, self.ctx, &mut cells).is_ok() {
            if let Some(Cell::Str(id)) = column_index(HASH_KEY).map(|i| &cells[i]) {
                let id = id.to_string();
                let texts: Vec<Option<String>> =
                    self.columns.iter().map(|c| cell_text(&cells[*c])).collect();
                self.items.insert(
                    id.clone(),
                    texts.iter().map(|t| hash_text(t.as_deref())).collect(),
                );
                if self.keep.contains(&id) {
                    self.kept.insert(id, texts);
                }
            }
        } else {
            self.unmappable += 1;
        }
        cells.clear();
        self.cells = cells.into_iter().map(|_| Cell::Null).collect();
    }
    fn malformed(&mut self, _raw: &str, _error: MapError) {
        self.unmappable += 1;
    }
    fn not_json(&mut self, _line: &[u8], _error: String) {
        self.unmappable += 1;
    }
    fn discard(&mut self) {}
}

/// The lake's last row of an image up to the export time.
struct LakeState {
    event_time_ms: i64,
    snapshot: bool,
    sequence_number: String,
    removed: bool,
    expires_at_ms: Option<i64>,
    hashes: Vec<u64>,
}

/// Reads the export's items through the mapping; the table side.
async fn read_table<'k>(
    export: &Export,
    keep: &'k HashSet<String>,
    exported_at_ms: i64,
) -> Result<TableSink<'k>, ReconcileError> {
    let mut sink = TableSink {
        ctx: MapContext { exported_at_ms },
        columns: compared(),
        items: HashMap::new(),
        keep,
        kept: HashMap::new(),
        unmappable: 0,
        cells: Vec::with_capacity(COLUMNS.len()),
    };
    for file in &export.files {
        let mut data = export.open_data_file(file, &mut |_| {}).await?;
        let mut lines = Vec::new();
        let mut line = Vec::new();
        loop {
            let more = data.next_line(&mut line)?;
            if more {
                lines.push(std::mem::take(&mut line));
            }
            if lines.len() >= 10_000 || (!more && !lines.is_empty()) {
                let source = Source::ExportLines {
                    lines: &lines,
                    export: &export.context,
                    part: 0,
                };
                reader::read(source, &mut sink)?;
                lines.clear();
            }
            if !more {
                break;
            }
        }
        data.finish()?;
    }
    Ok(sink)
}

/// Reads the lake's rows of the window; the last state of every image at `until_ms`, and the
/// values of the images in `keep`.
async fn read_lake(
    lake: &Lake,
    from_ms: i64,
    until_ms: i64,
    keep: &HashSet<String>,
) -> Result<
    (
        HashMap<String, LakeState>,
        HashMap<String, Vec<Option<String>>>,
    ),
    ReconcileError,
> {
    let columns = compared();
    let (first, last) = (
        Partition::of_millis(from_ms.max(0)),
        Partition::of_millis(until_ms.max(0)),
    );
    let prefix = layout::table_prefix(&lake.root);
    let metas: Vec<_> = lake.store.list(Some(&prefix)).try_collect().await?;
    let mut states: HashMap<String, LakeState> = HashMap::new();
    let mut kept: HashMap<String, (i64, String, Vec<Option<String>>)> = HashMap::new();
    let index = |name: &str| column_index(name).unwrap_or(0);
    let (id_at, time_at, seq_at, name_at, expires_at) = (
        index(HASH_KEY),
        index("event_time"),
        index("sequence_number"),
        index("event_name"),
        index("expires_at"),
    );
    for meta in metas {
        let key = meta.location.as_ref();
        let Some(partition) = Partition::of_key(key) else {
            continue;
        };
        if !key.ends_with(".parquet")
            || first.is_some_and(|f| partition < f)
            || last.is_some_and(|l| partition > l)
        {
            continue;
        }
        let body = lake.store.get(&meta.location).await?.bytes().await?;
        for batch in read_file(key, body)? {
            scan_rows(
                &batch,
                until_ms,
                &columns,
                keep,
                (id_at, time_at, seq_at, name_at, expires_at),
                &mut states,
                &mut kept,
            );
        }
    }
    let kept = kept
        .into_iter()
        .map(|(id, (_, _, values))| (id, values))
        .collect();
    Ok((states, kept))
}

#[allow(clippy::too_many_arguments)]
fn scan_rows(
    batch: &RecordBatch,
    until_ms: i64,
    columns: &[usize],
    keep: &HashSet<String>,
    (id_at, time_at, seq_at, name_at, expires_at): (usize, usize, usize, usize, usize),
    states: &mut HashMap<String, LakeState>,
    kept: &mut HashMap<String, (i64, String, Vec<Option<String>>)>,
) {
    let text = |column: usize, i: usize| {
        array_text(batch.column(column).as_ref(), COLUMNS[column].kind, i)
    };
    for i in 0..batch.num_rows() {
        let (Some(id), Some(time), Some(seq)) = (text(id_at, i), text(time_at, i), text(seq_at, i))
        else {
            continue;
        };
        let Ok(time) = time.parse::<i64>() else {
            continue;
        };
        if time > until_ms {
            continue;
        }
        // The one ordering rule of the views (schema::RECENCY_ORDER).
        let name = text(name_at, i);
        let key = recency_key(time, name.as_deref(), &seq);
        if states.get(&id).is_some_and(|s| {
            let name = if s.snapshot { "SNAPSHOT" } else { "" };
            key <= recency_key(s.event_time_ms, Some(name), &s.sequence_number)
        }) {
            continue;
        }
        let values: Vec<Option<String>> = columns.iter().map(|c| text(*c, i)).collect();
        if keep.contains(&id) {
            kept.insert(id.clone(), (time, seq.clone(), values.clone()));
        }
        states.insert(
            id,
            LakeState {
                event_time_ms: time,
                snapshot: name.as_deref() == Some("SNAPSHOT"),
                sequence_number: seq,
                removed: name.as_deref() == Some("REMOVE"),
                expires_at_ms: text(expires_at, i).and_then(|t| t.parse().ok()),
                hashes: values.iter().map(|v| hash_text(v.as_deref())).collect(),
            },
        );
    }
}

/// Compares the lake with the full export `export`.
pub async fn reconcile(
    lake: &Lake,
    export: &Export,
    options: ReconcileOptions,
) -> Result<ReconcileReport, ReconcileError> {
    let ExportKind::Full { export_time_ms } = export.context.kind else {
        return Err(ReconcileError::Incremental(export.location.clone()));
    };
    let none = HashSet::new();
    let table = read_table(export, &none, export_time_ms).await?;
    let (lake_states, _) = read_lake(
        lake,
        export_time_ms - options.window_ms,
        export_time_ms,
        &none,
    )
    .await?;
    let columns = compared();
    let mut report = ReconcileReport {
        export_arn: export.summary.export_arn.clone(),
        export_time: export
            .summary
            .export_time
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        table_items: table.items.len() as u64,
        unmappable_lines: table.unmappable,
        ..ReconcileReport::default()
    };
    // Image id → (kind, differing column positions).
    let mut found: BTreeMap<String, (&'static str, Vec<usize>)> = BTreeMap::new();
    let export_second = export_time_ms - export_time_ms.rem_euclid(1000);
    for (id, hashes) in &table.items {
        match lake_states.get(id) {
            None => {
                found.insert(id.clone(), ("missing_from_lake", Vec::new()));
            }
            Some(state) if state.removed => {
                found.insert(id.clone(), ("missing_from_lake", Vec::new()));
            }
            Some(state) => {
                let differing: Vec<usize> = (0..columns.len())
                    .filter(|i| state.hashes[*i] != hashes[*i])
                    .collect();
                if differing.is_empty() {
                    continue;
                }
                if state.event_time_ms >= export_second {
                    report.changed_at_export_time += 1;
                } else {
                    found.insert(id.clone(), ("differs", differing));
                }
            }
        }
    }
    for (id, state) in &lake_states {
        if state.removed {
            continue;
        }
        report.lake_images += 1;
        if table.items.contains_key(id) {
            continue;
        }
        if state.expires_at_ms.is_some_and(|e| e <= export_time_ms) {
            report.expired += 1;
        } else {
            found.insert(id.clone(), ("gone_from_table", Vec::new()));
        }
    }
    for (kind, _) in found.values() {
        match *kind {
            "missing_from_lake" => report.missing_from_lake += 1,
            "differs" => report.differs += 1,
            _ => report.gone_from_table += 1,
        }
    }
    report.drift = found.len() as u64;
    drop(table);
    drop(lake_states);

    // The values of a few images of each kind, read again.
    let mut keep = HashSet::new();
    let mut per_kind: HashMap<&'static str, usize> = HashMap::new();
    for (id, (kind, _)) in &found {
        let n = per_kind.entry(kind).or_default();
        if *n < options.examples {
            *n += 1;
            keep.insert(id.clone());
        }
    }
    if !keep.is_empty() {
        let table = read_table(export, &keep, export_time_ms).await?;
        let (_, lake_values) = read_lake(
            lake,
            export_time_ms - options.window_ms,
            export_time_ms,
            &keep,
        )
        .await?;
        for (id, (kind, differing)) in &found {
            if !keep.contains(id) {
                continue;
            }
            let lake_row = lake_values.get(id);
            let table_row = table.kept.get(id);
            let shown: Vec<usize> = if differing.is_empty() {
                (0..columns.len()).collect()
            } else {
                differing.clone()
            };
            report.examples.push(Difference {
                image_id: id.clone(),
                kind,
                columns: shown
                    .into_iter()
                    .map(|i| {
                        (
                            COLUMNS[columns[i]].name.to_owned(),
                            lake_row.and_then(|r| r[i].clone()),
                            table_row.and_then(|r| r[i].clone()),
                        )
                    })
                    .filter(|(_, lake, table)| lake.is_some() || table.is_some())
                    .collect(),
            });
        }
    }
    Ok(report)
}
