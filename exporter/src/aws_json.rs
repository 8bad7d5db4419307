//! A small client for the AWS JSON protocol (SQS and DynamoDB Streams), signed with SigV4 from
//! the standard environment. Redrive needs four calls of two services, and wants
//! DynamoDB Streams' `GetRecords` response as the JSON it is: that response is one of the
//! documents the exporter's door reads, so the records go to the lake exactly as the service
//! sent them, with no SDK types in between.
//!
//! Credentials and region come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN` and `AWS_REGION` (Lambda sets them all); `AWS_ENDPOINT_URL_SQS`,
//! `AWS_ENDPOINT_URL_DYNAMODB_STREAMS` or `AWS_ENDPOINT_URL` select another endpoint, such as
//! a local server (plain http allowed).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde::Deserialize;
use thiserror::Error;

/// A service spoken to in the JSON protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Sqs,
    DynamoDbStreams,
}

impl Service {
    /// The SigV4 signing name.
    fn signing_name(self) -> &'static str {
        match self {
            Service::Sqs => "sqs",
            Service::DynamoDbStreams => "dynamodb",
        }
    }

    /// The `X-Amz-Target` prefix and the content type.
    fn target(self) -> (&'static str, &'static str) {
        match self {
            Service::Sqs => ("AmazonSQS", "application/x-amz-json-1.0"),
            Service::DynamoDbStreams => ("DynamoDBStreams_20120810", "application/x-amz-json-1.0"),
        }
    }

    fn endpoint_variable(self) -> &'static str {
        match self {
            Service::Sqs => "AWS_ENDPOINT_URL_SQS",
            Service::DynamoDbStreams => "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
        }
    }

    fn default_endpoint(self, region: &str) -> String {
        match self {
            Service::Sqs => format!("https://sqs.{region}.amazonaws.com/"),
            Service::DynamoDbStreams => format!("https://streams.dynamodb.{region}.amazonaws.com/"),
        }
    }
}

/// A failed call.
#[derive(Debug, Error)]
pub enum AwsError {
    #[error("{0} is not set: set AWS credentials and region in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION; on a workstation e.g. `eval \"$(aws configure export-credentials --format env)\"`)")]
    Missing(&'static str),
    #[error("{operation}: {message}")]
    Request { operation: String, message: String },
    /// The service answered with an error: its type (`TrimmedDataAccessException`, …).
    #[error("{operation} failed: {kind}: {message}")]
    Service {
        operation: String,
        kind: String,
        message: String,
    },
}

impl AwsError {
    /// The service's error type, e.g. `TrimmedDataAccessException`.
    pub fn kind(&self) -> Option<&str> {
        match self {
            AwsError::Service { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// Signed JSON calls to AWS services.
#[derive(Clone)]
pub struct AwsJson {
    http: reqwest::Client,
    region: String,
    credentials: Credentials,
    /// A global endpoint override (`AWS_ENDPOINT_URL`).
    endpoint: Option<String>,
    sqs_endpoint: Option<String>,
    streams_endpoint: Option<String>,
}

impl std::fmt::Debug for AwsJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsJson")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl AwsJson {
    /// From the standard environment (see the module's documentation).
    pub fn from_env() -> Result<AwsJson, AwsError> {
        let var = |name: &'static str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let key = var("AWS_ACCESS_KEY_ID").ok_or(AwsError::Missing("AWS_ACCESS_KEY_ID"))?;
        let secret =
            var("AWS_SECRET_ACCESS_KEY").ok_or(AwsError::Missing("AWS_SECRET_ACCESS_KEY"))?;
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .ok_or(AwsError::Missing("AWS_REGION"))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| AwsError::Request {
                operation: "client".to_owned(),
                message: e.to_string(),
            })?;
        Ok(AwsJson {
            http,
            region,
            credentials: Credentials::new(
                key,
                secret,
                var("AWS_SESSION_TOKEN"),
                None,
                "environment",
            ),
            endpoint: var("AWS_ENDPOINT_URL"),
            sqs_endpoint: var(Service::Sqs.endpoint_variable()),
            streams_endpoint: var(Service::DynamoDbStreams.endpoint_variable()),
        })
    }

    fn endpoint(&self, service: Service) -> String {
        let specific = match service {
            Service::Sqs => &self.sqs_endpoint,
            Service::DynamoDbStreams => &self.streams_endpoint,
        };
        specific
            .clone()
            .or_else(|| self.endpoint.clone())
            .map(|e| if e.ends_with('/') { e } else { format!("{e}/") })
            .unwrap_or_else(|| service.default_endpoint(&self.region))
    }

    /// Calls `operation` of `service` with `body`; the response body.
    pub async fn call(
        &self,
        service: Service,
        operation: &str,
        body: &serde_json::Value,
    ) -> Result<bytes::Bytes, AwsError> {
        let failed = |message: String| AwsError::Request {
            operation: operation.to_owned(),
            message,
        };
        let url = self.endpoint(service);
        let (prefix, content_type) = service.target();
        let target = format!("{prefix}.{operation}");
        let body = serde_json::to_vec(body).map_err(|e| failed(e.to_string()))?;
        let mut request = http::Request::builder()
            .method("POST")
            .uri(&url)
            .header("content-type", content_type)
            .header("x-amz-target", &target)
            .body(body.clone())
            .map_err(|e| failed(e.to_string()))?;
        let host = request
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        request.headers_mut().insert(
            "host",
            host.parse()
                .map_err(|_| failed(format!("bad host {host}")))?,
        );
        self.sign(&mut request, service, &body)
            .map_err(|e| failed(format!("signing: {e}")))?;
        let request = reqwest::Request::try_from(request.map(reqwest::Body::from))
            .map_err(|e| failed(e.to_string()))?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| failed(format!("{url}: {e}")))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| failed(e.to_string()))?;
        if status.is_success() {
            return Ok(bytes);
        }
        #[derive(Deserialize)]
        struct ErrorBody {
            #[serde(rename = "__type", default)]
            kind: String,
            #[serde(alias = "Message", default)]
            message: String,
        }
        let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            // Not the service's JSON (a proxy's page, say): its start is enough to tell.
            let text = String::from_utf8_lossy(&bytes);
            ErrorBody {
                kind: status.to_string(),
                message: text.chars().take(300).collect::<String>().trim().to_owned(),
            }
        });
        Err(AwsError::Service {
            operation: operation.to_owned(),
            // `com.amazonaws.dynamodb.v20120810#TrimmedDataAccessException` → the name.
            kind: error.kind.rsplit('#').next().unwrap_or_default().to_owned(),
            message: error.message,
        })
    }

    fn sign(
        &self,
        request: &mut http::Request<Vec<u8>>,
        service: Service,
        body: &[u8],
    ) -> Result<(), String> {
        let identity: Identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service.signing_name())
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let uri = request.uri().to_string();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}
