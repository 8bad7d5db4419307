//! Object key layout of the lake. Pure functions: the same rows always get the same key, so
//! a replayed batch overwrites its own objects instead of adding new ones.

use object_store::path::Path;
use sha2::{Digest, Sha256};

use crate::map::Partition;
use crate::schema::{QUARANTINE_DIR, TABLE_NAME};

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
    join(root, &format!("{TABLE_NAME}/{}/{file}", partition.path()))
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
