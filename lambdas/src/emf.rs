//! CloudWatch embedded metric format (EMF): one JSON log line that CloudWatch turns into
//! metrics. Every imglake function writes its metrics through [`line`], in namespace
//! [`NAMESPACE`], which the alarms and the dashboard in terraform/ watch.

use imglake_exporter::ExportReport;
use imglake_pipeline::handlers::metrics::Outcomes;
use serde_json::{json, Value};

/// The metrics namespace of every imglake function.
pub const NAMESPACE: &str = "imglake";

/// One EMF line at `now_ms` (epoch milliseconds): `dimensions` are (name, value) pairs forming
/// the line's dimension set, `metrics` are (name, unit, value).
pub fn line(now_ms: i64, dimensions: &[(&str, &str)], metrics: &[(&str, &str, Value)]) -> Value {
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut line = json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": definitions,
            }]
        }
    });
    for (name, value) in dimensions {
        line[*name] = json!(value);
    }
    for (name, _, value) in metrics {
        line[*name] = value.clone();
    }
    line
}

/// One CloudWatch embedded-metric-format line for a stream batch: the metrics the alarms and
/// the dashboard in terraform/ watch (namespace `imglake`, dimension `Function`).
pub fn batch_metrics(
    report: &ExportReport,
    function: &str,
    now_ms: i64,
    latency_ms: u64,
) -> serde_json::Value {
    use serde_json::json;
    let mut line = line(
        now_ms,
        &[("Function", function)],
        &[
            ("RecordsIn", "Count", json!(report.received)),
            ("RowsWritten", "Count", json!(report.rows_written)),
            ("Quarantined", "Count", json!(report.quarantined)),
            (
                "FailedRecords",
                "Count",
                json!(report.failed_sequence_numbers.len()),
            ),
            ("FilesWritten", "Count", json!(report.files.len())),
            ("BatchLatency", "Milliseconds", json!(latency_ms)),
        ],
    );
    // Quarantine reasons as properties (searchable in Logs Insights), not as metrics.
    for (code, n) in &report.quarantine_reasons {
        line[format!("quarantined_{code}")] = serde_json::json!(n);
    }
    line
}

/// The lines of a pipeline handler's invocation: one with the totals, then one per rejection
/// reason (dimension `Reason`).
pub fn outcome_lines(
    outcomes: &Outcomes,
    function: &str,
    now_ms: i64,
    latency_ms: u64,
) -> Vec<Value> {
    let dimension = [("Function", function)];
    let mut lines = vec![line(
        now_ms,
        &dimension,
        &[
            ("RecordsIn", "Count", json!(outcomes.records_in)),
            ("Received", "Count", json!(outcomes.received)),
            ("Rejected", "Count", json!(outcomes.rejected_total())),
            ("Processed", "Count", json!(outcomes.processed)),
            ("Failed", "Count", json!(outcomes.failed_total())),
            ("Duplicates", "Count", json!(outcomes.duplicates)),
            ("Retries", "Count", json!(outcomes.retries)),
            ("RawReplaced", "Count", json!(outcomes.replaced)),
            ("Abandoned", "Count", json!(outcomes.abandoned)),
            ("Latency", "Milliseconds", json!(latency_ms)),
        ],
    )];
    for (reason, n) in &outcomes.rejected {
        lines.push(line(
            now_ms,
            &[("Function", function), ("Reason", reason)],
            &[("RejectedByReason", "Count", json!(n))],
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_its_dimensions_and_metrics_and_carries_their_values() {
        let l = line(
            7,
            &[("Function", "f"), ("Reason", "r")],
            &[("A", "Count", json!(2)), ("B", "Milliseconds", json!(5))],
        );
        let spec = &l["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(l["_aws"]["Timestamp"], 7);
        assert_eq!(spec["Namespace"], "imglake");
        assert_eq!(spec["Dimensions"], json!([["Function", "Reason"]]));
        assert_eq!(
            spec["Metrics"],
            json!([{"Name": "A", "Unit": "Count"}, {"Name": "B", "Unit": "Milliseconds"}])
        );
        assert_eq!((&l["Function"], &l["Reason"]), (&json!("f"), &json!("r")));
        assert_eq!((&l["A"], &l["B"]), (&json!(2), &json!(5)));
    }

    #[test]
    fn outcome_lines_carry_totals_and_one_line_per_reason() {
        let mut o = Outcomes {
            records_in: 5,
            received: 2,
            replaced: 1,
            abandoned: 4,
            ..Outcomes::default()
        };
        o.reject("too_large");
        o.reject("too_large");
        o.reject("unknown_type");
        let lines = outcome_lines(&o, "upload", 1_700_000_000_000, 12);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["Rejected"], 3);
        assert_eq!(lines[0]["Received"], 2);
        assert_eq!(lines[0]["RawReplaced"], 1);
        assert_eq!(lines[0]["Abandoned"], 4);
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
