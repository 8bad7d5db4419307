//! Outcome counts of one handler invocation. On AWS they become CloudWatch
//! embedded-metric-format lines (imglake-lambdas' `emf`); locally they feed summaries.

use std::collections::BTreeMap;

/// What one invocation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcomes {
    /// Events or records handled.
    pub records_in: u64,
    /// Images stored and recorded RECEIVED.
    pub received: u64,
    /// Images refused (REJECTED), by `error_code`.
    pub rejected: BTreeMap<String, u64>,
    /// Images processed (PROCESSED).
    pub processed: u64,
    /// Images given up on (FAILED), by `error_code`.
    pub failed: BTreeMap<String, u64>,
    /// Redeliveries that changed nothing.
    pub duplicates: u64,
    /// Records or events left for a retry (reported back as failures).
    pub retries: u64,
    /// Events that are not ours (unknown keys, S3 test events).
    pub ignored: u64,
    /// Uploads to a settled image's key that were set aside (see `Worked::Replaced`). The
    /// local upload route refuses them instead, and counts them apart (nothing is replaced).
    pub replaced: u64,
    /// Images whose upload form expired unused, moved to ABANDONED.
    pub abandoned: u64,
}

impl Outcomes {
    /// Counts one rejection.
    pub fn reject(&mut self, code: &str) {
        *self.rejected.entry(code.to_owned()).or_default() += 1;
    }

    /// Counts one failure.
    pub fn fail(&mut self, code: &str) {
        *self.failed.entry(code.to_owned()).or_default() += 1;
    }

    /// All rejections.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// All failures.
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Outcomes) {
        self.records_in += other.records_in;
        self.received += other.received;
        self.processed += other.processed;
        self.duplicates += other.duplicates;
        self.retries += other.retries;
        self.ignored += other.ignored;
        self.replaced += other.replaced;
        self.abandoned += other.abandoned;
        for (code, n) in &other.rejected {
            *self.rejected.entry(code.clone()).or_default() += n;
        }
        for (code, n) in &other.failed {
            *self.failed.entry(code.clone()).or_default() += n;
        }
    }
}
