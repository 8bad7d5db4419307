//! The scanner on its own: what it reads, borrows, decodes and refuses.

use std::borrow::Cow;

use super::json::specials;
use super::*;
use crate::attr::{AttributeValue, Text};
use crate::record::OldForm;
use crate::row::MapError;
use crate::schema::column_index;

/// A sink that calls `F` with every record and its text.
struct Each<F>(F);

impl<F: FnMut(&mut StreamRecord<'_>, &str)> RecordSink for Each<F> {
    fn record(&mut self, record: &mut StreamRecord<'_>, raw: &str) {
        (self.0)(record, raw)
    }
    fn malformed(&mut self, raw: &str, error: MapError) {
        panic!("the scanner hands over no malformed record: {raw}: {error}")
    }
    fn not_json(&mut self, line: &[u8], error: String) {
        panic!("the scanner hands over no line: {line:?}: {error}")
    }
    fn discard(&mut self) {}
}

fn ids(text: &str, form: Form) -> R<Vec<String>> {
    let mut out = Vec::new();
    document(
        text,
        form,
        &mut Each(|d: &mut StreamRecord<'_>, _: &str| {
            out.push(d.event_id.as_deref().unwrap_or("-").to_owned())
        }),
    )?;
    Ok(out)
}

fn refused(text: &str, form: Form) -> bool {
    ids(text, form).is_err()
}

#[test]
fn finds_the_first_special_byte_of_a_word() {
    let word = |s: &[u8; 8]| specials(u64::from_le_bytes(*s));
    assert_eq!(word(b"abcdefgh"), 0);
    assert_eq!(word(b"abc\"efgh").trailing_zeros() / 8, 3);
    assert_eq!(word(b"a\\c\"efgh").trailing_zeros() / 8, 1);
    assert_eq!(word(b"abcdefg\n").trailing_zeros() / 8, 7);
    assert_eq!(word(b"\x00bcdefgh").trailing_zeros() / 8, 0);
    // Bytes above 0x7F (UTF-8) and just above the specials are not specials.
    assert_eq!(word(&[0xC3, 0xA9, 0x21, 0x23, 0x5B, 0x5D, 0x20, 0xFF]), 0);
    assert_eq!(
        word(&[0x21, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]).trailing_zeros() / 8,
        1
    );
}

#[test]
fn reads_every_form() {
    let batch = r#" {"NextShardIterator":"x","Records":[{"eventID":"a"},{"eventID":"b"}]} "#;
    assert_eq!(ids(batch, Form::Batch).unwrap(), ["a", "b"]);
    let array = r#"[{"eventID":"a"},{"eventID":"b","dynamodb":null}]"#;
    assert_eq!(ids(array, Form::Array).unwrap(), ["a", "b"]);
    let lines = "{\"eventID\":\"a\"}\n\n  {\"eventID\":\"b\"}\r\n";
    assert_eq!(ids(lines, Form::Lines).unwrap(), ["a", "b"]);
    let events = "{\"Records\":[{\"eventID\":\"a\"}]}\n{\"eventID\":\"b\"}";
    assert_eq!(ids(events, Form::Lines).unwrap(), ["a", "b"]);
    assert_eq!(ids("[]", Form::Array).unwrap(), Vec::<String>::new());
}

#[test]
fn decodes_escapes_and_borrows_plain_strings() {
    let text = r#"[{"eventID":"a\"b\\c\/d\b\f\n\r\t\u00e9\u20ac\ud83d\ude00","eventName":"plain text, long enough to take the word loop"}]"#;
    let mut seen = Vec::new();
    document(
        text,
        Form::Array,
        &mut Each(|d: &mut StreamRecord<'_>, _: &str| {
            let borrowed = matches!(d.event_name.as_ref().map(|t| &t.0), Some(Cow::Borrowed(_)));
            seen.push((d.event_id.as_deref().map(str::to_owned), borrowed));
        }),
    )
    .unwrap();
    let (id, borrowed) = &seen[0];
    assert_eq!(id.as_deref(), Some("a\"b\\c/d\u{8}\u{c}\n\r\té€😀"));
    assert!(borrowed);
}

#[test]
fn hands_over_each_record_with_its_text() {
    let text = "{\"Records\": [ {\"eventID\":\"a\"} ,\n{ \"eventID\" : \"b\" }]}";
    let mut raws = Vec::new();
    document(
        text,
        Form::Batch,
        &mut Each(|_: &mut StreamRecord<'_>, raw: &str| raws.push(raw.to_owned())),
    )
    .unwrap();
    assert_eq!(raws, ["{\"eventID\":\"a\"}", "{ \"eventID\" : \"b\" }"]);
    let mut raws = Vec::new();
    one(
        " {\"eventID\":\"c\"}\n",
        &mut Each(|_: &mut StreamRecord<'_>, raw: &str| raws.push(raw.to_owned())),
    )
    .unwrap();
    assert_eq!(raws, ["{\"eventID\":\"c\"}"]);
    // One record only: an event or two records are refused.
    let mut sink = Each(|_: &mut StreamRecord<'_>, _: &str| {});
    assert!(one("{\"Records\":[]}", &mut sink).is_err());
    assert!(one("{\"eventID\":\"c\"} {}", &mut sink).is_err());
}

#[test]
fn refuses_what_it_leaves_to_the_serde_pass() {
    for (text, form) in [
        // Malformed JSON.
        (r#"[{"eventID":"a"},]"#, Form::Array),
        (r#"[{"eventID":"a"}] x"#, Form::Array),
        (r#"[{"eventID":"a}]"#, Form::Array),
        ("[{\"eventID\":\"a\u{1}\"}]", Form::Array),
        (r#"[{"eventID":"\x"}]"#, Form::Array),
        (r#"[{"x":01}]"#, Form::Array),
        (r#"[{"x":1.}]"#, Form::Array),
        (r#"[{"x":-}]"#, Form::Array),
        (r#"[{"x":tru}]"#, Form::Array),
        // Lone surrogates: the exact reader judges them.
        (r#"[{"eventID":"\ud800"}]"#, Form::Array),
        (r#"[{"eventID":"\ud800x"}]"#, Form::Array),
        (r#"[{"eventID":"\ud800\u0041"}]"#, Form::Array),
        (r#"[{"eventID":"\ude00\ud83d"}]"#, Form::Array),
        // Strings that are skipped are checked all the same.
        (r#"[{"zz":"\x"}]"#, Form::Array),
        (
            r#"[{"eventName":"MODIFY","dynamodb":{"OldImage":{"a":{"S":"b\x"}}}}]"#,
            Form::Array,
        ),
        (
            r#"[{"eventName":"MODIFY","dynamodb":{"OldImage":{"a":{"S":"b\ud800"}}}}]"#,
            Form::Array,
        ),
        (
            r#"[{"eventName":"MODIFY","dynamodb":{"OldImage":{"a":{"S":"\u12"}}}}]"#,
            Form::Array,
        ),
        (
            "[{\"eventName\":\"MODIFY\",\"dynamodb\":{\"OldImage\":{\"a\":{\"N\":\"\\n\u{1}\"}}}}]",
            Form::Array,
        ),
        // Structure the typed record does not take.
        (r#"[{"eventID":1}]"#, Form::Array),
        (r#"[{"eventID":"a","eventID":"b"}]"#, Form::Array),
        (r#"{"Records":[],"Records":[]}"#, Form::Batch),
        (r#"{"records":[]}"#, Form::Batch),
        (r#"{"Records":null}"#, Form::Batch),
        (
            r#"[{"dynamodb":{"NewImage":{"a":{"S":"x","N":"1"}}}}]"#,
            Form::Array,
        ),
        (r#"[{"dynamodb":{"NewImage":{"a":{}}}}]"#, Form::Array),
        (
            r#"[{"dynamodb":{"NewImage":{"a":{"X":"1"}}}}]"#,
            Form::Array,
        ),
        (r#"[{"dynamodb":{"NewImage":{"a":{"N":1}}}}]"#, Form::Array),
        (
            r#"[{"dynamodb":{"Keys":{"a":{"SS":["x",1]}}}}]"#,
            Form::Array,
        ),
        ("{\"eventID\":\"a\"}\nnot json", Form::Lines),
    ] {
        assert!(refused(text, form), "{text}");
    }
    let deep = format!(
        "[{{\"x\":{}{}}}]",
        "[".repeat(MAX_DEPTH),
        "]".repeat(MAX_DEPTH)
    );
    assert!(refused(&deep, Form::Array));
}

#[test]
fn a_short_escaped_string_keeps_little_room() {
    let text = "\"a\\nb\"";
    let mut r = Reader::new(text);
    let Text(Cow::Owned(s)) = r.string().unwrap() else {
        panic!("an escaped string is decoded into its own String")
    };
    assert_eq!(s, "a\nb");
    assert!(s.capacity() <= 2 * s.len() + 64, "{}", s.capacity());
    // So does a longer one.
    let long = format!("\"{}\"", "x\\\"".repeat(100));
    let mut r = Reader::new(&long);
    let Text(Cow::Owned(s)) = r.string().unwrap() else {
        panic!("an escaped string is decoded into its own String")
    };
    assert_eq!(s, "x\"".repeat(100));
    assert!(s.capacity() <= 2 * s.len() + 64, "{}", s.capacity());
}

#[test]
fn skipped_strings_take_every_escape_json_has() {
    let text = r#"[{"eventName":"MODIFY","zz":"\u0041\"","dynamodb":{"OldImage":{"a":{"S":"q\"\\\/\b\f\n\r\t\u00e9"},"status":{"S":"OK"}}}}]"#;
    let mut status = None;
    document(
        text,
        Form::Array,
        &mut Each(|d: &mut StreamRecord<'_>, _: &str| {
            status = Some(format!("{:?}", d.old_status));
        }),
    )
    .unwrap();
    assert_eq!(
        status,
        Some(format!(
            "{:?}",
            Some(AttributeValue::S(Text(Cow::Borrowed("OK"))))
        ))
    );
}

#[test]
fn old_image_is_read_into_slots_unless_the_event_is_known_not_to_be_a_remove() {
    let mut forms = Vec::new();
    let text = r#"[
        {"eventName":"MODIFY","dynamodb":{"OldImage":{"status":{"S":"A"},"width":{"N":"1"}}}},
        {"dynamodb":{"OldImage":{"status":{"S":"B"}}},"eventName":"MODIFY"},
        {"eventName":"REMOVE","dynamodb":{"OldImage":{"status":{"S":"C"}}}},
        {"dynamodb":{"NewImage":{"status":{"S":"D"}},"OldImage":{"status":{"S":"E"},"tags":{"SS":["x"]}}},"eventName":"MODIFY"},
        {"dynamodb":{"NewImage":{"status":{"S":"F"}},"OldImage":{"width":{"N":"2"},"status":{"S":"G"},"tags":{"SS":["y"]}}},"eventName":"REMOVE"}
    ]"#;
    let mut old = Vec::new();
    document(
        text,
        Form::Array,
        &mut Each(|d: &mut StreamRecord<'_>, _: &str| {
            forms.push(d.old_form);
            let status = match d.old_form {
                OldForm::Status => d.old_status.clone(),
                _ => d.old_slots.slots[column_index("status").unwrap()].clone(),
            };
            let width = d
                .old_slots
                .slots
                .get(column_index("width").unwrap())
                .cloned()
                .flatten();
            old.push(format!("{:?}", (status, width, d.old_slots.extras.len())));
        }),
    )
    .unwrap();
    assert_eq!(
        forms,
        [
            OldForm::Status,
            OldForm::Slots,
            OldForm::Slots,
            // NewImage first, event name last: only the status, unless it is a REMOVE.
            OldForm::Status,
            OldForm::Slots,
        ]
    );
    let s = |v: &'static str| Some(AttributeValue::S(Text(Cow::Borrowed(v))));
    let n = |v: &'static str| Some(AttributeValue::N(Text(Cow::Borrowed(v))));
    let none: Option<AttributeValue<'_>> = None;
    assert_eq!(old[0], format!("{:?}", (s("A"), none.clone(), 0)));
    assert_eq!(old[3], format!("{:?}", (s("E"), none, 0)));
    // The REMOVE's OldImage read again, whole: its status, its width, its extra attribute.
    assert_eq!(old[4], format!("{:?}", (s("G"), n("2"), 1)));
}
