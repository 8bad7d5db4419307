//! CloudWatch embedded metric format (EMF): one JSON log line that CloudWatch turns into
//! metrics. Every imglake function writes its metrics through [`line`], in namespace
//! [`NAMESPACE`], which the alarms and the dashboard in terraform/ watch.

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
}
