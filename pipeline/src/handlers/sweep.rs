//! Abandoned uploads: `POST /images` records an image RECEIVED and hands out a form that
//! expires (15 minutes by default). When no upload arrived before it expired, the image would
//! otherwise stay RECEIVED until the TTL removes it a week later, counted as work in flight.
//! [`Pipeline::abandon_expired_uploads`] moves each such image to ABANDONED with
//! `error_code` `upload_expired` (one MODIFY, so the lake and the views know), once its form
//! expired and a grace period passed, and only when its raw object is absent: an upload that
//! arrived is left to processing however long its queue is.
//!
//! `imglake serve` runs it on a timer; on AWS the `process` function runs it when its schedule
//! invokes it (`{"source": "imglake.schedule"}`, terraform `abandon_sweep_schedule`).

use std::collections::HashSet;
use std::time::Duration;

use super::metrics::Outcomes;
use super::{raw_key, HandlerError, Pipeline};
use crate::model::Status;
use crate::store::{MetadataStore, StoreError, Transition};

/// Items moved per sweep at most; the next sweep takes the rest.
pub const SWEEP_LIMIT: usize = 1000;

impl<M: MetadataStore> Pipeline<M> {
    /// Moves images whose upload form (valid for `form_lifetime` from the image's
    /// `received_at`) expired more than `grace` ago without an upload to ABANDONED; at most
    /// `limit` of them, however many uploaded images still await processing (they are
    /// looked past). Returns how many moved.
    pub async fn abandon_expired_uploads(
        &self,
        form_lifetime: Duration,
        grace: Duration,
        limit: usize,
        outcomes: &mut Outcomes,
    ) -> Result<usize, HandlerError> {
        let now = self.clock.now();
        let lifetime = chrono::Duration::from_std(form_lifetime).unwrap_or(chrono::Duration::MAX);
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let cutoff = now
            .checked_sub_signed(lifetime)
            .and_then(|t| t.checked_sub_signed(grace))
            .map_or(i64::MIN, |t| t.timestamp_millis());
        let mut moved = 0;
        // Items looked at in this sweep: uploaded ones (their processing has not claimed them
        // yet) are skipped, and the store is asked again for `limit` more past them, so a
        // backlog of uploads awaiting processing cannot hide the forms that expired unused.
        let mut seen: HashSet<String> = HashSet::new();
        'sweep: loop {
            let asked = seen.len().saturating_add(limit);
            let batch = self.store.awaiting_upload(cutoff, asked).await?;
            let exhausted = batch.len() < asked;
            let mut fresh = 0;
            for item in batch {
                if !seen.insert(item.image_id.clone()) {
                    continue;
                }
                fresh += 1;
                outcomes.records_in += 1;
                let key = item
                    .raw_key
                    .clone()
                    .unwrap_or_else(|| raw_key(&item.image_id));
                if self.raw.size(&key).await?.is_some() {
                    // The upload arrived; its processing has not claimed it yet.
                    continue;
                }
                let issued =
                    chrono::DateTime::from_timestamp_millis(item.received_at).unwrap_or(now);
                let expired_at = issued.checked_add_signed(lifetime).unwrap_or(now);
                let update = item.abandoned(expired_at, now);
                match self
                    .store
                    .transition(&item.image_id, Status::Received, &update)
                    .await
                {
                    Ok(Transition::Applied) => {
                        moved += 1;
                        outcomes.abandoned += 1;
                        tracing::info!(image_id = %item.image_id, %expired_at, "upload form expired unused: ABANDONED");
                    }
                    Ok(Transition::Unchanged) => outcomes.duplicates += 1,
                    // Claimed by processing, or expired by TTL, in between: not abandoned.
                    Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => {
                        outcomes.ignored += 1;
                    }
                    Err(err) => return Err(err.into()),
                }
                if moved >= limit {
                    break 'sweep;
                }
            }
            if exhausted || fresh == 0 {
                break;
            }
        }
        Ok(moved)
    }
}
