//! The server side of a presigned POST, for the local upload route of `imglake serve`: checks
//! a submitted form against its policy as S3 does (signature, expiry, every condition,
//! content-length-range), so local uploads obey the same size policy as uploads to S3.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use thiserror::Error;

use super::sign_policy;

/// Why S3 would refuse a form upload. `code` is S3's error code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{code}: {message}")]
pub struct PostRefused {
    /// `AccessDenied`, `EntityTooLarge`, `EntityTooSmall`, `InvalidPolicyDocument`, …
    pub code: &'static str,
    pub message: String,
    /// The HTTP status S3 answers with.
    pub status: u16,
}

impl PostRefused {
    /// This refusal as the client should read it when some form fields came after the file
    /// (`after_file`, their names): S3 ignores those, so a refusal for a missing or failed
    /// field most likely means one of them belonged before the file.
    pub fn with_fields_after_file(self, after_file: &[String]) -> PostRefused {
        if after_file.is_empty() || self.code == "EntityTooLarge" || self.code == "EntityTooSmall" {
            return self;
        }
        let names: Vec<String> = after_file
            .iter()
            .take(8)
            .map(|n| format!("`{n}`"))
            .collect();
        refuse(
            "InvalidArgument",
            400,
            format!(
                "the file must be the last field of the form: {} came after it, and fields after \
                 the file are ignored ({}); put the file field last",
                names.join(", "),
                self.message
            ),
        )
    }
}

fn refuse(code: &'static str, status: u16, message: impl Into<String>) -> PostRefused {
    PostRefused {
        code,
        message: message.into(),
        status,
    }
}

/// Checks `fields` (every form field but the file) of an upload of `file_len` bytes into
/// `bucket`, signed with `secret_access_key` for `region`, at `now`. Returns the object key.
pub fn verify_post(
    bucket: &str,
    fields: &BTreeMap<String, String>,
    file_len: u64,
    secret_access_key: &str,
    region: &str,
    now: DateTime<Utc>,
) -> Result<String, PostRefused> {
    let field = |name: &str| fields.get(name).map(String::as_str);
    let policy_b64 = field("policy")
        .ok_or_else(|| refuse("AccessDenied", 403, "the form has no policy field"))?;
    let signature = field("x-amz-signature")
        .ok_or_else(|| refuse("AccessDenied", 403, "the form has no x-amz-signature field"))?;
    let amz_date = field("x-amz-date")
        .and_then(|d| NaiveDateTime::parse_from_str(d, "%Y%m%dT%H%M%SZ").ok())
        .ok_or_else(|| refuse("AccessDenied", 403, "x-amz-date is missing or malformed"))?
        .and_utc();
    let expected = sign_policy(policy_b64, secret_access_key, amz_date, region);
    if expected != signature {
        return Err(refuse(
            "SignatureDoesNotMatch",
            403,
            "the policy signature does not match",
        ));
    }
    let policy: Value = base64::engine::general_purpose::STANDARD
        .decode(policy_b64)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or_else(|| {
            refuse(
                "InvalidPolicyDocument",
                400,
                "the policy is not base64 JSON",
            )
        })?;
    let expiration = policy["expiration"]
        .as_str()
        .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
        .ok_or_else(|| refuse("InvalidPolicyDocument", 400, "the policy has no expiration"))?;
    if now > expiration {
        return Err(refuse("AccessDenied", 403, "the upload form has expired"));
    }
    let conditions = policy["conditions"]
        .as_array()
        .ok_or_else(|| refuse("InvalidPolicyDocument", 400, "the policy has no conditions"))?;
    let value_of = |name: &str| -> Option<&str> {
        if name == "bucket" {
            Some(bucket)
        } else {
            field(name)
        }
    };
    let mut covered = vec!["policy", "x-amz-signature", "file", "bucket"];
    for condition in conditions {
        match condition {
            Value::Object(map) => {
                for (name, want) in map {
                    let got = value_of(name);
                    if got != want.as_str() {
                        return Err(refuse(
                            "AccessDenied",
                            403,
                            format!("condition failed: {name}"),
                        ));
                    }
                    covered.push(name.as_str());
                }
            }
            Value::Array(items) => match items.as_slice() {
                [op, Value::String(var), Value::String(want)]
                    if op == "eq" || op == "starts-with" =>
                {
                    let name = var.trim_start_matches('$');
                    let got = value_of(name).unwrap_or("");
                    let ok = if op == "eq" {
                        got == want
                    } else {
                        got.starts_with(want.as_str())
                    };
                    if !ok {
                        return Err(refuse(
                            "AccessDenied",
                            403,
                            format!("condition failed: {op} {var}"),
                        ));
                    }
                    covered.push(name);
                }
                [op, min, max] if op == "content-length-range" => {
                    let (min, max) = (min.as_u64().unwrap_or(0), max.as_u64().unwrap_or(0));
                    if file_len > max {
                        return Err(refuse(
                            "EntityTooLarge",
                            400,
                            format!("your proposed upload of {file_len} bytes exceeds the maximum allowed size of {max} bytes"),
                        ));
                    }
                    if file_len < min {
                        return Err(refuse(
                            "EntityTooSmall",
                            400,
                            format!("your proposed upload of {file_len} bytes is smaller than the minimum allowed size of {min} bytes"),
                        ));
                    }
                }
                _ => {
                    return Err(refuse(
                        "InvalidPolicyDocument",
                        400,
                        "unknown policy condition",
                    ));
                }
            },
            _ => {
                return Err(refuse(
                    "InvalidPolicyDocument",
                    400,
                    "unknown policy condition",
                ))
            }
        }
    }
    // S3 refuses form fields no condition covers (x-ignore-* excepted).
    if let Some(extra) = fields
        .keys()
        .find(|k| !k.starts_with("x-ignore-") && !covered.iter().any(|c| c.eq_ignore_ascii_case(k)))
    {
        return Err(refuse(
            "AccessDenied",
            403,
            format!("invalid according to policy: extra input field {extra}"),
        ));
    }
    field("key")
        .map(str::to_owned)
        .ok_or_else(|| refuse("InvalidArgument", 400, "the form has no key field"))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::presign::{presign_post, Credentials, PostPolicyRequest};

    fn form(max: u64) -> (BTreeMap<String, String>, DateTime<Utc>) {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .single()
            .unwrap();
        let mut req = PostPolicyRequest::new(
            "raw",
            "images/01ABC",
            "us-east-1",
            Credentials::new("local", "secret"),
            now,
        );
        req.max_bytes = max;
        req.endpoint = Some("http://127.0.0.1:8080/upload".into());
        (presign_post(&req).unwrap().fields, now)
    }

    #[test]
    fn a_form_signed_here_passes_and_names_its_key() {
        let (fields, now) = form(100);
        assert_eq!(
            verify_post("raw", &fields, 100, "secret", "us-east-1", now).unwrap(),
            "images/01ABC"
        );
    }

    #[test]
    fn size_signature_expiry_bucket_and_tampering_are_refused() {
        let (fields, now) = form(100);
        let check = |f: &BTreeMap<String, String>, len, secret, bucket, at| {
            verify_post(bucket, f, len, secret, "us-east-1", at)
                .unwrap_err()
                .code
        };
        assert_eq!(check(&fields, 101, "secret", "raw", now), "EntityTooLarge");
        assert_eq!(check(&fields, 0, "secret", "raw", now), "EntityTooSmall");
        assert_eq!(
            check(&fields, 10, "other", "raw", now),
            "SignatureDoesNotMatch"
        );
        assert_eq!(
            check(&fields, 10, "secret", "elsewhere", now),
            "AccessDenied"
        );
        let later = now + chrono::Duration::hours(2);
        assert_eq!(check(&fields, 10, "secret", "raw", later), "AccessDenied");
        let mut moved = fields.clone();
        moved.insert("key".into(), "images/someone-else".into());
        assert_eq!(check(&moved, 10, "secret", "raw", now), "AccessDenied");
        let mut extra = fields.clone();
        extra.insert("acl".into(), "public-read".into());
        assert_eq!(check(&extra, 10, "secret", "raw", now), "AccessDenied");
    }

    #[test]
    fn a_refusal_caused_by_fields_after_the_file_names_them() {
        let (mut fields, now) = form(100);
        let policy = fields.remove("policy").unwrap();
        let _ = policy;
        let refused = verify_post("raw", &fields, 10, "secret", "us-east-1", now).unwrap_err();
        assert_eq!(refused.message, "the form has no policy field");
        let explained = refused.with_fields_after_file(&["policy".to_owned()]);
        assert_eq!(explained.code, "InvalidArgument");
        assert_eq!(explained.status, 400);
        assert_eq!(
            explained.message,
            "the file must be the last field of the form: `policy` came after it, and fields \
             after the file are ignored (the form has no policy field); put the file field last"
        );
        // A size refusal stays what it is.
        let (fields, now) = form(100);
        let too_big = verify_post("raw", &fields, 101, "secret", "us-east-1", now).unwrap_err();
        assert_eq!(
            too_big.with_fields_after_file(&["x".into()]).code,
            "EntityTooLarge"
        );
    }
}
