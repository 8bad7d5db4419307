//! Presigned S3 POST (browser-based upload, Signature Version 4).
//!
//! aws-sdk-rust has no presigned POST (awslabs/aws-sdk-rust#863), so the POST policy is built
//! here and signed with aws-sigv4's primitives: the signing key is
//! [`generate_signing_key`] for `<yyyymmdd>/<region>/s3/aws4_request`, and the signature is
//! the hex HMAC-SHA256 of the *base64-encoded* policy under that key ([`sign_policy`]).
//!
//! [`presign_post`] turns a [`PostPolicyRequest`] into a [`PresignedPost`]: the URL to POST to
//! and the form fields the client sends, in a `multipart/form-data` body, before a last part
//! named `file` carrying the bytes ([`PresignedPost::form_fields`] gives them in a valid order).
//! The policy always bounds the size with `content-length-range`, pins the bucket and the key,
//! and, when configured, the content type, server-side encryption, user metadata and extra form
//! fields; S3 refuses an upload that does not match every condition.
//!
//! The signature is checked against AWS's published example (S3 API reference, "Example:
//! Browser-Based Upload using HTTP POST (Using AWS Signature Version 4)") in this module's tests.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use thiserror::Error;

mod verify;
pub use verify::{verify_post, PostRefused};

/// The only algorithm S3 POST accepts with Signature Version 4.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Default [`PostPolicyRequest::expires_in`]: 15 minutes.
pub const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(15 * 60);
/// Longest accepted [`PostPolicyRequest::expires_in`]: 7 days, SigV4's presigning limit.
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Longest S3 object key, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Form field names this module writes itself; [`PostPolicyRequest::extra_fields`] may not
/// use them (compared case-insensitively, as S3 does).
const RESERVED_FIELDS: &[&str] = &[
    "key",
    "bucket",
    "file",
    "policy",
    "content-type",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-signature",
];

/// AWS credentials that sign the policy. `Debug` never prints the secret or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id (`AKIA…`, or `ASIA…` for temporary credentials).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials (STS, a Lambda's role); it is then a policy
    /// condition and the `x-amz-security-token` form field.
    pub session_token: Option<String>,
}

impl Credentials {
    /// Long-term credentials (no session token).
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    /// Adds a session token (temporary credentials).
    #[must_use]
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

/// How the uploaded object's key must match [`PostPolicyRequest::key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyMatch {
    /// The key is exactly `key` (`["eq", "$key", key]`); the form's `key` field is `key`.
    #[default]
    Exact,
    /// The key starts with `key` (`["starts-with", "$key", key]`); the form's `key` field is
    /// `key` followed by `${filename}`, which S3 replaces with the uploaded file's name.
    Prefix,
}

/// Server-side encryption the upload must request (a policy condition and a form field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSideEncryption {
    /// SSE-S3: `x-amz-server-side-encryption: AES256`.
    S3,
    /// SSE-KMS: `x-amz-server-side-encryption: aws:kms`, and
    /// `x-amz-server-side-encryption-aws-kms-key-id` when a key is given (otherwise S3 uses the
    /// AWS managed key `aws/s3`).
    Kms {
        /// KMS key id or ARN.
        key_id: Option<String>,
    },
}

/// What a presigned POST allows: one upload to `bucket`/`key` of `min_bytes..=max_bytes`
/// bytes before `now + expires_in`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicyRequest {
    /// Target bucket.
    pub bucket: String,
    /// Object key (or key prefix, see [`key_match`](Self::key_match)).
    pub key: String,
    /// How the key must match (default [`KeyMatch::Exact`]).
    pub key_match: KeyMatch,
    /// Region of the bucket; part of the credential scope.
    pub region: String,
    /// A fixed `Content-Type` for the object (policy condition and form field); `None` leaves
    /// it to the client. Never trusted for the image type: validation sniffs magic bytes.
    pub content_type: Option<String>,
    /// Smallest accepted upload in bytes (`content-length-range` lower bound).
    pub min_bytes: u64,
    /// Largest accepted upload in bytes (`content-length-range` upper bound).
    pub max_bytes: u64,
    /// How long the form stays valid, counted from [`now`](Self::now); at most
    /// [`MAX_EXPIRES_IN`] and never longer than the credentials themselves live.
    pub expires_in: Duration,
    /// Signing time: `x-amz-date`, the credential scope's date and the expiration's origin.
    pub now: DateTime<Utc>,
    /// Credentials that sign the policy.
    pub credentials: Credentials,
    /// Base URL of an S3-compatible server (`http://127.0.0.1:9000`), addressed path-style
    /// (`<endpoint>/<bucket>`); `None` means AWS, virtual-hosted style.
    pub endpoint: Option<String>,
    /// Server-side encryption the upload must request.
    pub server_side_encryption: Option<ServerSideEncryption>,
    /// User metadata, stored as `x-amz-meta-<name>`; names are lower-case ASCII letters,
    /// digits, `-` and `_`, given without the prefix.
    pub metadata: BTreeMap<String, String>,
    /// Further form fields that must have exactly these values (`success_action_status`,
    /// `Cache-Control`, `tagging`, …); names this module writes itself are refused.
    pub extra_fields: BTreeMap<String, String>,
}

impl PostPolicyRequest {
    /// A request with the defaults: exact key, 1 byte to
    /// [`crate::validate::DEFAULT_MAX_BYTES`], [`DEFAULT_EXPIRES_IN`], AWS endpoint, no fixed
    /// content type, no encryption condition, no metadata.
    pub fn new(
        bucket: impl Into<String>,
        key: impl Into<String>,
        region: impl Into<String>,
        credentials: Credentials,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
            key_match: KeyMatch::Exact,
            region: region.into(),
            content_type: None,
            min_bytes: 1,
            max_bytes: crate::validate::DEFAULT_MAX_BYTES,
            expires_in: DEFAULT_EXPIRES_IN,
            now,
            credentials,
            endpoint: None,
            server_side_encryption: None,
            metadata: BTreeMap::new(),
            extra_fields: BTreeMap::new(),
        }
    }
}

/// A signed upload form: POST a `multipart/form-data` body to `url` with every field of
/// `fields`, then the file as a last part named `file`. Serializes as
/// `{"url": …, "fields": {…}}`, the shape the upload API returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresignedPost {
    /// Where the form is posted.
    pub url: String,
    /// Form fields, including `key`, `policy` and the `x-amz-*` signature fields.
    pub fields: BTreeMap<String, String>,
    /// When the policy expires (not serialized).
    #[serde(skip)]
    pub expires_at: DateTime<Utc>,
}

impl PresignedPost {
    /// The form fields in a valid multipart order: `key` first (some S3-compatible servers
    /// want it before the policy), then the others by name. The caller appends the `file`
    /// part last: S3 ignores every field after it.
    pub fn form_fields(&self) -> Vec<(&str, &str)> {
        let key = self.fields.get_key_value("key");
        key.into_iter()
            .chain(
                self.fields
                    .iter()
                    .filter(|(name, _)| name.as_str() != "key"),
            )
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }

    /// A complete `multipart/form-data` body: [`form_fields`](Self::form_fields), then the
    /// `file` part. `boundary` must not occur in any field or in `file`; send the body with
    /// `Content-Type: multipart/form-data; boundary=<boundary>`. For tests and local tools;
    /// browsers build this body themselves from `FormData`.
    pub fn multipart_body(
        &self,
        boundary: &str,
        file_name: &str,
        file_content_type: &str,
        file: &[u8],
    ) -> Vec<u8> {
        let mut body = Vec::with_capacity(file.len() + 4096);
        for (name, value) in self.form_fields() {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        let file_name: String = file_name
            .chars()
            .map(|c| {
                if matches!(c, '"' | '\r' | '\n' | '\\') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: {file_content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        body
    }
}

/// Why a presigned POST could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PresignError {
    /// A required value is empty.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// The object key is longer than S3 allows.
    #[error("object key is {0} bytes; S3 allows at most {MAX_KEY_BYTES}")]
    KeyTooLong(usize),
    /// The size bounds are inverted or allow nothing.
    #[error("content-length-range {min}..={max} is empty (need min <= max and max > 0)")]
    SizeRange {
        /// Lower bound.
        min: u64,
        /// Upper bound.
        max: u64,
    },
    /// The lifetime is zero or longer than [`MAX_EXPIRES_IN`].
    #[error("expires_in {0:?} must be more than zero and at most 7 days")]
    Expiry(Duration),
    /// The endpoint is not an absolute http(s) URL.
    #[error("endpoint `{0}` must start with http:// or https://")]
    Endpoint(String),
    /// A form field name is malformed or reserved.
    #[error("form field `{0}` is not allowed: {1}")]
    Field(String, &'static str),
    /// A value contains a control character (CR, LF, …), which no form field may carry.
    #[error("value of `{0}` contains a control character")]
    ControlCharacter(String),
}

/// Signs a base64-encoded POST policy: the hex HMAC-SHA256 of `policy_base64` under the SigV4
/// signing key for `<date>/<region>/s3/aws4_request`, `date` being the UTC day of `date_time`.
pub fn sign_policy(
    policy_base64: &str,
    secret_access_key: &str,
    date_time: DateTime<Utc>,
    region: &str,
) -> String {
    let key = generate_signing_key(secret_access_key, SystemTime::from(date_time), region, "s3");
    calculate_signature(key, policy_base64.as_bytes())
}

/// The policy document: `expiration` first, as AWS writes it.
#[derive(Serialize)]
struct Policy {
    expiration: String,
    conditions: Vec<Value>,
}

/// Builds and signs the POST policy described by `req`.
pub fn presign_post(req: &PostPolicyRequest) -> Result<PresignedPost, PresignError> {
    check(req)?;
    let creds = &req.credentials;
    let expires_at = req.now
        + chrono::Duration::from_std(req.expires_in)
            .map_err(|_| PresignError::Expiry(req.expires_in))?;
    let amz_date = req.now.format("%Y%m%dT%H%M%SZ").to_string();
    let credential = format!(
        "{}/{}/{}/s3/aws4_request",
        creds.access_key_id,
        req.now.format("%Y%m%d"),
        req.region
    );

    let mut fields = BTreeMap::new();
    let mut conditions = vec![json!({ "bucket": req.bucket })];
    match req.key_match {
        KeyMatch::Exact => {
            conditions.push(json!(["eq", "$key", req.key]));
            fields.insert("key".to_owned(), req.key.clone());
        }
        KeyMatch::Prefix => {
            conditions.push(json!(["starts-with", "$key", req.key]));
            fields.insert("key".to_owned(), format!("{}${{filename}}", req.key));
        }
    }
    conditions.push(json!([
        "content-length-range",
        req.min_bytes,
        req.max_bytes
    ]));

    let mut exact = |name: String, value: String| {
        conditions.push(json!(["eq", format!("${name}"), value]));
        fields.insert(name, value);
    };
    if let Some(content_type) = &req.content_type {
        exact("Content-Type".to_owned(), content_type.clone());
    }
    match &req.server_side_encryption {
        None => {}
        Some(ServerSideEncryption::S3) => {
            exact(
                "x-amz-server-side-encryption".to_owned(),
                "AES256".to_owned(),
            );
        }
        Some(ServerSideEncryption::Kms { key_id }) => {
            exact(
                "x-amz-server-side-encryption".to_owned(),
                "aws:kms".to_owned(),
            );
            if let Some(key_id) = key_id {
                exact(
                    "x-amz-server-side-encryption-aws-kms-key-id".to_owned(),
                    key_id.clone(),
                );
            }
        }
    }
    for (name, value) in &req.metadata {
        exact(format!("x-amz-meta-{name}"), value.clone());
    }
    for (name, value) in &req.extra_fields {
        exact(name.clone(), value.clone());
    }

    let mut signed = vec![
        ("x-amz-algorithm", ALGORITHM.to_owned()),
        ("x-amz-credential", credential),
        ("x-amz-date", amz_date),
    ];
    if let Some(token) = &creds.session_token {
        signed.push(("x-amz-security-token", token.clone()));
    }
    for (name, value) in signed {
        conditions.push(json!({ name: value }));
        fields.insert(name.to_owned(), value);
    }

    let policy = Policy {
        expiration: expires_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        conditions,
    };
    // Serializing strings, integers and arrays of them cannot fail.
    let policy_json = serde_json::to_string(&policy).unwrap_or_default();
    let policy_base64 = BASE64.encode(policy_json);
    let signature = sign_policy(
        &policy_base64,
        &creds.secret_access_key,
        req.now,
        &req.region,
    );
    fields.insert("policy".to_owned(), policy_base64);
    fields.insert("x-amz-signature".to_owned(), signature);

    let url = match &req.endpoint {
        Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), req.bucket),
        None => format!("https://{}.s3.{}.amazonaws.com/", req.bucket, req.region),
    };
    Ok(PresignedPost {
        url,
        fields,
        expires_at,
    })
}

fn check(req: &PostPolicyRequest) -> Result<(), PresignError> {
    let required = [
        ("bucket", &req.bucket),
        ("region", &req.region),
        ("access_key_id", &req.credentials.access_key_id),
        ("secret_access_key", &req.credentials.secret_access_key),
    ];
    for (what, value) in required {
        if value.is_empty() {
            return Err(PresignError::Empty(what));
        }
    }
    if req.key.is_empty() && req.key_match == KeyMatch::Exact {
        return Err(PresignError::Empty("key"));
    }
    if req.key.len() > MAX_KEY_BYTES {
        return Err(PresignError::KeyTooLong(req.key.len()));
    }
    if req.min_bytes > req.max_bytes || req.max_bytes == 0 {
        return Err(PresignError::SizeRange {
            min: req.min_bytes,
            max: req.max_bytes,
        });
    }
    if req.expires_in.is_zero() || req.expires_in > MAX_EXPIRES_IN {
        return Err(PresignError::Expiry(req.expires_in));
    }
    if let Some(endpoint) = &req.endpoint {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(PresignError::Endpoint(endpoint.clone()));
        }
    }
    // Bucket, region and access key id also go into the URL or the credential scope.
    let scoped = [
        ("bucket", &req.bucket),
        ("region", &req.region),
        ("access_key_id", &req.credentials.access_key_id),
    ];
    for (what, value) in scoped {
        if value.contains(['/', ' ']) || value.chars().any(char::is_control) {
            return Err(PresignError::Field(
                what.to_owned(),
                "must not contain '/', spaces or control characters",
            ));
        }
    }

    for (name, value) in &req.metadata {
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(PresignError::Field(
                name.clone(),
                "metadata names are lower-case ASCII letters, digits, '-' and '_'",
            ));
        }
        no_control(name, value)?;
    }
    for (name, value) in &req.extra_fields {
        let lower = name.to_ascii_lowercase();
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(PresignError::Field(
                name.clone(),
                "field names are ASCII letters, digits, '-' and '_'",
            ));
        }
        if RESERVED_FIELDS.contains(&lower.as_str())
            || lower.starts_with("x-amz-server-side-encryption")
        {
            return Err(PresignError::Field(
                name.clone(),
                "set by the presigner itself",
            ));
        }
        if lower.starts_with("x-amz-meta-") {
            return Err(PresignError::Field(
                name.clone(),
                "use `metadata` for x-amz-meta-*",
            ));
        }
        no_control(name, value)?;
    }
    let more = [
        ("key", Some(&req.key)),
        ("Content-Type", req.content_type.as_ref()),
        (
            "x-amz-security-token",
            req.credentials.session_token.as_ref(),
        ),
    ];
    for (name, value) in more {
        if let Some(value) = value {
            no_control(name, value)?;
        }
    }
    if let Some(ServerSideEncryption::Kms {
        key_id: Some(key_id),
    }) = &req.server_side_encryption
    {
        no_control("x-amz-server-side-encryption-aws-kms-key-id", key_id)?;
    }
    Ok(())
}

fn no_control(name: &str, value: &str) -> Result<(), PresignError> {
    if value.chars().any(char::is_control) {
        Err(PresignError::ControlCharacter(name.to_owned()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// AWS's published example, verbatim from the S3 API reference, "Example: Browser-Based
    /// Upload using HTTP POST (Using AWS Signature Version 4)"
    /// (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-post-example.html).
    const AWS_EXAMPLE_POLICY_BASE64: &str = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
    const AWS_EXAMPLE_SIGNATURE: &str =
        "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e";
    const AWS_EXAMPLE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid time")
    }

    fn request() -> PostPolicyRequest {
        PostPolicyRequest::new(
            "imglake-raw",
            "raw/01J9ZQ3V4W5X6Y7Z8A9B0C1D2E",
            "eu-west-1",
            Credentials::new("AKIAIOSFODNN7EXAMPLE", AWS_EXAMPLE_SECRET),
            t(2024, 5, 17, 9, 30, 0),
        )
    }

    fn policy_of(post: &PresignedPost) -> Value {
        let raw = BASE64
            .decode(&post.fields["policy"])
            .expect("base64 policy");
        serde_json::from_slice(&raw).expect("JSON policy")
    }

    fn conditions(post: &PresignedPost) -> Vec<Value> {
        policy_of(post)["conditions"]
            .as_array()
            .expect("conditions array")
            .clone()
    }

    #[test]
    fn presign_kat_aws_browser_post_example() {
        // The published policy decodes to the published JSON, CRLF line ends included.
        let decoded = BASE64.decode(AWS_EXAMPLE_POLICY_BASE64).expect("base64");
        let text = String::from_utf8(decoded).expect("utf-8");
        assert_eq!(text.len(), 648);
        assert!(text.starts_with("{ \"expiration\": \"2015-12-30T12:00:00.000Z\",\r\n"));
        assert!(text.contains(
            "{\"x-amz-credential\": \"AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request\"}"
        ));
        // Signing the published base64 policy gives the published signature, byte for byte.
        let signature = sign_policy(
            AWS_EXAMPLE_POLICY_BASE64,
            AWS_EXAMPLE_SECRET,
            t(2015, 12, 29, 0, 0, 0),
            "us-east-1",
        );
        assert_eq!(signature, AWS_EXAMPLE_SIGNATURE);
        // The signing key depends on the day only, not on the time of day.
        let later = sign_policy(
            AWS_EXAMPLE_POLICY_BASE64,
            AWS_EXAMPLE_SECRET,
            t(2015, 12, 29, 23, 59, 59),
            "us-east-1",
        );
        assert_eq!(later, AWS_EXAMPLE_SIGNATURE);
        // Any other day, region or secret gives another signature.
        for (secret, day, region) in [
            (AWS_EXAMPLE_SECRET, t(2015, 12, 30, 0, 0, 0), "us-east-1"),
            (AWS_EXAMPLE_SECRET, t(2015, 12, 29, 0, 0, 0), "us-west-2"),
            (
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                t(2015, 12, 29, 0, 0, 0),
                "us-east-1",
            ),
        ] {
            assert_ne!(
                sign_policy(AWS_EXAMPLE_POLICY_BASE64, secret, day, region),
                AWS_EXAMPLE_SIGNATURE
            );
        }
    }

    #[test]
    fn presign_kat_sigv4_signing_key_general_reference() {
        // AWS General Reference, "Examples of how to derive a signing key for Signature
        // Version 4": secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam.
        let key = generate_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            SystemTime::from(t(2012, 2, 15, 0, 0, 0)),
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn presign_regression_vector() {
        // Policy bytes pinned; signature recomputed independently (Python hmac/hashlib).
        let mut req = request();
        req.content_type = Some("image/jpeg".to_owned());
        let post = presign_post(&req).expect("presign");
        let json =
            String::from_utf8(BASE64.decode(&post.fields["policy"]).expect("b64")).expect("utf-8");
        assert_eq!(
            json,
            concat!(
                r#"{"expiration":"2024-05-17T09:45:00.000Z","conditions":["#,
                r#"{"bucket":"imglake-raw"},["eq","$key","raw/01J9ZQ3V4W5X6Y7Z8A9B0C1D2E"],"#,
                r#"["content-length-range",1,10485760],["eq","$Content-Type","image/jpeg"],"#,
                r#"{"x-amz-algorithm":"AWS4-HMAC-SHA256"},"#,
                r#"{"x-amz-credential":"AKIAIOSFODNN7EXAMPLE/20240517/eu-west-1/s3/aws4_request"},"#,
                r#"{"x-amz-date":"20240517T093000Z"}]}"#
            )
        );
        assert_eq!(post.fields["x-amz-signature"], REGRESSION_SIGNATURE);
    }

    const REGRESSION_SIGNATURE: &str =
        "ca4ab51b09b8cf2bfbc7a9a367d34842d90743bc80f98a141085fa5fb308e8a4";

    #[test]
    fn presign_fields_and_url() {
        let post = presign_post(&request()).expect("presign");
        assert_eq!(post.url, "https://imglake-raw.s3.eu-west-1.amazonaws.com/");
        let names: Vec<&str> = post.fields.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "key",
                "policy",
                "x-amz-algorithm",
                "x-amz-credential",
                "x-amz-date",
                "x-amz-signature"
            ]
        );
        assert_eq!(post.fields["key"], "raw/01J9ZQ3V4W5X6Y7Z8A9B0C1D2E");
        assert_eq!(post.fields["x-amz-algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(
            post.fields["x-amz-credential"],
            "AKIAIOSFODNN7EXAMPLE/20240517/eu-west-1/s3/aws4_request"
        );
        assert_eq!(post.fields["x-amz-date"], "20240517T093000Z");
        let sig = &post.fields["x-amz-signature"];
        assert_eq!(sig.len(), 64);
        assert!(sig
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        // The signature is over the base64 policy exactly as sent in the form.
        assert_eq!(
            *sig,
            sign_policy(
                &post.fields["policy"],
                AWS_EXAMPLE_SECRET,
                request().now,
                "eu-west-1"
            )
        );
        // Signed form fields are all policy conditions.
        let conds = conditions(&post);
        for name in ["x-amz-algorithm", "x-amz-credential", "x-amz-date"] {
            assert!(
                conds.contains(&json!({ name: post.fields[name] })),
                "{name}"
            );
        }
        assert!(conds.contains(&json!({"bucket": "imglake-raw"})));
        assert!(conds.contains(&json!(["eq", "$key", "raw/01J9ZQ3V4W5X6Y7Z8A9B0C1D2E"])));
        // The upload API's response shape.
        let value = serde_json::to_value(&post).expect("serialize");
        assert_eq!(value["url"], post.url);
        assert_eq!(value["fields"]["key"], post.fields["key"]);
        assert_eq!(value.as_object().map(|o| o.len()), Some(2));
    }

    #[test]
    fn presign_path_style_endpoint() {
        let mut req = request();
        req.endpoint = Some("http://127.0.0.1:9000/".to_owned());
        let post = presign_post(&req).expect("presign");
        assert_eq!(post.url, "http://127.0.0.1:9000/imglake-raw");
        req.endpoint = Some("localhost:9000".to_owned());
        assert!(matches!(presign_post(&req), Err(PresignError::Endpoint(_))));
    }

    #[test]
    fn presign_content_length_range_has_configured_bounds() {
        let mut req = request();
        req.min_bytes = 12;
        req.max_bytes = 10 * 1024 * 1024;
        let post = presign_post(&req).expect("presign");
        let ranges: Vec<Value> = conditions(&post)
            .into_iter()
            .filter(|c| c.get(0) == Some(&json!("content-length-range")))
            .collect();
        assert_eq!(ranges, [json!(["content-length-range", 12, 10_485_760])]);
        assert!(
            ranges[0][1].is_u64() && ranges[0][2].is_u64(),
            "integers, not strings"
        );

        req.min_bytes = 11;
        req.max_bytes = 10;
        assert_eq!(
            presign_post(&req),
            Err(PresignError::SizeRange { min: 11, max: 10 })
        );
        req.min_bytes = 0;
        req.max_bytes = 0;
        assert!(matches!(
            presign_post(&req),
            Err(PresignError::SizeRange { .. })
        ));
    }

    #[test]
    fn presign_expiration_is_now_plus_expires_in() {
        let mut req = request();
        req.expires_in = Duration::from_secs(3600);
        let post = presign_post(&req).expect("presign");
        assert_eq!(policy_of(&post)["expiration"], "2024-05-17T10:30:00.000Z");
        assert_eq!(post.expires_at, t(2024, 5, 17, 10, 30, 0));

        // Sub-second signing times keep their milliseconds; x-amz-date truncates to seconds.
        req.now = t(2024, 12, 31, 23, 59, 59) + chrono::Duration::milliseconds(250);
        req.expires_in = Duration::from_millis(1500);
        let post = presign_post(&req).expect("presign");
        assert_eq!(policy_of(&post)["expiration"], "2025-01-01T00:00:00.750Z");
        assert_eq!(post.fields["x-amz-date"], "20241231T235959Z");
        assert_eq!(
            post.fields["x-amz-credential"],
            "AKIAIOSFODNN7EXAMPLE/20241231/eu-west-1/s3/aws4_request"
        );

        for bad in [Duration::ZERO, MAX_EXPIRES_IN + Duration::from_secs(1)] {
            req.expires_in = bad;
            assert_eq!(presign_post(&req), Err(PresignError::Expiry(bad)));
        }
        req.expires_in = MAX_EXPIRES_IN;
        assert!(presign_post(&req).is_ok());
    }

    #[test]
    fn presign_session_token_in_policy_and_fields() {
        let mut req = request();
        req.credentials = Credentials::new("ASIAEXAMPLE", AWS_EXAMPLE_SECRET)
            .with_session_token("FwoGZXIvYXdzEXAMPLE//token+/=");
        let post = presign_post(&req).expect("presign");
        assert_eq!(
            post.fields["x-amz-security-token"],
            "FwoGZXIvYXdzEXAMPLE//token+/="
        );
        assert!(conditions(&post)
            .contains(&json!({"x-amz-security-token": "FwoGZXIvYXdzEXAMPLE//token+/="})));
        assert!(post.fields["x-amz-credential"].starts_with("ASIAEXAMPLE/"));

        let without = presign_post(&request()).expect("presign");
        assert!(!without.fields.contains_key("x-amz-security-token"));
        assert!(!conditions(&without)
            .iter()
            .any(|c| c.get("x-amz-security-token").is_some()));

        let debug = format!("{:?}", req.credentials);
        assert!(
            !debug.contains(AWS_EXAMPLE_SECRET) && !debug.contains("FwoG"),
            "{debug}"
        );
    }

    #[test]
    fn presign_sse_kms_conditions() {
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let mut req = request();
        req.server_side_encryption = Some(ServerSideEncryption::Kms {
            key_id: Some(arn.to_owned()),
        });
        let post = presign_post(&req).expect("presign");
        assert_eq!(post.fields["x-amz-server-side-encryption"], "aws:kms");
        assert_eq!(
            post.fields["x-amz-server-side-encryption-aws-kms-key-id"],
            arn
        );
        let conds = conditions(&post);
        assert!(conds.contains(&json!(["eq", "$x-amz-server-side-encryption", "aws:kms"])));
        assert!(conds.contains(&json!([
            "eq",
            "$x-amz-server-side-encryption-aws-kms-key-id",
            arn
        ])));

        req.server_side_encryption = Some(ServerSideEncryption::Kms { key_id: None });
        let post = presign_post(&req).expect("presign");
        assert_eq!(post.fields["x-amz-server-side-encryption"], "aws:kms");
        assert!(!post
            .fields
            .contains_key("x-amz-server-side-encryption-aws-kms-key-id"));

        req.server_side_encryption = Some(ServerSideEncryption::S3);
        let post = presign_post(&req).expect("presign");
        assert!(conditions(&post).contains(&json!([
            "eq",
            "$x-amz-server-side-encryption",
            "AES256"
        ])));

        let plain = presign_post(&request()).expect("presign");
        assert!(!plain
            .fields
            .keys()
            .any(|k| k.starts_with("x-amz-server-side-encryption")));
    }

    #[test]
    fn presign_metadata_content_type_and_extra_fields() {
        let mut req = request();
        req.content_type = Some("image/png".to_owned());
        req.metadata
            .insert("image-id".to_owned(), "01J9ZQ3V4W".to_owned());
        req.extra_fields
            .insert("success_action_status".to_owned(), "201".to_owned());
        let post = presign_post(&req).expect("presign");
        assert_eq!(post.fields["Content-Type"], "image/png");
        assert_eq!(post.fields["x-amz-meta-image-id"], "01J9ZQ3V4W");
        assert_eq!(post.fields["success_action_status"], "201");
        let conds = conditions(&post);
        for (name, value) in [
            ("Content-Type", "image/png"),
            ("x-amz-meta-image-id", "01J9ZQ3V4W"),
            ("success_action_status", "201"),
        ] {
            assert!(
                conds.contains(&json!(["eq", format!("${name}"), value])),
                "{name}"
            );
        }

        let refused = |field: (&str, &str), meta: bool| {
            let mut req = request();
            let target = if meta {
                &mut req.metadata
            } else {
                &mut req.extra_fields
            };
            target.insert(field.0.to_owned(), field.1.to_owned());
            presign_post(&req)
        };
        assert!(matches!(
            refused(("Image Id", "x"), true),
            Err(PresignError::Field(..))
        ));
        assert!(matches!(
            refused(("ok", "a\r\nb"), true),
            Err(PresignError::ControlCharacter(_))
        ));
        for reserved in [
            "Policy",
            "key",
            "X-Amz-Signature",
            "x-amz-meta-a",
            "file",
            "Content-Type",
        ] {
            assert!(
                matches!(
                    refused((reserved, "x"), false),
                    Err(PresignError::Field(..))
                ),
                "{reserved}"
            );
        }
    }

    #[test]
    fn presign_key_prefix_and_key_checks() {
        let mut req = request();
        req.key = "raw/user1/".to_owned();
        req.key_match = KeyMatch::Prefix;
        let post = presign_post(&req).expect("presign");
        assert_eq!(post.fields["key"], "raw/user1/${filename}");
        assert!(conditions(&post).contains(&json!(["starts-with", "$key", "raw/user1/"])));

        req.key_match = KeyMatch::Exact;
        req.key = String::new();
        assert_eq!(presign_post(&req), Err(PresignError::Empty("key")));
        req.key = "k".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(
            presign_post(&req),
            Err(PresignError::KeyTooLong(MAX_KEY_BYTES + 1))
        );
        let mut req = request();
        req.credentials.secret_access_key.clear();
        assert_eq!(
            presign_post(&req),
            Err(PresignError::Empty("secret_access_key"))
        );
        let mut req = request();
        req.bucket = "a/b".to_owned();
        assert!(matches!(presign_post(&req), Err(PresignError::Field(..))));
    }

    #[test]
    fn presign_browser_form_has_exactly_the_fields_with_file_last() {
        let mut req = request();
        req.content_type = Some("image/jpeg".to_owned());
        req.credentials = req.credentials.with_session_token("tok");
        req.server_side_encryption = Some(ServerSideEncryption::Kms {
            key_id: Some("alias/imglake".to_owned()),
        });
        let post = presign_post(&req).expect("presign");

        // What a browser's FormData holds: the fields, then `file`.
        let mut form: Vec<(&str, &str)> = post.form_fields();
        form.push(("file", "<bytes>"));
        let names: Vec<&str> = form.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "key",
                "Content-Type",
                "policy",
                "x-amz-algorithm",
                "x-amz-credential",
                "x-amz-date",
                "x-amz-security-token",
                "x-amz-server-side-encryption",
                "x-amz-server-side-encryption-aws-kms-key-id",
                "x-amz-signature",
                "file",
            ]
        );
        // Every field is sent once; the only part after the fields is the file.
        assert_eq!(form.len(), post.fields.len() + 1);
        assert_eq!(form.last().map(|(n, _)| *n), Some("file"));
        for (name, value) in &form[..form.len() - 1] {
            assert_eq!(post.fields.get(*name).map(String::as_str), Some(*value));
        }
        // Every field but policy and signature is pinned by a policy condition, so the form
        // carries nothing S3 would reject as "not specified in the policy".
        let conds = conditions(&post);
        for (name, value) in &form[..form.len() - 1] {
            if matches!(*name, "policy" | "x-amz-signature") {
                continue;
            }
            let pinned = conds.contains(&json!({ *name: value }))
                || conds.contains(&json!(["eq", format!("${name}"), value]));
            assert!(pinned, "{name} is not a policy condition");
        }

        // The multipart body carries the same parts in the same order, file last.
        let body = post.multipart_body("XyZ", "cat\".jpg", "image/jpeg", b"\xff\xd8\xff");
        let text = String::from_utf8_lossy(&body);
        let parts: Vec<&str> = text
            .split("--XyZ")
            .filter_map(|p| p.split("name=\"").nth(1))
            .filter_map(|p| p.split('"').next())
            .collect();
        assert_eq!(parts, names);
        assert!(text.contains("filename=\"cat_.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"));
        assert!(body.ends_with(b"\xff\xd8\xff\r\n--XyZ--\r\n"));
    }
}
