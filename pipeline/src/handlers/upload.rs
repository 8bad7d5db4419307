//! The upload API: API Gateway HTTP API events (payload format 2.0) in, responses out.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /images` | 201 `{"image_id", "status", "upload": {"url", "fields"}, "expires_at"}`: a presigned S3 POST bounded to the size limit (for images up to 10 MB, which cannot pass through Lambda's 6 MB payload) |
//! | `PUT /images` | the image as the body (base64, as API Gateway sends binary): 202 RECEIVED, 200 for a known `Idempotency-Key` (the same 4xx again if that upload was refused; 422 `idempotency_key_reused` for another image under the same key), 4xx REJECTED |
//! | `GET /images/{id}` | 200 the item: status, features, variants; 404 when unknown |
//!
//! Errors are JSON `{"error": {"code", "message"}}` (plus `image_id` and `status` when an image
//! was recorded): 400 bad request, 404 unknown route or image, 405 wrong method, 413 too large,
//! 415 not an accepted image type, 422 an image that cannot be decoded or exceeds the pixel
//! budget, 501 presigning not configured, 503 a store failure worth retrying.
//!
//! The tenant is the JWT claim `tenant` when an authorizer provides one, else the
//! `X-Imglake-Tenant` header, else `default`.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use http::{HeaderMap, Method};
use serde_json::{json, Value};

use super::metrics::Outcomes;
use super::{
    hashed_ulid, is_valid_image_id, is_valid_tenant, raw_key, Arrival, HandlerError, Ingested,
    Pipeline, DEFAULT_TENANT,
};
use crate::model::{new_image_id, ImageItem, Source, Status};
use crate::presign::{presign_post, PostPolicyRequest};
use crate::store::MetadataStore;
use crate::validate::RejectCode;

/// Header naming the tenant when no JWT claim does.
pub const TENANT_HEADER: &str = "x-imglake-tenant";
/// Header making `PUT /images` idempotent: the same key (per tenant) yields the same image.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// An HTTP answer before it becomes an API Gateway response.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// `Location` header, for created resources.
    pub location: Option<String>,
    /// `Retry-After` seconds, for 503.
    pub retry_after: Option<u32>,
    /// `Allow` header: the methods a 405's route takes.
    pub allow: Option<&'static str>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body,
            location: None,
            retry_after: None,
            allow: None,
        }
    }

    fn method_not_allowed(allow: &'static str, message: &str) -> Reply {
        let mut reply = Reply::error(405, "method_not_allowed", message);
        reply.allow = Some(allow);
        reply
    }

    fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
        Reply::json(
            status,
            json!({"error": {"code": code, "message": message.into()}}),
        )
    }

    fn from_handler_error(err: &HandlerError) -> Reply {
        if err.is_retryable() {
            tracing::warn!(error = %err, "upload: store failure, client should retry");
            let mut reply = Reply::error(
                503,
                "temporarily_unavailable",
                "the image store is temporarily unavailable; retry the request",
            );
            reply.retry_after = Some(1);
            reply
        } else {
            tracing::error!(error = %err, "upload: internal error");
            Reply::error(
                500,
                "internal_error",
                "internal error; see the service logs",
            )
        }
    }

    /// The API Gateway (payload format 2.0) response.
    pub fn into_response(self) -> ApiGatewayV2httpResponse {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(LOCATION, location);
        }
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(allow) = self.allow {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        let mut response = ApiGatewayV2httpResponse::default();
        response.status_code = i64::from(self.status);
        response.headers = headers;
        response.body = Some(Body::Text(self.body.to_string()));
        response
    }
}

/// The HTTP status for a refused image.
pub fn status_for_rejection(code: &str) -> u16 {
    match code {
        c if c == RejectCode::TooLarge.as_str() => 413,
        c if c == RejectCode::UnsupportedType.as_str()
            || c == RejectCode::UnknownType.as_str()
            || c == RejectCode::TiffDisabled.as_str() =>
        {
            415
        }
        c if c == RejectCode::EmptyInput.as_str() => 400,
        _ => 422,
    }
}

impl<M: MetadataStore> Pipeline<M> {
    /// Handles one upload API request. Never fails: store failures become 503.
    pub async fn handle_upload(
        &self,
        request: &ApiGatewayV2httpRequest,
        outcomes: &mut Outcomes,
    ) -> ApiGatewayV2httpResponse {
        outcomes.records_in += 1;
        let mut response = self.upload_reply(request, outcomes).await.into_response();
        // HEAD is GET without the body.
        if request.request_context.http.method == Method::HEAD {
            response.body = None;
        }
        response
    }

    /// [`handle_upload`](Self::handle_upload) before it becomes a response.
    pub async fn upload_reply(
        &self,
        request: &ApiGatewayV2httpRequest,
        outcomes: &mut Outcomes,
    ) -> Reply {
        let method = &request.request_context.http.method;
        let requested = request
            .raw_path
            .as_deref()
            .or(request.request_context.http.path.as_deref())
            .unwrap_or("/");
        let path = requested.trim_end_matches('/');
        let result = match (method, path) {
            (&Method::POST, "/images") => self.create_upload(request).await,
            (&Method::PUT, "/images") => self.direct_upload(request, outcomes).await,
            (&Method::GET | &Method::HEAD, p) if p.starts_with("/images/") => {
                let id = request
                    .path_parameters
                    .get("id")
                    .map(String::as_str)
                    .unwrap_or(&p["/images/".len()..]);
                self.get_image(id).await
            }
            (_, "/images") => Ok(Reply::method_not_allowed(
                "POST, PUT",
                "/images takes POST (presigned upload) or PUT (image as the body)",
            )),
            (_, p) if p.starts_with("/images/") => Ok(Reply::method_not_allowed(
                "GET, HEAD",
                "/images/{id} takes GET",
            )),
            _ => Ok(Reply::error(
                404,
                "route_not_found",
                format!(
                    "no route {method} {requested}: use POST /images, PUT /images or GET /images/{{id}}"
                ),
            )),
        };
        result.unwrap_or_else(|err| Reply::from_handler_error(&err))
    }

    fn tenant(&self, request: &ApiGatewayV2httpRequest) -> Result<String, Reply> {
        let from_claim = request
            .request_context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get("tenant"))
            .cloned();
        let from_header = || {
            request
                .headers
                .get(TENANT_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let tenant = from_claim
            .or_else(from_header)
            .unwrap_or_else(|| DEFAULT_TENANT.to_owned());
        if is_valid_tenant(&tenant) {
            Ok(tenant)
        } else {
            Err(Reply::error(
                400,
                "invalid_tenant",
                "the tenant must be 1 to 64 of a-z A-Z 0-9 _ - .",
            ))
        }
    }

    fn request_ref(request: &ApiGatewayV2httpRequest) -> String {
        request
            .request_context
            .request_id
            .clone()
            .unwrap_or_else(|| "local".to_owned())
    }

    /// `POST /images`: records the image RECEIVED and returns a signed upload form.
    async fn create_upload(
        &self,
        request: &ApiGatewayV2httpRequest,
    ) -> Result<Reply, HandlerError> {
        let tenant = match self.tenant(request) {
            Ok(t) => t,
            Err(reply) => return Ok(reply),
        };
        let Some(presign) = &self.config.presign else {
            return Ok(Reply::error(
                501,
                "presign_not_configured",
                "presigned uploads are not configured here; use PUT /images",
            ));
        };
        let now = self.clock.now();
        let image_id = new_image_id(now);
        let key = raw_key(&image_id);
        let mut policy = PostPolicyRequest::new(
            presign.bucket.clone(),
            key.clone(),
            presign.region.clone(),
            presign.credentials.clone(),
            now,
        );
        policy.max_bytes = self.config.limits.max_bytes;
        policy.expires_in = presign.expires_in;
        policy.endpoint.clone_from(&presign.endpoint);
        policy
            .server_side_encryption
            .clone_from(&presign.server_side_encryption);
        policy
            .metadata
            .insert("image-id".to_owned(), image_id.clone());
        let form = match presign_post(&policy) {
            Ok(form) => form,
            Err(err) => {
                tracing::error!(error = %err, "upload: cannot sign the upload form");
                return Ok(Reply::error(
                    500,
                    "presign_failed",
                    "cannot sign the upload form; see the service logs",
                ));
            }
        };
        let arrival = Arrival {
            image_id: image_id.clone(),
            source: Source::Api,
            source_ref: Self::request_ref(request),
            tenant,
        };
        let item = self.received_item(&arrival).awaiting_upload(key);
        self.store.put_new(&item).await?;
        let mut reply = Reply::json(
            201,
            json!({
                "image_id": image_id,
                "status": Status::Received,
                "upload": form,
                "expires_at": form.expires_at.to_rfc3339(),
                "max_bytes": self.config.limits.max_bytes,
            }),
        );
        reply.location = Some(format!("/images/{image_id}"));
        Ok(reply)
    }

    /// `PUT /images`: the body is the image.
    async fn direct_upload(
        &self,
        request: &ApiGatewayV2httpRequest,
        outcomes: &mut Outcomes,
    ) -> Result<Reply, HandlerError> {
        let tenant = match self.tenant(request) {
            Ok(t) => t,
            Err(reply) => return Ok(reply),
        };
        let bytes = match self.body(request) {
            Ok(bytes) => bytes,
            Err(reply) => return Ok(reply),
        };
        let now = self.clock.now();
        let key = request
            .headers
            .get(IDEMPOTENCY_HEADER)
            .map(|v| v.to_str().unwrap_or(""));
        // With a key, a retry must carry the same image: compared below, with the digest
        // ingest recorded (a clone of `Bytes` shares the buffer).
        let retried_body = key.map(|_| bytes.clone());
        let image_id = match key {
            Some(key) if (1..=256).contains(&key.len()) => idempotent_id(&tenant, key),
            Some(_) => {
                return Ok(Reply::error(
                    400,
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1 to 256 visible ASCII characters",
                ))
            }
            None => new_image_id(now),
        };
        let arrival = Arrival {
            image_id,
            source: Source::Api,
            source_ref: Self::request_ref(request),
            tenant,
        };
        let ingested = self.ingest(arrival, bytes).await?;
        if let (Ingested::Duplicate(existing), Some(body)) = (&ingested, &retried_body) {
            if existing
                .sha256
                .as_ref()
                .is_some_and(|known| *known != crate::process::sha256_hex(body))
            {
                return Ok(Reply::error(
                    422,
                    "idempotency_key_reused",
                    format!(
                        "this Idempotency-Key was first used for another image ({}, sha256 {}); \
                         send a new key for a new image",
                        existing.image_id,
                        existing.sha256.as_deref().unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(ingest_reply(&ingested, outcomes))
    }

    /// The request body as bytes, bounded before decoding.
    fn body(&self, request: &ApiGatewayV2httpRequest) -> Result<Bytes, Reply> {
        let limit = self.config.direct_max_bytes;
        let too_large = |size: u64| {
            Reply::error(
                413,
                RejectCode::TooLarge.as_str(),
                format!(
                    "the body is {size} bytes; {}",
                    self.config.direct_upload_limit()
                ),
            )
        };
        let Some(body) = request.body.as_deref().filter(|b| !b.is_empty()) else {
            return Err(Reply::error(
                400,
                RejectCode::EmptyInput.as_str(),
                "the request has no body: send the image bytes as the body",
            ));
        };
        let bytes = if request.is_base64_encoded {
            // 4 base64 characters carry 3 bytes: refuse before decoding anything large.
            let decoded_len = (body.len() as u64 / 4).saturating_mul(3);
            if decoded_len > limit.saturating_add(3) {
                return Err(too_large(decoded_len));
            }
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|e| {
                    Reply::error(
                        400,
                        "invalid_body",
                        format!("the body is marked base64 but does not decode: {e}"),
                    )
                })?
        } else {
            body.as_bytes().to_vec()
        };
        if bytes.len() as u64 > limit {
            return Err(too_large(bytes.len() as u64));
        }
        Ok(Bytes::from(bytes))
    }

    /// `GET /images/{id}`.
    async fn get_image(&self, image_id: &str) -> Result<Reply, HandlerError> {
        if !is_valid_image_id(image_id) {
            return Ok(Reply::error(
                400,
                "invalid_image_id",
                "image ids are 1 to 64 of A-Z a-z 0-9 _ -",
            ));
        }
        match self.store.get(image_id).await? {
            Some(item) => Ok(Reply::json(200, item_view(&item))),
            None => Ok(Reply::error(
                404,
                "image_not_found",
                format!("no image {image_id} (never received, or expired after its retention)"),
            )),
        }
    }
}

/// The reply to an ingested upload, counting the outcome.
fn ingest_reply(ingested: &Ingested, outcomes: &mut Outcomes) -> Reply {
    let item = ingested.item();
    let (status, location) = match ingested {
        Ingested::Received(_) => {
            outcomes.received += 1;
            (202, true)
        }
        Ingested::Duplicate(item) => {
            outcomes.duplicates += 1;
            // A retry of a refused upload is refused the same way: a 2xx would tell a client
            // that checks the status that it succeeded.
            match item.error_code.as_deref() {
                Some(code) if item.status == Status::Rejected => {
                    (status_for_rejection(code), false)
                }
                _ => (200, true),
            }
        }
        Ingested::Rejected(item) => {
            let code = item.error_code.as_deref().unwrap_or("rejected");
            outcomes.reject(code);
            (status_for_rejection(code), false)
        }
    };
    let mut body = json!({"image_id": item.image_id, "status": item.status});
    if let (Some(code), Some(message)) = (&item.error_code, &item.error_message) {
        body["error"] = json!({"code": code, "message": message});
    }
    let mut reply = Reply::json(status, body);
    if location {
        reply.location = Some(format!("/images/{}", item.image_id));
    }
    reply
}

/// The item as `GET /images/{id}` shows it: every attribute, with `variants_json` parsed
/// into `variants`.
pub fn item_view(item: &ImageItem) -> Value {
    let mut view = serde_json::to_value(item).unwrap_or_else(|_| json!({}));
    if let Some(variants) = item
        .variants_json
        .as_deref()
        .and_then(|v| serde_json::from_str::<Value>(v).ok())
    {
        if let Some(map) = view.as_object_mut() {
            map.remove("variants_json");
            map.insert("variants".to_owned(), variants);
        }
    }
    view
}

/// A ULID-shaped id fixed by (tenant, idempotency key): a retried `PUT` lands on the same
/// item. Its time part is zero, so these ids sort before time-ordered ones.
fn idempotent_id(tenant: &str, key: &str) -> String {
    hashed_ulid(0, &format!("{tenant}\n{key}"))
}
