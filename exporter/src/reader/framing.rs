//! How records sit in an input document, for the exact reader: a Lambda DynamoDB event or a
//! GetRecords response (`{"Records": [...]}`), a JSON array of records, one record
//! (pretty-printed or not), or JSON Lines of records or of whole events. [`split`] finds each
//! record's text (and keeps a line that is not JSON, so that it can be quarantined and
//! counted); the scanner reads the same [`Form`]s in one pass.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The shapes an input document can have; [`split`] accepts the same, tried in the same
/// order ([`candidate_forms`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A JSON array of stream records.
    Array,
    /// A Lambda DynamoDB event or GetRecords response: `{"Records": [...]}`.
    Batch,
    /// JSON Lines, one stream record (or one whole `{"Records": [...]}` event) per line;
    /// blank lines are skipped.
    Lines,
}

/// The forms to try, in order, for a document.
pub fn candidate_forms(text: &str) -> &'static [Form] {
    match text.trim_ascii_start().as_bytes().first() {
        Some(b'[') => &[Form::Array],
        Some(b'{') => &[Form::Batch, Form::Lines],
        _ => &[Form::Lines],
    }
}

/// One unit of input: a record's JSON text, or a line that was not JSON at all (kept so that
/// it can be quarantined and counted).
#[derive(Debug)]
pub enum Framed<'a> {
    Json(&'a str),
    /// A line that is not JSON, as its exact bytes, and why.
    NotJson {
        line: &'a [u8],
        error: String,
    },
}

/// `{"Records": [...]}` with the records borrowed from the input.
#[derive(Deserialize)]
struct BorrowedBatch<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<&'a RawValue>,
}

/// Whether [`split`] reads `text` as a `{"Records": [...]}` batch (rather than as JSON
/// Lines): the scanner must not read such a document as lines either.
pub fn is_batch(text: &str) -> bool {
    let trimmed = text.trim_ascii_start();
    trimmed.starts_with('{') && serde_json::from_str::<BorrowedBatch<'_>>(trimmed).is_ok()
}

/// Why an input file could not be read as records at all.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The input is neither `{"Records": [...]}`, a JSON array of records, nor JSON Lines.
    #[error("input is not a DynamoDB event ({{\"Records\": [...]}}), a JSON array of stream records, or JSON Lines: {0}")]
    Format(String),
}

/// The records of a Lambda payload, which must be `{"Records": [...]}`.
pub fn split_event(text: &str) -> Result<Vec<Framed<'_>>, InputError> {
    let batch: BorrowedBatch<'_> =
        serde_json::from_str(text).map_err(|e| InputError::Format(e.to_string()))?;
    Ok(batch
        .records
        .into_iter()
        .map(|raw| Framed::Json(raw.get()))
        .collect())
}

/// Splits an input file into records. Accepts a Lambda DynamoDB event or GetRecords response
/// (`{"Records": [...]}`), a JSON array of records, or JSON Lines of records (a line that is
/// not JSON becomes [`Framed::NotJson`] and is quarantined, not fatal).
pub fn split(bytes: &[u8]) -> Result<Vec<Framed<'_>>, InputError> {
    fn borrowed(raw: &RawValue) -> Framed<'_> {
        Framed::Json(raw.get())
    }
    let trimmed = bytes.trim_ascii_start();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    if trimmed[0] == b'[' {
        let records: Vec<&RawValue> =
            serde_json::from_slice(trimmed).map_err(|e| InputError::Format(e.to_string()))?;
        return Ok(records.into_iter().map(borrowed).collect());
    }
    if let Ok(batch) = serde_json::from_slice::<BorrowedBatch<'_>>(trimmed) {
        return Ok(batch.records.into_iter().map(borrowed).collect());
    }
    let mut out = Vec::new();
    let (mut lines, mut objects) = (0usize, 0usize);
    for line in trimmed.split(|b| *b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        lines += 1;
        if is_event_line(line) {
            if let Ok(batch) = serde_json::from_slice::<BorrowedBatch<'_>>(line) {
                objects += 1;
                out.extend(batch.records.into_iter().map(borrowed));
                continue;
            }
        }
        match serde_json::from_slice::<&RawValue>(line) {
            Ok(raw) => {
                objects += usize::from(is_non_empty_object(raw.get()));
                out.push(borrowed(raw))
            }
            Err(e) => out.push(Framed::NotJson {
                line,
                error: e.to_string(),
            }),
        }
    }
    if objects == 0 {
        // One record, pretty-printed (as a saved test event often is).
        if let Ok(record) = serde_json::from_slice::<&RawValue>(trimmed) {
            if is_non_empty_object(record.get()) {
                return Ok(vec![borrowed(record)]);
            }
        }
        // Not one line is a record: one document that does not parse (a pretty-printed
        // event with a syntax error, a stray byte, trailing text) or no records at all.
        // Quarantining each of its lines as a record would count lines as records. A
        // damaged JSON Lines file with some good records is still read, its bad lines
        // quarantined.
        let error = match std::str::from_utf8(trimmed) {
            Err(e) => {
                let valid = &trimmed[..e.valid_up_to()];
                let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
                let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                format!(
                    "not UTF-8 text: byte 0x{:02X} at line {line} column {} (JSON is UTF-8; \
                     convert the file, for example with iconv)",
                    trimmed[e.valid_up_to()],
                    e.valid_up_to() - line_start + 1
                )
            }
            Ok(text) => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Err(e) => e.to_string(),
                Ok(_) => "a JSON document but not stream records".to_owned(),
            },
        };
        return Err(InputError::Format(if lines > 1 {
            format!("{error}; read as JSON Lines, none of its {lines} lines is a stream record")
        } else {
            error
        }));
    }
    Ok(out)
}

/// `{` with at least one member: what every stream record is.
fn is_non_empty_object(json: &str) -> bool {
    json.strip_prefix('{')
        .is_some_and(|rest| !rest.trim_ascii_start().starts_with('}'))
}

/// A JSON Lines line that is a whole Lambda event, `{"Records": [...]}`, as an event logger
/// writes one per line: its records are read, not the event as one record. Recognised by
/// `Records` as the first key, so that ordinary record lines cost nothing extra.
pub fn is_event_line(line: &[u8]) -> bool {
    line.strip_prefix(b"{")
        .map(|rest| rest.trim_ascii_start().starts_with(b"\"Records\""))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(bytes: &str) -> usize {
        split(bytes.as_bytes()).unwrap().len()
    }

    #[test]
    fn accepts_event_array_and_json_lines() {
        assert_eq!(count(r#"{"Records":[{"eventID":"a"},{"eventID":"b"}]}"#), 2);
        assert_eq!(count(r#"{"Records":[],"NextShardIterator":"x"}"#), 0);
        assert_eq!(count(r#"[{"eventID":"a"}]"#), 1);
        assert_eq!(count("{\"eventID\":\"a\"}\n\n{\"eventID\":\"b\"}\n"), 2);
        assert_eq!(count("  \n"), 0);
    }

    #[test]
    fn forms_are_tried_by_the_first_byte() {
        assert_eq!(candidate_forms(" [1]"), [Form::Array]);
        assert_eq!(
            candidate_forms("\n{\"Records\":[]}"),
            [Form::Batch, Form::Lines]
        );
        assert_eq!(candidate_forms("x"), [Form::Lines]);
        assert!(is_batch(r#"{"NextShardIterator":"x","Records":[]}"#));
        assert!(!is_batch("{\"eventID\":\"a\"}\n{\"eventID\":\"b\"}"));
        let event = split_event(r#"{"Records":[{"eventID":"a"}, 1]}"#).unwrap();
        assert_eq!(event.len(), 2);
        assert!(split_event(r#"{"eventID":"a"}"#)
            .unwrap_err()
            .to_string()
            .contains("missing field `Records`"));
    }

    #[test]
    fn a_bad_line_is_kept_for_quarantine() {
        let recs = split(b"{\"eventID\":\"a\"}\nnot json\n{\"eventID\":\"b\"}").unwrap();
        assert_eq!(recs.len(), 3);
        assert!(matches!(&recs[1], Framed::NotJson { line, .. } if *line == b"not json"));
    }

    #[test]
    fn a_file_that_is_not_json_is_an_error() {
        let err = split(b"PK\x03\x04 zip").unwrap_err();
        assert!(err.to_string().contains("JSON Lines"), "{err}");
    }

    #[test]
    fn a_broken_pretty_printed_event_is_an_error_not_a_record_per_line() {
        let event = "{\n  \"Records\": [\n    {\n      \"eventID\": \"a\"\n    }\n  ]\n}\nxyz\n";
        let err = split(event.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("trailing characters at line 8 column 1"),
            "{err}"
        );
        assert!(
            err.contains("none of its 8 lines is a stream record"),
            "{err}"
        );
        // A stray Latin-1 byte names its place too.
        let err = split(b"{\n \"Records\": [{\"eventID\": \"caf\xe9\"}]\n}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("byte 0xE9 at line 2 column 30"), "{err}");
        // One line that is not JSON, with its newline, is a wrong file too.
        let err = split(b"hello\n").unwrap_err().to_string();
        assert!(err.contains("expected value at line 1 column 1"), "{err}");
        // A damaged JSON Lines file with one good record is read, the rest quarantined.
        let damaged = split(b"{\"eventID\":\"a\"}\n{\"eventID\n[]\n{}\n").unwrap();
        assert_eq!(damaged.len(), 4);
    }

    #[test]
    fn one_pretty_printed_record_is_one_record() {
        let record =
            "{\n  \"eventID\": \"a\",\n  \"dynamodb\": {\n    \"SequenceNumber\": \"1\"\n  }\n}\n";
        let records = split(record.as_bytes()).unwrap();
        assert_eq!(records.len(), 1);
        assert!(matches!(&records[0], Framed::Json(raw) if raw.contains("\"eventID\": \"a\"")));
    }

    #[test]
    fn json_lines_of_whole_events_are_read_record_by_record() {
        let lines = "{\"Records\":[{\"eventID\":\"a\"},{\"eventID\":\"b\"}]}\n{ \"Records\": [{\"eventID\":\"c\"}]}\n{\"eventID\":\"d\"}\n";
        let ids: Vec<String> = split(lines.as_bytes())
            .unwrap()
            .iter()
            .map(|r| match r {
                Framed::Json(raw) => (*raw).to_owned(),
                Framed::NotJson { line, .. } => String::from_utf8_lossy(line).into_owned(),
            })
            .collect();
        assert_eq!(
            ids,
            [
                r#"{"eventID":"a"}"#,
                r#"{"eventID":"b"}"#,
                r#"{"eventID":"c"}"#,
                r#"{"eventID":"d"}"#
            ]
        );
        // Event lines alone are JSON Lines too, with a bad record or a line that is not JSON.
        let events_only =
            "{\"Records\":[{\"eventID\":\"a\"}]}\n{\"Records\":[{\"eventID\":1}]}\nnot json\n";
        assert_eq!(split(events_only.as_bytes()).unwrap().len(), 3);
    }
}
