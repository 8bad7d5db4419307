//! The console with a large data directory: 10 000 images written straight into the embedded
//! metadata store (no processing), then `imglake serve` over it and Debian's chromium showing
//! the list (tests/python/browser/list_timing.py, run with the browser venv of
//! scripts/setup-browser.sh).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use imglake_pipeline::model::{new_image_id, ImageItem, Source, Status};
use imglake_pipeline::store::{EmbeddedStore, MetadataStore, DEFAULT_TABLE_NAME};
use serde_json::Value;

/// Images in the data directory.
const IMAGES: usize = 10_000;
/// What "shows the list" may take, from navigation to the first page drawn.
const BUDGET_MS: f64 = 1000.0;

/// The Python of the browser venv (`IMGLAKE_BROWSER_VENV`, default
/// `~/.cache/imglake/venv-browser`).
fn browser_python() -> PathBuf {
    let venv = std::env::var_os("IMGLAKE_BROWSER_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/imglake/venv-browser"))
        })
        .expect("IMGLAKE_BROWSER_VENV or HOME must be set");
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup-browser.sh (chromium and Playwright for the console's tests)",
        python.display()
    );
    python
}

/// Writes `n` images into the metadata store of `data`: received 100 ms apart, from two
/// sources and five tenants; 7 in 10 processed, 2 rejected, 1 still received.
async fn fill(data: &Path, n: usize) {
    std::fs::create_dir_all(data).expect("data dir");
    let store = EmbeddedStore::open(
        data.join("metadata.sqlite3"),
        DEFAULT_TABLE_NAME,
        Arc::new(Utc::now),
    )
    .expect("store");
    let start = Utc::now() - chrono::Duration::hours(1);
    for i in 0..n {
        let at = start + chrono::Duration::milliseconds(100 * i as i64);
        let source = if i % 4 == 0 {
            Source::Kafka
        } else {
            Source::Api
        };
        let item = ImageItem::received(
            new_image_id(at),
            source,
            format!("ref-{i}"),
            format!("tenant-{}", i % 5),
            at,
            Duration::from_secs(7 * 86_400),
        );
        store.put_new(&item).await.expect("put_new");
        let mut next = item.clone();
        next.format = Some("jpeg".into());
        next.size_bytes = Some(100_000 + i as i64);
        match i % 10 {
            0..=6 => {
                next.status = Status::Processing;
                store
                    .transition(&item.image_id, Status::Received, &next)
                    .await
                    .expect("processing");
                let mut done = next.clone();
                done.status = Status::Processed;
                done.width = Some(1024);
                done.height = Some(768);
                done.processed_at = Some(item.received_at + 250);
                done.processing_ms = Some(120);
                store
                    .transition(&item.image_id, Status::Processing, &done)
                    .await
                    .expect("processed");
            }
            7 | 8 => {
                next.status = Status::Rejected;
                next.error_code = Some("unknown_type".into());
                next.error_message = Some("not an image".into());
                store
                    .transition(&item.image_id, Status::Received, &next)
                    .await
                    .expect("rejected");
            }
            _ => {}
        }
    }
}

#[test]
fn console_lists_10000_images_in_under_a_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let started = Instant::now();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(fill(&data, IMAGES));
    eprintln!("{IMAGES} images written in {:?}", started.elapsed());

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/browser/list_timing.py");
    let out = Command::new(browser_python())
        .arg(&script)
        .arg("--data-dir")
        .arg(&data)
        .env("IMGLAKE_BIN", env!("CARGO_BIN_EXE_imglake"))
        .output()
        .expect("run list_timing.py");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "list_timing.py failed: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    eprintln!("{report:#}");

    assert_eq!(report["total"], IMAGES as u64, "{report}");
    assert_eq!(report["rows"], 50, "{report}");
    assert_eq!(
        report["rejected_total"],
        (IMAGES / 10 * 2) as u64,
        "{report}"
    );
    for key in ["first_page_ms", "older_page_ms", "filtered_page_ms"] {
        let ms = report[key].as_f64().unwrap_or(f64::MAX);
        assert!(
            ms < BUDGET_MS,
            "{key}: {ms} ms, over {BUDGET_MS} ms: {report}"
        );
    }
    // The API's own share: a page from the store's index, not a sort of every item, as
    // quick for the last page as for the first.
    for key in ["api_first_page_ms", "api_last_page_ms"] {
        let ms = report[key].as_f64().unwrap_or(f64::MAX);
        assert!(ms < 100.0, "{key}: {ms} ms: {report}");
    }
}
