//! Writing a prepared batch: every object one PUT, a few at a time. The only module of the
//! exporter that writes to storage (compaction writes its own files).

use std::sync::Arc;

use futures::stream::{self, StreamExt};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::batch::PendingObject;
use crate::export::{ExportError, ExportReport, WrittenFile};

/// Writes all objects, a few at a time. Each object is one PUT: readers never see a
/// partial file (S3 PUT is atomic; the local store writes a temporary file and renames).
pub(crate) async fn flush(
    store: &Arc<dyn ObjectStore>,
    concurrency: usize,
    objects: Vec<PendingObject>,
    report: &mut ExportReport,
) -> Result<(), ExportError> {
    let mut results = stream::iter(objects)
        .map(|obj| async move {
            let bytes = obj.body.len();
            let result = store
                .put(&obj.key, PutPayload::from(obj.body.clone()))
                .await;
            (obj, bytes, result)
        })
        .buffer_unordered(concurrency.max(1));
    let mut fatal = None;
    while let Some((obj, bytes, result)) = results.next().await {
        match result {
            Ok(_) => {
                tracing::info!(key = %obj.key, rows = obj.rows, bytes, "wrote");
                if !obj.is_quarantine {
                    report.rows_written += obj.rows;
                }
                report.files.push(WrittenFile {
                    key: obj.key.to_string(),
                    rows: obj.rows,
                    bytes,
                });
            }
            Err(source) => {
                tracing::error!(key = %obj.key, error = %source, "write failed; records will be retried");
                report.write_errors.push(format!("{}: {source}", obj.key));
                if obj.is_quarantine {
                    // Not quarantined after all: they go back for a retry.
                    report.quarantined -= obj.rows;
                    if obj.unreported > 0 && fatal.is_none() {
                        fatal = Some(ExportError::Quarantine {
                            key: obj.key.to_string(),
                            source,
                        });
                    }
                }
                report.failed_sequence_numbers.extend(obj.sequence_numbers);
            }
        }
    }
    report.files.sort_by(|a, b| a.key.cmp(&b.key));
    match fatal {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
