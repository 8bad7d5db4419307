//! Outcome counts of one handler invocation, as CloudWatch embedded-metric-format lines
//! (namespace `imglake`, dimension `Function`; rejections also by `Reason`), for the alarms
//! and dashboard in terraform/. Locally the same counts feed summaries.

use std::collections::BTreeMap;

use imglake_exporter::emf;
use serde_json::{json, Value};

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
    /// Uploads to a settled image's key that were set aside (see `Worked::Replaced`), or
    /// refused by the local upload route.
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

    /// EMF lines: one with the totals, then one per rejection reason (dimension `Reason`).
    pub fn emf_lines(&self, function: &str, now_ms: i64, latency_ms: u64) -> Vec<Value> {
        let dimension = [("Function", function)];
        let mut lines = vec![emf::line(
            now_ms,
            &dimension,
            &[
                ("RecordsIn", "Count", json!(self.records_in)),
                ("Received", "Count", json!(self.received)),
                ("Rejected", "Count", json!(self.rejected_total())),
                ("Processed", "Count", json!(self.processed)),
                ("Failed", "Count", json!(self.failed_total())),
                ("Duplicates", "Count", json!(self.duplicates)),
                ("Retries", "Count", json!(self.retries)),
                ("RawReplaced", "Count", json!(self.replaced)),
                ("Abandoned", "Count", json!(self.abandoned)),
                ("Latency", "Milliseconds", json!(latency_ms)),
            ],
        )];
        for (reason, n) in &self.rejected {
            lines.push(emf::line(
                now_ms,
                &[("Function", function), ("Reason", reason)],
                &[("RejectedByReason", "Count", json!(n))],
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_carry_totals_and_one_line_per_reason() {
        let mut o = Outcomes {
            records_in: 5,
            received: 2,
            ..Outcomes::default()
        };
        o.reject("too_large");
        o.reject("too_large");
        o.reject("unknown_type");
        let lines = o.emf_lines("upload", 1_700_000_000_000, 12);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["Rejected"], 3);
        assert_eq!(lines[0]["Received"], 2);
        assert_eq!(
            lines[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "imglake"
        );
        assert_eq!(lines[1]["Reason"], "too_large");
        assert_eq!(lines[1]["RejectedByReason"], 2);
        // Every metric named in a directive is a root property (EMF requires it).
        for line in &lines {
            for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
            {
                let name = m["Name"].as_str().unwrap();
                assert!(line.get(name).is_some(), "{name} missing");
            }
        }
    }
}
