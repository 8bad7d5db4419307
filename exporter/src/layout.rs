//! The lake's layout, in one place: where every object of the lake lives and what its name
//! says. Pure functions: the same rows always get the same key, so a replayed batch
//! overwrites its own objects instead of adding new ones.
//!
//! ```text
//! <root>/image_events/dt=YYYY-MM-DD/hour=HH/part-<stream>-<first seq>-<last seq>-<rows>.parquet
//! <root>/image_events/dt=YYYY-MM-DD/hour=HH/compacted-<first seq>-<last seq>-<rows>.parquet
//! <root>/image_events/dt=YYYY-MM-DD/hour=HH/export-<export id>-<part>-<batch>.parquet
//! <root>/_quarantine/image_events/part-<content digest>.jsonl
//! ```
//!
//! - [`Partition`]: the UTC hour of a row's event time, `dt=…/hour=…` in keys.
//! - [`StreamLabels`]: the `<stream>` of data files, a short hash of the stream's ARN.
//! - `<rows>`: [`rows_digest`] of the file's sequence numbers (event IDs for compacted files).

use chrono::{Datelike, NaiveDate};
use object_store::path::Path;
use sha2::{Digest, Sha256};

use crate::schema::TABLE_NAME;

/// Folder under the lake root that holds records which could not be mapped.
pub const QUARANTINE_DIR: &str = "_quarantine";

/// The Hive partition a row belongs to: the UTC hour of its event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partition {
    /// Hours since the Unix epoch.
    epoch_hour: i64,
}

impl Partition {
    /// The partition of `YYYY-MM-DD` at `hour`, if valid.
    pub fn of_date_hour(dt: &str, hour: u32) -> Option<Self> {
        let date = NaiveDate::parse_from_str(dt, "%Y-%m-%d").ok()?;
        let ms = date.and_hms_opt(hour, 0, 0)?.and_utc().timestamp_millis();
        Self::of_millis(ms)
    }

    /// The partition of an event time in epoch milliseconds (never before the epoch).
    pub fn of_millis(ms: i64) -> Option<Self> {
        (ms >= 0).then_some(Partition {
            epoch_hour: ms / 3_600_000,
        })
    }

    /// The partition named by a key's `dt=…/hour=…` segments (as in any lake object key, or
    /// `dt=2026-11-24/hour=09` alone).
    pub fn of_key(key: &str) -> Option<Self> {
        let mut dt = None;
        let mut hour = None;
        for segment in key.split('/') {
            if let Some(v) = segment.strip_prefix("dt=") {
                dt = Some(v);
            } else if let Some(v) = segment.strip_prefix("hour=") {
                hour = v.parse::<u32>().ok();
            }
        }
        Partition::of_date_hour(dt?, hour?)
    }

    /// `YYYY-MM-DD`.
    pub fn dt(&self) -> String {
        let days = self.epoch_hour / 24;
        let date = NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|epoch| epoch.checked_add_signed(chrono::TimeDelta::days(days)));
        match date {
            Some(d) => format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
            None => "invalid".to_owned(),
        }
    }

    /// 0..=23.
    pub fn hour(&self) -> u32 {
        u32::try_from(self.epoch_hour % 24).unwrap_or(0)
    }

    /// `dt=YYYY-MM-DD/hour=HH`, the object key segment.
    pub fn path(&self) -> String {
        format!("dt={}/hour={:02}", self.dt(), self.hour())
    }

    /// The folder of this partition's data files in the lake at `root`.
    pub fn prefix(&self, root: &Path) -> Path {
        join(root, &format!("{TABLE_NAME}/{}", self.path()))
    }
}

/// Label used when neither an override nor an `eventSourceARN` names the stream.
pub const DEFAULT_STREAM_LABEL: &str = "stream";

/// A short stable label for a stream ARN: 12 hex digits of its SHA-256.
pub fn stream_label(arn: &str) -> String {
    let digest = Sha256::digest(arn.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// The stream labels of one batch, by `eventSourceARN` (a batch almost always has one), each
/// computed once: the configured override, [`stream_label`] of the ARN, or
/// [`DEFAULT_STREAM_LABEL`] when a record names no stream.
#[derive(Debug, Default)]
pub struct StreamLabels {
    labels: Vec<(Option<String>, String)>,
}

impl StreamLabels {
    /// The index of the label for `arn` (an empty ARN is none).
    pub fn index(&mut self, arn: Option<&str>, stream_override: Option<&str>) -> usize {
        let arn = arn.filter(|a| !a.is_empty());
        if let Some(i) = self.labels.iter().position(|(a, _)| a.as_deref() == arn) {
            return i;
        }
        let label = match (stream_override, arn) {
            (Some(label), _) => label.to_owned(),
            (None, Some(arn)) => stream_label(arn),
            (None, None) => DEFAULT_STREAM_LABEL.to_owned(),
        };
        self.labels.push((arn.map(str::to_owned), label));
        self.labels.len() - 1
    }

    /// The label at `index`.
    pub fn label(&self, index: usize) -> &str {
        self.labels
            .get(index)
            .map_or(DEFAULT_STREAM_LABEL, |(_, l)| l)
    }
}

/// `<root>/image_events/dt=YYYY-MM-DD/hour=HH/part-<stream>-<first seq>-<last seq>-<rows>.parquet`
///
/// `<rows>` is 8 hex digits of the SHA-256 of the file's sequence numbers in file order:
/// two files of one stream and partition that start and end at the same records but hold
/// different ones (sequence numbers 1, 2, 3 and, from input that repeats records, 1, 3)
/// must not overwrite each other, while a replay of the same records still rewrites its file.
pub fn data_key<'s>(
    root: &Path,
    stream: &str,
    partition: &Partition,
    first_seq: &str,
    last_seq: &str,
    sequence_numbers: impl IntoIterator<Item = &'s str>,
) -> Path {
    let rows = rows_digest(sequence_numbers);
    let file = format!("part-{stream}-{first_seq}-{last_seq}-{rows}.parquet");
    join(&partition.prefix(root), &file)
}

/// `<partition folder>/export-<export id>-<part>-<batch>.parquet`: the rows a slice (`part`) of
/// a table export's lines put in this partition, in the slice's batch `batch`. Named by what
/// they come from, so that backfilling the same export again rewrites the same files.
pub fn export_data_key(
    root: &Path,
    partition: &Partition,
    export_id: &str,
    part: u64,
    batch: usize,
) -> Path {
    let file = format!("export-{export_id}-{part:06}-{batch:03}.parquet");
    join(&partition.prefix(root), &file)
}

/// `<partition folder>/compacted-<first seq>-<last seq>-<rows>.parquet`, `<rows>` being
/// [`rows_digest`] of the file's event IDs: two compacted files can start and end at the same
/// sequence number (records of two streams in one partition share numbers) and must not
/// overwrite each other.
pub fn compacted_key<'s>(
    root: &Path,
    partition: &Partition,
    first_seq: &str,
    last_seq: &str,
    event_ids: impl IntoIterator<Item = &'s str>,
) -> Path {
    let rows = rows_digest(event_ids);
    let file = format!("compacted-{first_seq}-{last_seq}-{rows}.parquet");
    join(&partition.prefix(root), &file)
}

/// 8 hex digits of the SHA-256 of `items`, each followed by a newline: what tells apart
/// files whose rows start and end alike but differ between.
pub fn rows_digest<'s>(items: impl IntoIterator<Item = &'s str>) -> String {
    let mut digest = Sha256::new();
    for item in items {
        digest.update(item.as_bytes());
        digest.update(b"\n");
    }
    digest.finalize()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `<root>/_quarantine/image_events/part-<sha256 of content, 16 hex>.jsonl`: content-addressed,
/// so replaying the same bad records rewrites the same object.
pub fn quarantine_key(root: &Path, content: &[u8]) -> Path {
    let digest = Sha256::digest(content);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    join(
        root,
        &format!("{QUARANTINE_DIR}/{TABLE_NAME}/part-{hex}.jsonl"),
    )
}

/// Whether `key` names a quarantine file of the lake at `root` (see [`quarantine_key`]).
pub fn is_quarantine_key(root: &Path, key: &str) -> bool {
    let prefix = join(root, QUARANTINE_DIR);
    key.strip_prefix(prefix.as_ref())
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Prefix under which all data files live.
pub fn table_prefix(root: &Path) -> Path {
    join(root, TABLE_NAME)
}

fn join(root: &Path, rest: &str) -> Path {
    let root = root.as_ref().trim_end_matches('/');
    if root.is_empty() {
        Path::from(rest)
    } else {
        Path::from(format!("{root}/{rest}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_keys_are_hive_partitioned_and_deterministic() {
        let p = Partition::of_date_hour("2026-11-25", 7).unwrap();
        let root = Path::from("lake/prefix");
        // 26bedea9: `printf '1\n5\n9\n' | sha256sum`
        let key = data_key(&root, "abc123", &p, "0001", "0009", ["1", "5", "9"]);
        assert_eq!(
            key.as_ref(),
            "lake/prefix/image_events/dt=2026-11-25/hour=07/part-abc123-0001-0009-26bedea9.parquet"
        );
        assert_eq!(
            key,
            data_key(&root, "abc123", &p, "0001", "0009", ["1", "5", "9"])
        );
        // Same first and last record, other rows between: another file.
        assert_ne!(
            key,
            data_key(&root, "abc123", &p, "0001", "0009", ["1", "9"])
        );
        assert_ne!(
            key,
            data_key(&root, "abc123", &p, "0001", "0009", ["1", "1", "9"])
        );
        let at_root = data_key(&Path::from(""), "s", &p, "1", "2", ["1", "2"]);
        assert!(at_root
            .as_ref()
            .starts_with("image_events/dt=2026-11-25/hour=07/part-s-1-2-"));
    }

    #[test]
    fn partitions_are_utc_hours_named_in_keys() {
        let p = Partition::of_millis(1_795_514_290_000).unwrap();
        assert_eq!(p.path(), "dt=2026-11-24/hour=09");
        assert_eq!(
            Partition::of_key("x/dt=2026-11-24/hour=09/f.parquet"),
            Some(p)
        );
        assert_eq!(Partition::of_key("dt=2026-11-24/hour=9"), Some(p));
        assert!(Partition::of_key("x/dt=2026-13-02/hour=23/f.parquet").is_none());
        assert!(Partition::of_key("x/dt=2026-01-02/hour=24/f.parquet").is_none());
        assert!(Partition::of_key("x/dt=2026-01-02/f.parquet").is_none());
        assert_eq!(
            p.prefix(&Path::from("lake")).as_ref(),
            "lake/image_events/dt=2026-11-24/hour=09"
        );
        let c = compacted_key(&Path::from("lake"), &p, "01", "09", ["a", "b"]);
        assert!(c
            .as_ref()
            .starts_with("lake/image_events/dt=2026-11-24/hour=09/compacted-01-09-"));
        assert_eq!(Partition::of_key(c.as_ref()), Some(p));
    }

    #[test]
    fn stream_labels_are_computed_once_per_stream() {
        let mut labels = StreamLabels::default();
        let a = labels.index(Some("arn:a"), None);
        assert_eq!(labels.index(Some("arn:a"), None), a);
        assert_eq!(labels.label(a), stream_label("arn:a"));
        let none = labels.index(Some(""), None);
        assert_eq!(labels.label(none), DEFAULT_STREAM_LABEL);
        let mut overridden = StreamLabels::default();
        let i = overridden.index(Some("arn:a"), Some("replay"));
        assert_eq!(overridden.label(i), "replay");
    }

    #[test]
    fn quarantine_keys_follow_content() {
        let a = quarantine_key(&Path::from("l"), b"one");
        assert_eq!(a, quarantine_key(&Path::from("l"), b"one"));
        assert_ne!(a, quarantine_key(&Path::from("l"), b"two"));
        assert!(a.as_ref().starts_with("l/_quarantine/image_events/part-"));
        assert!(is_quarantine_key(&Path::from("l"), a.as_ref()));
        // A root that itself sits under a folder named _quarantine holds data files too.
        let root = Path::from("srv/_quarantine/lake");
        let p = Partition::of_date_hour("2026-11-25", 7).unwrap();
        let data = data_key(&root, "s", &p, "1", "2", ["1", "2"]);
        assert!(!is_quarantine_key(&root, data.as_ref()));
        assert!(is_quarantine_key(
            &root,
            quarantine_key(&root, b"x").as_ref()
        ));
        assert!(is_quarantine_key(
            &Path::from(""),
            quarantine_key(&Path::from(""), b"x").as_ref()
        ));
    }
}
