//! What `imglake serve` lets each request hold, by kind, so that hostile or slow clients
//! cannot make it unavailable:
//!
//! - `GET /healthz` takes nothing: no permit, no body. It is all a reserve connection (one
//!   opened when every other connection was busy, `crate::conn`) may ask for: anything else
//!   there is 503 with `Retry-After`.
//! - Uploads (`PUT /images`, `POST /upload/{bucket}`) take an upload slot (`--max-uploads`;
//!   none free within [`UPLOAD_WAIT`]: 503 with `Retry-After`). Their bodies take memory
//!   (`--upload-memory`) as their bytes arrive, never for what they only declare: each slot
//!   comes with a small share of the memory of its own ([`UploadMemory`], at most 256 KiB),
//!   so a body that fits in it never waits; bytes beyond it come from the rest, shared, and a
//!   body that finds no room there within [`UPLOAD_WAIT`] is cut with 503 and `Retry-After`.
//!   Their bodies must keep arriving at `--min-body-rate` after a short grace
//!   (`--body-grace`), or they are cut (408).
//! - Reads (`GET`, `HEAD`, `/healthz` included) that declare a body are refused (400
//!   `body_not_allowed`) before it is read, so no read waits on a body. Reads take one of
//!   `--max-requests` read permits; other requests (forms, deletes) one of as many permits of
//!   their own. Neither kind ever waits for an upload's, nor reads for writes, and every body
//!   is held to the same minimum rate.
//! - `POST /images` (a presigned form, and an item) is limited per client address
//!   (`--forms-per-minute`, a token bucket): 429 with `Retry-After` beyond it. Not per
//!   tenant: the tenant header is unauthenticated, and any client could spend another
//!   tenant's forms ([`form_keys`]).
//! - A request with both `Content-Length` and `Transfer-Encoding` is refused (400): behind a
//!   proxy that reads the other header, it smuggles a second request.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONNECTION, CONTENT_LENGTH, RETRY_AFTER, TRANSFER_ENCODING};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long an upload waits for a slot and for room in the upload memory before 503.
pub const UPLOAD_WAIT: Duration = Duration::from_secs(10);
/// Client addresses and tenants whose form buckets are remembered at most; full buckets are
/// forgotten first.
const MAX_BUCKETS: usize = 100_000;

/// The client's address, put on each request by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Put on a request whose head had both `Content-Length` and `Transfer-Encoding` (hyper
/// keeps only the latter), by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct AmbiguousLength;

/// Put on each request of a reserve connection (opened when every other connection was
/// busy), by the accept loop: it may ask for `/healthz` only.
#[derive(Debug, Clone, Copy)]
pub struct ReserveConnection;

/// The slowest a body may arrive.
#[derive(Debug, Clone, Copy)]
pub struct BodyRate {
    /// Bytes per second, on average since the body started, once the grace is over.
    pub min_bytes_per_sec: u64,
    /// Time a body has before the rate counts (a slow start, a first round trip).
    pub grace: Duration,
}

impl BodyRate {
    /// When `received` bytes must have arrived by, for a body that started at `started`.
    fn deadline(&self, started: Instant, received: u64) -> Instant {
        let secs = received as f64 / self.min_bytes_per_sec.max(1) as f64;
        started + self.grace + Duration::from_secs_f64(secs.min(1e9))
    }
}

/// A body that fell below the minimum rate (or stalled): the request is cut with 408.
#[derive(Debug, Clone, Copy)]
pub struct BodyTooSlow {
    pub received: u64,
    pub elapsed: Duration,
    pub rate: BodyRate,
}

impl fmt::Display for BodyTooSlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the request body arrived too slowly: {} bytes in {:.1} s, below the minimum of {} \
             bytes per second after {} s",
            self.received,
            self.elapsed.as_secs_f64(),
            self.rate.min_bytes_per_sec,
            self.rate.grace.as_secs_f64()
        )
    }
}

impl std::error::Error for BodyTooSlow {}

/// A body that found no room in the upload memory in time: the request is cut with 503.
#[derive(Debug, Clone, Copy)]
pub struct UploadMemoryFull {
    pub received: u64,
}

impl fmt::Display for UploadMemoryFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the memory for uploads being received (--upload-memory) is full with other uploads \
             after {} bytes of this one; retry shortly",
            self.received
        )
    }
}

impl std::error::Error for UploadMemoryFull {}

/// The memory upload bodies hold, in KiB, taken as their bytes arrive.
///
/// Each upload slot has `small_kib` of its own (a body's first bytes never wait); bytes
/// beyond them come from `shared`, the rest of `--upload-memory`. So small uploads never
/// queue behind large or slow ones, and what is held is what arrived.
#[derive(Debug)]
pub struct UploadMemory {
    shared: Arc<Semaphore>,
    shared_kib: u32,
    small_kib: u32,
}

impl UploadMemory {
    /// `total` bytes for `slots` uploads at once: a quarter (at most 256 KiB a slot) is
    /// split between the slots, the rest shared.
    pub fn new(total: u64, slots: usize) -> UploadMemory {
        let total_kib = u32::try_from(total / 1024).unwrap_or(u32::MAX).max(2);
        let slots = u32::try_from(slots.max(1)).unwrap_or(u32::MAX);
        let small_kib = (total_kib / 4 / slots).clamp(1, 256);
        let shared_kib = total_kib
            .saturating_sub(small_kib.saturating_mul(slots))
            .max(1);
        UploadMemory {
            shared: Arc::new(Semaphore::new(shared_kib as usize)),
            shared_kib,
            small_kib,
        }
    }

    /// Takes what a body that has `received` bytes needs beyond what `held` has, waiting
    /// at most `wait` for room.
    async fn grow(
        &self,
        held: &Mutex<HeldMemory>,
        received: u64,
        wait: Duration,
    ) -> Result<(), UploadMemoryFull> {
        let kib = u32::try_from(received.div_ceil(1024)).unwrap_or(u32::MAX);
        // A body larger than the whole shared memory takes all of it (it waits for it).
        let want = kib.saturating_sub(self.small_kib).min(self.shared_kib);
        let have = held.lock().map(|h| h.kib).unwrap_or(0);
        if want <= have {
            return Ok(());
        }
        let acquire = self.shared.clone().acquire_many_owned(want - have);
        match tokio::time::timeout(wait, acquire).await {
            Ok(Ok(permit)) => {
                if let Ok(mut held) = held.lock() {
                    held.kib = want;
                    match held.permit.as_mut() {
                        Some(p) => p.merge(permit),
                        None => held.permit = Some(permit),
                    }
                }
                Ok(())
            }
            _ => Err(UploadMemoryFull { received }),
        }
    }
}

/// The shared upload memory one request holds, until the request's answer is made.
#[derive(Debug, Default)]
pub struct HeldMemory {
    kib: u32,
    permit: Option<OwnedSemaphorePermit>,
}

/// `body`, cut with [`BodyTooSlow`] as soon as it falls behind `rate`.
pub fn rate_guarded(body: Body, rate: BodyRate) -> Body {
    guarded(body, rate, None)
}

/// `body`, cut with [`BodyTooSlow`] as soon as it falls behind `rate` and, with `memory`,
/// taking room in the upload memory for its bytes as they arrive (cut with
/// [`UploadMemoryFull`] when none frees up in time). Time spent waiting for memory does not
/// count against the rate.
fn guarded(
    body: Body,
    rate: BodyRate,
    memory: Option<(Arc<UploadMemory>, Arc<Mutex<HeldMemory>>)>,
) -> Body {
    let start = Instant::now();
    let stream = body.into_data_stream();
    let state = (stream, 0u64, start, memory);
    let guarded = futures::stream::unfold(Some(state), move |state| async move {
        let (mut stream, received, started, memory) = state?;
        let deadline = rate.deadline(started, received);
        match tokio::time::timeout_at(deadline.into(), stream.next()).await {
            Ok(Some(Ok(chunk))) => {
                let received = received + chunk.len() as u64;
                let mut started = started;
                if let Some((pool, held)) = &memory {
                    let waiting = Instant::now();
                    if let Err(full) = pool.grow(held, received, UPLOAD_WAIT).await {
                        return Some((Err(axum::BoxError::from(full)), None));
                    }
                    // Waiting for room is the server's doing, not the client's.
                    started += waiting.elapsed();
                }
                Some((Ok(chunk), Some((stream, received, started, memory))))
            }
            Ok(Some(Err(err))) => Some((Err(axum::BoxError::from(err)), None)),
            Ok(None) => None,
            Err(_) => {
                let slow = BodyTooSlow {
                    received,
                    elapsed: start.elapsed(),
                    rate,
                };
                Some((Err(axum::BoxError::from(slow)), None))
            }
        }
    });
    Body::from_stream(guarded)
}

/// Why reading a request body failed, for the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyFailure {
    /// Below the minimum rate, stalled, or past the idle timeout: 408.
    TooSlow(String),
    /// No room in the upload memory in time: 503 with `Retry-After`.
    Busy(String),
    /// Not valid HTTP framing (a malformed chunk size): 400.
    Malformed(String),
    /// The client closed the connection before the whole body: 400.
    Incomplete,
    /// Something else (the route's size limit is told apart by the caller).
    Other(String),
}

/// Classifies a body error by walking its causes.
pub fn body_failure(err: &(dyn std::error::Error + 'static)) -> BodyFailure {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(slow) = e.downcast_ref::<BodyTooSlow>() {
            return BodyFailure::TooSlow(slow.to_string());
        }
        if let Some(full) = e.downcast_ref::<UploadMemoryFull>() {
            return BodyFailure::Busy(full.to_string());
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() {
                return BodyFailure::Incomplete;
            }
            if hyper.is_timeout() {
                return BodyFailure::TooSlow("the request body stopped arriving".into());
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                TimedOut => {
                    return BodyFailure::TooSlow(
                        "the client sent nothing within the idle timeout".into(),
                    )
                }
                InvalidInput | InvalidData => {
                    return BodyFailure::Malformed(format!(
                        "the request body is not valid HTTP framing: {io}"
                    ))
                }
                UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe => {
                    return BodyFailure::Incomplete
                }
                _ => {}
            }
        }
        cause = e.source();
    }
    BodyFailure::Other(err.to_string())
}

/// A token bucket per key: `per_minute` tokens a minute, at most `per_minute` saved.
pub struct FormLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl FormLimiter {
    pub fn new(per_minute: u32) -> FormLimiter {
        FormLimiter {
            per_minute: per_minute.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from every key's bucket, or none: `Err(wait)` is how long until each
    /// has one again.
    pub fn take(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > MAX_BUCKETS {
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * per_sec < capacity
            });
        }
        let mut wait = Duration::ZERO;
        for key in keys {
            let (tokens, at) = buckets.entry(key.clone()).or_insert((capacity, now));
            *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * per_sec)
                .min(capacity);
            *at = now;
            if *tokens < 1.0 {
                wait = wait.max(Duration::from_secs_f64((1.0 - *tokens) / per_sec));
            }
        }
        if wait > Duration::ZERO {
            return Err(wait);
        }
        for key in keys {
            if let Some((tokens, _)) = buckets.get_mut(key) {
                *tokens -= 1.0;
            }
        }
        Ok(())
    }
}

/// The limits every request passes.
pub struct Guard {
    /// Upload slots.
    uploads: Arc<Semaphore>,
    /// Memory upload bodies hold as they arrive.
    upload_memory: Arc<UploadMemory>,
    /// Permits of reads (`GET`, `HEAD`), health checks aside.
    reads: Arc<Semaphore>,
    /// Permits of requests that are neither reads nor uploads.
    others: Arc<Semaphore>,
    rate: BodyRate,
    forms: FormLimiter,
}

/// How [`Guard`] is sized.
#[derive(Debug, Clone, Copy)]
pub struct GuardConfig {
    pub max_uploads: usize,
    pub upload_memory: u64,
    pub max_requests: usize,
    pub rate: BodyRate,
    pub forms_per_minute: u32,
}

impl Guard {
    pub fn new(c: GuardConfig) -> Guard {
        Guard {
            uploads: Arc::new(Semaphore::new(c.max_uploads.max(1))),
            upload_memory: Arc::new(UploadMemory::new(c.upload_memory, c.max_uploads)),
            reads: Arc::new(Semaphore::new(c.max_requests.max(1))),
            others: Arc::new(Semaphore::new(c.max_requests.max(1))),
            rate: c.rate,
            forms: FormLimiter::new(c.forms_per_minute),
        }
    }
}

fn refuse(status: StatusCode, code: &str, message: String, retry_after: Option<u64>) -> Response {
    let mut response = super::json_error(status, code, message);
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    response
}

/// What a request is, for its limits.
enum Kind {
    Health,
    /// `PUT /images`.
    Put,
    /// `POST /upload/{bucket}`.
    FormUpload,
    Form,
    Read,
    Other,
}

fn kind(method: &Method, path: &str) -> Kind {
    let path = path.trim_end_matches('/');
    match (method, path) {
        (&Method::GET | &Method::HEAD, "/healthz") => Kind::Health,
        (&Method::PUT, "/images") => Kind::Put,
        (&Method::POST, p) if p.starts_with("/upload/") => Kind::FormUpload,
        (&Method::POST, "/images") => Kind::Form,
        (&Method::GET | &Method::HEAD, _) => Kind::Read,
        _ => Kind::Other,
    }
}

/// The form rate limit's buckets for a request: its client address only. The tenant is not
/// one: in serve it is the unauthenticated `X-Imglake-Tenant` header, so a bucket per tenant
/// would let any client spend another tenant's forms. (On AWS, API Gateway's throttle
/// applies: terraform/README.md.)
fn form_keys(request: &Request) -> Vec<String> {
    let client = request
        .extensions()
        .get::<ClientAddr>()
        .map(|a| a.0.ip().to_string())
        .unwrap_or_default();
    vec![format!("client {client}")]
}

/// Whether a request's head announces a body: a chunked one, or a length other than 0.
fn declares_body(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get_all(CONTENT_LENGTH)
            .iter()
            .any(|v| v.to_str().map_or(true, |v| v.trim() != "0"))
}

/// The middleware: refuses ambiguous framing and reads with a body, applies the form rate, takes the request's
/// permits (held until its answer is made) and holds its body to the minimum rate.
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if request.extensions().get::<AmbiguousLength>().is_some()
        || (headers.contains_key(CONTENT_LENGTH) && headers.contains_key(TRANSFER_ENCODING))
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "ambiguous_length",
            "the request has both Content-Length and Transfer-Encoding; send one (a proxy that \
             reads the other one would see another request)"
                .into(),
            None,
        );
    }
    // A read has no body: one that declares one is refused before it is read, so a body
    // trickling in cannot hold a read permit (nor keep /healthz's connection busy).
    if matches!(*request.method(), Method::GET | Method::HEAD) && declares_body(headers) {
        let mut response = refuse(
            StatusCode::BAD_REQUEST,
            "body_not_allowed",
            format!(
                "a {} request takes no body; send it without Content-Length or \
                 Transfer-Encoding (or with Content-Length: 0)",
                request.method()
            ),
            None,
        );
        // The body is not read: the connection cannot carry another request.
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let kind = kind(request.method(), request.uri().path());
    if request.extensions().get::<ReserveConnection>().is_some() && !matches!(kind, Kind::Health) {
        let mut response = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "every connection of this server is busy; this one answers /healthz only; retry \
             shortly"
                .into(),
            Some(1),
        );
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let _permits: (Option<OwnedSemaphorePermit>, Option<OwnedSemaphorePermit>) = match kind {
        Kind::Health => return next.run(request).await,
        Kind::Put | Kind::FormUpload => {
            // A slot now; memory as the body arrives (below), never for its declared size.
            let slot = tokio::time::timeout(UPLOAD_WAIT, guard.uploads.clone().acquire_owned());
            match slot.await {
                Ok(Ok(slot)) => {
                    let held = Arc::new(Mutex::new(HeldMemory::default()));
                    let (parts, body) = request.into_parts();
                    let memory = Some((guard.upload_memory.clone(), held.clone()));
                    let request = Request::from_parts(parts, guarded(body, guard.rate, memory));
                    let response = next.run(request).await;
                    // The body's memory is held until the answer is made (the route keeps
                    // the bytes until then).
                    drop((slot, held));
                    return response;
                }
                _ => {
                    return refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "busy",
                        "too many uploads are arriving at once; retry shortly".into(),
                        Some(1),
                    )
                }
            }
        }
        Kind::Form => {
            let keys = form_keys(&request);
            if let Err(wait) = guard.forms.take(&keys, Instant::now()) {
                let secs = wait.as_secs().saturating_add(1);
                tracing::warn!(client = keys.join(", "), "upload forms refused: rate limit");
                return refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_forms",
                    format!(
                        "more than {} upload forms a minute from this client address; retry in \
                         {secs} s",
                        guard.forms.per_minute
                    ),
                    Some(secs),
                );
            }
            (guard.others.clone().acquire_owned().await.ok(), None)
        }
        Kind::Read => (guard.reads.clone().acquire_owned().await.ok(), None),
        Kind::Other => (guard.others.clone().acquire_owned().await.ok(), None),
    };
    let (parts, body) = request.into_parts();
    let request = Request::from_parts(parts, rate_guarded(body, guard.rate));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_bucket_refills_at_its_rate_and_both_keys_must_have_room() {
        let limiter = FormLimiter::new(60);
        let t0 = Instant::now();
        let a = ["client a".to_owned(), "tenant x".to_owned()];
        for _ in 0..60 {
            assert!(limiter.take(&a, t0).is_ok());
        }
        let wait = limiter
            .take(&a, t0)
            .expect_err("the 61st in the same instant");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        // Another client of the same tenant is refused too, and takes nothing from its own.
        let b = ["client b".to_owned(), "tenant x".to_owned()];
        assert!(limiter.take(&b, t0).is_err());
        let c = ["client b".to_owned(), "tenant y".to_owned()];
        for _ in 0..60 {
            assert!(limiter.take(&c, t0).is_ok());
        }
        // One second later, one more each.
        let t1 = t0 + Duration::from_secs(1);
        assert!(limiter.take(&a, t1).is_ok());
        assert!(limiter.take(&a, t1).is_err());
    }

    #[test]
    fn the_form_limit_keys_on_the_client_address_not_the_claimed_tenant() {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/images")
            .header(imglake_pipeline::handlers::upload::TENANT_HEADER, "victim")
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(ClientAddr("127.0.0.1:5000".parse().unwrap()));
        assert_eq!(form_keys(&request), ["client 127.0.0.1"]);
    }

    #[tokio::test]
    async fn upload_memory_is_taken_as_bytes_arrive_and_small_bodies_never_wait() {
        // 1 MiB for 4 slots: 64 KiB of each slot's own, 768 KiB shared.
        let memory = UploadMemory::new(1024 * 1024, 4);
        assert_eq!((memory.small_kib, memory.shared_kib), (64, 768));
        let wait = Duration::from_millis(50);
        // A large body takes the shared memory only as its bytes arrive...
        let large = Mutex::new(HeldMemory::default());
        memory.grow(&large, 64 * 1024, wait).await.unwrap();
        assert_eq!(memory.shared.available_permits(), 768);
        memory.grow(&large, 100 * 1024, wait).await.unwrap();
        assert_eq!(memory.shared.available_permits(), 732);
        // ...until the shared memory is full: then the next large body is refused in time.
        memory.grow(&large, (64 + 768) * 1024, wait).await.unwrap();
        assert_eq!(memory.shared.available_permits(), 0);
        let other = Mutex::new(HeldMemory::default());
        let full = memory.grow(&other, 200 * 1024, wait).await.unwrap_err();
        assert_eq!(full.received, 200 * 1024);
        // A body within a slot's own share does not wait.
        let small = Mutex::new(HeldMemory::default());
        memory.grow(&small, 60 * 1024, wait).await.unwrap();
        // What a body held is given back when it is dropped.
        drop(large);
        assert_eq!(memory.shared.available_permits(), 768);
        memory.grow(&other, 200 * 1024, wait).await.unwrap();
    }

    #[tokio::test]
    async fn a_trickling_body_is_cut_after_the_grace_and_a_fast_one_passes() {
        let rate = BodyRate {
            min_bytes_per_sec: 1000,
            grace: Duration::from_millis(300),
        };
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<bytes::Bytes, std::io::Error>>();
        let body = rate_guarded(Body::from_stream(rx), rate);
        let trickle = tokio::spawn(async move {
            for _ in 0..20 {
                if tx
                    .unbounded_send(Ok(bytes::Bytes::from_static(b"x")))
                    .is_err()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        let started = Instant::now();
        let err = axum::body::to_bytes(body, 1 << 20).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let failure = body_failure(&err);
        assert!(
            matches!(&failure, BodyFailure::TooSlow(m) if m.contains("below the minimum of 1000")),
            "{failure:?}"
        );
        trickle.abort();
        let fast = rate_guarded(Body::from(vec![7u8; 100_000]), rate);
        assert_eq!(
            axum::body::to_bytes(fast, 1 << 20).await.unwrap().len(),
            100_000
        );
    }
}
