//! Fetched records → the event the `kafka-ingest` Lambda receives from its event source
//! mapping, so that serve runs the very handler the Lambda runs.
//!
//! The shape is Lambda's for a self-managed cluster (an MSK event differs only in
//! `eventSource` and its cluster ARN): records grouped under `"<topic>-<partition>"`, keys and
//! values base64, each header a one-entry map whose value is the header's bytes as signed
//! integers, timestamps in epoch milliseconds.

use std::collections::HashMap;

use aws_lambda_events::encodings::MillisecondTimestamp;
use aws_lambda_events::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine as _;
use rskafka::record::RecordAndOffset;

/// `eventSource` of a self-managed Kafka event source mapping.
pub const EVENT_SOURCE: &str = "SelfManagedKafka";

/// The Lambda event for records of `topic`/`partition` (in offset order).
pub fn kafka_event(
    bootstrap_servers: &str,
    topic: &str,
    partition: i32,
    records: &[RecordAndOffset],
) -> KafkaEvent {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let records: Vec<KafkaRecord> = records
        .iter()
        .map(|r| {
            let mut out = KafkaRecord::default();
            out.topic = Some(topic.to_owned());
            out.partition = i64::from(partition);
            out.offset = r.offset;
            out.timestamp = MillisecondTimestamp(r.record.timestamp);
            out.timestamp_type = Some("CREATE_TIME".to_owned());
            out.key = r.record.key.as_deref().map(b64);
            out.value = r.record.value.as_deref().map(b64);
            out.headers = r
                .record
                .headers
                .iter()
                .map(|(name, value)| {
                    let signed = value.iter().map(|&b| i8::from_ne_bytes([b])).collect();
                    HashMap::from([(name.clone(), signed)])
                })
                .collect();
            out
        })
        .collect();
    let mut event = KafkaEvent::default();
    event.event_source = Some(EVENT_SOURCE.to_owned());
    event.bootstrap_servers = Some(bootstrap_servers.to_owned());
    event
        .records
        .insert(format!("{topic}-{partition}"), records);
    event
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone as _;
    use rskafka::record::Record;
    use serde_json::json;

    use super::*;

    #[test]
    fn records_become_the_lambda_event_shape() {
        // x.125 s: aws_lambda_events reads a numeric timestamp through an f64 of seconds,
        // which turns some millisecond values (…290_123) into the one before.
        let timestamp = chrono::Utc
            .timestamp_millis_opt(1_795_514_290_125)
            .single()
            .expect("time");
        let records = vec![
            RecordAndOffset {
                record: Record {
                    key: Some(b"cat.jpg".to_vec()),
                    value: Some(vec![0xff, 0xd8, 0xff]),
                    headers: BTreeMap::from([("tenant".to_owned(), b"acme\xff".to_vec())]),
                    timestamp,
                },
                offset: 41,
            },
            RecordAndOffset {
                record: Record {
                    key: None,
                    value: None,
                    headers: BTreeMap::new(),
                    timestamp,
                },
                offset: 42,
            },
        ];
        let event = kafka_event("127.0.0.1:9092", "images", 3, &records);
        // What Lambda sends for these records (timestamps as JSON numbers), read by the
        // Lambda's own deserializer, is the event serve builds.
        let lambda_wire = json!({
            "eventSource": "SelfManagedKafka",
            "bootstrapServers": "127.0.0.1:9092",
            "records": {"images-3": [
                {"topic": "images", "partition": 3, "offset": 41,
                 "timestamp": 1_795_514_290_125_i64, "timestampType": "CREATE_TIME",
                 "key": "Y2F0LmpwZw==", "value": "/9j/",
                 "headers": [{"tenant": [97, 99, 109, 101, -1]}]},
                {"topic": "images", "partition": 3, "offset": 42,
                 "timestamp": 1_795_514_290_125_i64, "timestampType": "CREATE_TIME",
                 "key": null, "value": null, "headers": []}
            ]}
        });
        let from_lambda: KafkaEvent = serde_json::from_value(lambda_wire).expect("deserialize");
        assert_eq!(from_lambda, event);
        // aws_lambda_events serializes the timestamp as a string of milliseconds; its
        // deserializer reads that back unchanged too.
        let wire = serde_json::to_value(&event).expect("serialize");
        assert_eq!(
            wire["records"]["images-3"][0]["timestamp"],
            json!("1795514290125")
        );
        let back: KafkaEvent = serde_json::from_value(wire).expect("deserialize");
        assert_eq!(back, event);
    }
}
