//! Generated stream records for benchmarks and tests: a Lambda DynamoDB event of realistic
//! image-metadata changes, deterministic, in either field order. Included with `#[path]` by
//! `benches/export.rs` and by the exporter's tests.

use serde_json::{json, Value};

/// The order of a stream record's fields in the generated input. Lambda's DynamoDB events
/// (and the AWS SAM sample event) put `eventName` before `dynamodb`; records re-serialized
/// with sorted keys (`jq -S`, Python's `sort_keys`, serde_json's `Value`) put it after. The
/// exporter reads OldImage in the same pass only when it already knows the event name, so
/// both are measured.
#[derive(Debug, Clone, Copy)]
pub enum Order {
    Lambda,
    Sorted,
}

impl Order {
    pub const ALL: [Order; 2] = [Order::Lambda, Order::Sorted];

    pub fn arg(self) -> &'static str {
        match self {
            Order::Lambda => "lambda",
            Order::Sorted => "sorted",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Order::Lambda => "Lambda (eventName first)",
            Order::Sorted => "sorted (eventName after dynamodb)",
        }
    }

    /// One record as JSON text, its fields in this order.
    fn write(self, record: &Value) -> String {
        const RECORD: [&str; 8] = [
            "eventID",
            "eventName",
            "eventVersion",
            "eventSource",
            "awsRegion",
            "dynamodb",
            "eventSourceARN",
            "userIdentity",
        ];
        const DYNAMODB: [&str; 7] = [
            "ApproximateCreationDateTime",
            "Keys",
            "NewImage",
            "OldImage",
            "SequenceNumber",
            "SizeBytes",
            "StreamViewType",
        ];
        let (mut record_keys, mut dynamodb_keys) = (RECORD, DYNAMODB);
        if let Order::Sorted = self {
            record_keys.sort_unstable();
            dynamodb_keys.sort_unstable();
        }
        in_order(record, &record_keys, &|key, value| {
            if key == "dynamodb" {
                in_order(value, &dynamodb_keys, &|_, value| value.to_string())
            } else {
                value.to_string()
            }
        })
    }
}

/// An object's fields written in `keys` order, each value by `value`.
fn in_order(object: &Value, keys: &[&str], value: &dyn Fn(&str, &Value) -> String) -> String {
    let map = object.as_object().expect("an object");
    assert!(
        map.keys().all(|k| keys.contains(&k.as_str())),
        "a field the order does not name: {:?}",
        map.keys().collect::<Vec<_>>()
    );
    let fields: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            map.get(*k)
                .map(|v| format!("{}:{}", Value::from(*k), value(k, v)))
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// A Lambda DynamoDB event of `n` realistic image-metadata changes: each image goes
/// RECEIVED → PROCESSING → PROCESSED (or REJECTED), some are deleted or expire by TTL, some
/// carry attributes the schema does not know. Deterministic.
pub fn generate(n: usize, order: Order) -> String {
    let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/imglake-images/stream/2026-11-01T00:00:00.000";
    let t0: i64 = 1_795_500_000;
    let mut records = Vec::with_capacity(n);
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for i in 0..n {
        let image = i / 4;
        let step = i % 4;
        let t = t0 + (i as i64) * 2; // ~6 hours of events per 10 000 records
        let id = format!("01JDFY{image:020}");
        let tenant = ["acme", "globex", "initech", "umbrella"][image % 4];
        let received_ms = (t0 + image as i64 * 8) * 1000 + (next() % 1000) as i64;
        let size = 200_000 + next() % 9_000_000;
        let mut item = json!({
            "image_id": {"S": id},
            "source": {"S": if image % 3 == 0 { "kafka" } else { "api" }},
            "source_ref": {"S": format!("req-{:08x}", next() as u32)},
            "tenant": {"S": tenant},
            "content_type": {"S": "image/jpeg"},
            "format": {"S": "jpeg"},
            "size_bytes": {"N": size.to_string()},
            "sha256": {"S": format!("{:016x}{:016x}{:016x}{:016x}", next(), next(), next(), next())},
            "raw_key": {"S": format!("raw/{tenant}/{id}.jpg")},
            "received_at": {"N": received_ms.to_string()},
            "expires_at": {"N": (received_ms / 1000 + 7 * 86_400).to_string()},
            "status": {"S": "RECEIVED"},
        });
        let rejected = image % 17 == 0;
        let processed = |item: &mut Value, next: &mut dyn FnMut() -> u64| {
            let w = 2000 + next() % 4000;
            let h = 1500 + next() % 3000;
            let obj = item.as_object_mut().expect("object");
            obj.insert("status".into(), json!({"S": "PROCESSED"}));
            obj.insert("width".into(), json!({"N": w.to_string()}));
            obj.insert("height".into(), json!({"N": h.to_string()}));
            obj.insert("variant_count".into(), json!({"N": "2"}));
            obj.insert("variants_json".into(), json!({"S": format!(
                "[{{\"name\":\"thumb\",\"key\":\"processed/{id}/thumb.webp\",\"width\":256,\"height\":256,\"bytes\":{}}},{{\"name\":\"display\",\"key\":\"processed/{id}/display.webp\",\"width\":1024,\"height\":683,\"bytes\":{}}}]",
                8000 + next() % 8000, 60_000 + next() % 90_000)}));
            obj.insert(
                "processed_bytes".into(),
                json!({"N": (70_000 + next() % 100_000).to_string()}),
            );
            obj.insert("operations".into(), json!({"L": [{"S": "orient"}, {"S": "strip"}, {"S": "resize:thumb"}, {"S": "resize:display"}]}));
            obj.insert(
                "processed_at".into(),
                json!({"N": (received_ms + 900 + (next() % 2000) as i64).to_string()}),
            );
            obj.insert(
                "captured_at".into(),
                json!({"N": (received_ms - 86_400_000).to_string()}),
            );
            obj.insert(
                "processing_ms".into(),
                json!({"N": (200 + next() % 800).to_string()}),
            );
            obj.insert(
                "dominant_color".into(),
                json!({"S": format!("#{:06x}", next() % 0xFF_FFFF)}),
            );
            obj.insert(
                "mean_luma".into(),
                json!({"N": format!("{}.{}", next() % 255, next() % 100)}),
            );
            obj.insert(
                "sharpness".into(),
                json!({"N": format!("{}.{}", next() % 5000, next() % 100)}),
            );
            obj.insert("has_alpha".into(), json!({"BOOL": false}));
            obj.insert("camera_make".into(), json!({"S": "FUJIFILM"}));
            obj.insert("camera_model".into(), json!({"S": "X-T5"}));
            if image % 7 == 0 {
                obj.insert("tags".into(), json!({"SS": ["beach", "sunset"]}));
                obj.insert(
                    "client_hints".into(),
                    json!({"M": {"dpr": {"N": "2"}, "save_data": {"BOOL": true}}}),
                );
                obj.insert(
                    "thumbhash".into(),
                    json!({"B": "3OcRJYB4d3h/iIeHeEh3eIhw+j3A"}),
                );
            }
        };
        let (event_name, new_image, old_image, identity) = match step {
            0 => ("INSERT", Some(item.clone()), None, None),
            1 => {
                let old = item.clone();
                item["status"] = json!({"S": "PROCESSING"});
                ("MODIFY", Some(item), Some(old), None)
            }
            2 => {
                item["status"] = json!({"S": "PROCESSING"});
                let old = item.clone();
                if rejected {
                    item["status"] = json!({"S": "REJECTED"});
                    item["error_code"] = json!({"S": "pixel_budget_exceeded"});
                    item["error_message"] =
                        json!({"S": "image declares 40000x40000 pixels, above the 50 MP budget"});
                } else {
                    processed(&mut item, &mut next);
                }
                ("MODIFY", Some(item), Some(old), None)
            }
            _ => {
                processed(&mut item, &mut next);
                let ttl = image % 2 == 0;
                let identity = ttl
                    .then(|| json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"}));
                ("REMOVE", None, Some(item), identity)
            }
        };
        let mut dynamodb = json!({
            "ApproximateCreationDateTime": t,
            "Keys": {"image_id": {"S": id}},
            "SequenceNumber": (442_158_450_000_000_000_u128 + i as u128 * 100).to_string(),
            "SizeBytes": 1024,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(img) = new_image {
            dynamodb["NewImage"] = img;
        }
        if let Some(img) = old_image {
            dynamodb["OldImage"] = img;
        }
        let mut record = json!({
            "eventID": format!("{:032x}", (next() as u128) << 64 | next() as u128),
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "eu-west-1",
            "dynamodb": dynamodb,
            "eventSourceARN": arn,
        });
        if let Some(identity) = identity {
            record["userIdentity"] = identity;
        }
        records.push(order.write(&record));
    }
    format!("{{\"Records\":[{}]}}", records.join(","))
}
