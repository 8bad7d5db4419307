//! Connection limits for `imglake serve`:
//!
//! - At most N open connections (`--max-connections`). When all N are taken and another
//!   client connects, the connection that has been idle longest (no request in flight: it
//!   has sent nothing yet, only part of a head, or is a keep-alive connection between
//!   requests; or an answer its client has left unread for [`UNREAD_IDLE`]) is closed to
//!   make room. When every connection has a request in flight, a new
//!   client gets one of a few reserve connections ([`reserve_for`]) that answer `/healthz`
//!   only (anything else: 503 with `Retry-After`); when those are taken too, clients wait in
//!   the kernel's accept backlog. So neither idle nor busy connections, however many, keep
//!   `/healthz` out.
//! - A request head must arrive whole within the header timeout (`--header-timeout`, 5 s by
//!   default), counted from the connection's start or from the end of the previous response
//!   (hyper's header read timeout), so a connection that sends no complete head, or idles
//!   between requests, is closed after a few seconds.
//! - A connection that sends nothing for the idle timeout (`--body-timeout-secs`) while a
//!   body is due, or reads nothing of an answer for as long, is closed: a client that stops
//!   reading (its answers, pipelined or large, filling the socket buffers) holds its
//!   connection no longer than that.
//!
//! What each request may hold once its head is in is [`guard`]'s.

pub mod framing;
pub mod guard;
pub mod host;

/// An error in the upload API's shape, `{"error": {"code", "message"}}`, with `status`: every
/// refusal of serve (routes, guard, Host check, CORS, console) is built here.
pub fn json_error(
    status: axum::http::StatusCode,
    code: &str,
    message: impl Into<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    (
        status,
        axum::Json(serde_json::json!({"error": {"code": code, "message": message.into()}})),
    )
        .into_response()
}

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use axum::Router;
use futures::task::AtomicWaker;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep, Instant, Sleep};

/// What the listener knows of one open connection, to close the longest idle one.
#[derive(Debug)]
pub struct ConnState {
    /// Requests whose answer is not fully sent yet.
    in_flight: AtomicUsize,
    /// When the connection last became idle (accepted, or its last answer sent).
    idle_since: Mutex<Instant>,
    /// Set to close the connection: its next read ends as if the client had closed it.
    evicted: AtomicBool,
    /// The reader to wake when evicted.
    waker: AtomicWaker,
    /// Since when an answer's bytes have waited for the client to read (a write pending),
    /// if they do.
    unread_since: Mutex<Option<Instant>>,
    /// The writer to wake when evicted.
    write_waker: AtomicWaker,
    /// A reserve connection: closing it frees a reserve permit, not an ordinary slot.
    reserve: bool,
}

impl ConnState {
    fn new(reserve: bool) -> ConnState {
        ConnState {
            reserve,
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            evicted: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            unread_since: Mutex::new(None),
            write_waker: AtomicWaker::new(),
        }
    }

    /// A request head was read: the connection is busy until [`InFlight`] drops.
    fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// Held by a request until its answer has been sent (or dropped).
#[derive(Debug)]
struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut since) = self.0.idle_since.lock() {
            *since = Instant::now();
        }
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How long an answer may wait for its client to read it before the connection counts as
/// idle, to be closed for a new client when every connection is taken.
pub const UNREAD_IDLE: Duration = Duration::from_secs(2);

/// Reserve connections for `max` ordinary ones: a few, for `/healthz` when all are busy.
pub fn reserve_for(max: usize) -> usize {
    (max / 16).clamp(2, 16)
}

/// Open connections, by an id of their own.
type Table = Arc<Mutex<std::collections::HashMap<u64, Arc<ConnState>>>>;

/// A TCP listener that hands out at most `max` connections at a time, closing the longest
/// idle one to make room for a new client.
pub struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    /// Connections beyond `max` that answer `/healthz` only, when every other one is busy.
    reserve: Arc<Semaphore>,
    idle: Duration,
    table: Table,
    next_id: u64,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, max: usize, idle: Duration) -> Self {
        LimitedListener {
            inner,
            slots: Arc::new(Semaphore::new(max.max(1))),
            reserve: Arc::new(Semaphore::new(reserve_for(max))),
            idle,
            table: Table::default(),
            next_id: 0,
        }
    }

    /// Closes the connection idle longest among the reserve connections or among the
    /// ordinary ones; false when every one of them is busy. Idle: no request in flight, or
    /// an answer its client has left unread for [`UNREAD_IDLE`] (waiting on the client
    /// either way).
    fn evict_idlest(&self, reserve: bool) -> bool {
        let Ok(table) = self.table.lock() else {
            return false;
        };
        let now = Instant::now();
        let idlest = table
            .values()
            .filter(|c| c.reserve == reserve && !c.evicted.load(Ordering::SeqCst))
            .filter_map(|c| {
                if c.in_flight.load(Ordering::SeqCst) == 0 {
                    return Some((*c.idle_since.lock().ok()?, c));
                }
                let unread = (*c.unread_since.lock().ok()?)?;
                (now.saturating_duration_since(unread) >= UNREAD_IDLE).then_some((unread, c))
            })
            .min_by_key(|(since, _)| *since);
        match idlest {
            Some((_, conn)) => {
                conn.evicted.store(true, Ordering::SeqCst);
                conn.waker.wake();
                conn.write_waker.wake();
                true
            }
            None => false,
        }
    }

    /// A slot for a client just accepted: a free one, or one an idle connection gives up,
    /// or else a reserve one (`true`: it answers `/healthz` only).
    async fn slot(&self) -> (OwnedSemaphorePermit, bool) {
        loop {
            if let Ok(permit) = self.slots.clone().try_acquire_owned() {
                return (permit, false);
            }
            // Only an ordinary connection gives up an ordinary slot: a reserve one that is
            // idle (e.g. closing after its /healthz answer) frees a reserve permit instead.
            if self.evict_idlest(false) {
                // The evicted connection ends on its next poll; if it was busy after all,
                // look again.
                let wait = Duration::from_millis(200);
                if let Ok(Ok(permit)) =
                    tokio::time::timeout(wait, self.slots.clone().acquire_owned()).await
                {
                    return (permit, false);
                }
                continue;
            }
            // Every ordinary connection is busy: a reserve one, or the first of either kind
            // to end. Reserve connections that go idle are evicted like any other.
            if let Ok(permit) = self.reserve.clone().try_acquire_owned() {
                return (permit, true);
            }
            self.evict_idlest(true);
            tokio::select! {
                Ok(permit) = self.slots.clone().acquire_owned() => return (permit, false),
                Ok(permit) = self.reserve.clone().acquire_owned() => return (permit, true),
                () = sleep(Duration::from_millis(50)) => {}
            }
        }
    }
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // Accept first, then find the client a slot: a full server closes its idlest
            // connection for it; when every connection is busy, it waits here and further
            // clients queue in the backlog.
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let (permit, reserve) = self.slot().await;
                    let _ = stream.set_nodelay(true);
                    let heads = framing::Heads::default();
                    let state = Arc::new(ConnState::new(reserve));
                    let id = self.next_id;
                    self.next_id += 1;
                    if let Ok(mut table) = self.table.lock() {
                        table.insert(id, state.clone());
                    }
                    let io = LimitedStream {
                        stream,
                        scanner: framing::Scanner::new(heads.clone()),
                        heads,
                        _permit: permit,
                        reserve,
                        idle: self.idle,
                        deadline: Box::pin(sleep(self.idle)),
                        write_deadline: Box::pin(sleep(self.idle)),
                        write_armed: false,
                        state,
                        id,
                        table: self.table.clone(),
                    };
                    return (io, addr);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits for the requests in
/// flight. `header_timeout` bounds each request head, counted from the connection's start or
/// the end of the previous answer.
///
/// This is `axum::serve` plus hyper's header read timeout, which needs a timer that
/// `axum::serve` does not set: without it, a client sending one header byte per idle period
/// kept its connection forever.
pub async fn serve(
    mut listener: LimitedListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        // Each request knows its client (the form rate limit is per address) and whether its
        // head declared both lengths (hyper drops one of them).
        let heads = io.heads.clone();
        let state = io.state.clone();
        let router = router.clone();
        let reserve = io.reserve;
        // The connection is busy from a request's head until its answer is sent: only idle
        // connections are closed to make room.
        let service = tower::service_fn(move |mut r: hyper::Request<hyper::body::Incoming>| {
            let busy = state.start();
            r.extensions_mut().insert(guard::ClientAddr(addr));
            let ambiguous = heads.lock().ok().and_then(|mut h| h.pop_front());
            if ambiguous == Some(true) {
                r.extensions_mut().insert(guard::AmbiguousLength);
            }
            if reserve {
                // The guard answers anything but /healthz with 503 on it.
                r.extensions_mut().insert(guard::ReserveConnection);
            }
            let answer = tower::ServiceExt::oneshot(router.clone(), r);
            async move {
                let response = answer.await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| axum::body::Body::new(Answer { body, _busy: busy })),
                )
            }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%addr, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// An answer's body, holding its request's [`InFlight`] until it is sent or dropped.
struct Answer {
    body: axum::body::Body,
    _busy: InFlight,
}

impl hyper::body::Body for Answer {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection holding its slot until dropped; reads fail once the client has sent
/// nothing for the idle timeout, and end when the listener evicts it.
pub struct LimitedStream {
    stream: TcpStream,
    /// Follows the requests' framing as their bytes are read.
    scanner: framing::Scanner,
    heads: framing::Heads,
    _permit: OwnedSemaphorePermit,
    /// A reserve connection: it answers `/healthz` only.
    reserve: bool,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    /// Armed while a write waits for the client to read: the idle timeout for answers.
    write_deadline: Pin<Box<Sleep>>,
    write_armed: bool,
    state: Arc<ConnState>,
    id: u64,
    table: Table,
}

impl Drop for LimitedStream {
    fn drop(&mut self) {
        if let Ok(mut table) = self.table.lock() {
            table.remove(&self.id);
        }
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.state.waker.register(cx.waker());
        if this.state.evicted.load(Ordering::SeqCst) {
            // Made room for a new client: read as the client closing the connection.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.scanner.feed(&buf.filled()[before..]);
                    let next = Instant::now() + this.idle;
                    this.deadline.as_mut().reset(next);
                }
                Poll::Ready(result)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client sent nothing within the idle timeout",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl LimitedStream {
    /// A write or flush (`op`), cut when the connection was evicted or when the client has
    /// read nothing of the answer for the idle timeout; notes since when an answer waits
    /// unread. Only a write that completes (`writes`) shows the client reading again.
    fn write_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        writes: bool,
        op: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        self.state.write_waker.register(cx.waker());
        if self.state.evicted.load(Ordering::SeqCst) {
            // Closed for a new client while its answer waited unread.
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed for a new client: the answer was left unread",
            )));
        }
        match op(Pin::new(&mut self.stream), cx) {
            Poll::Ready(result) => {
                if writes && self.write_armed {
                    self.write_armed = false;
                    if let Ok(mut since) = self.state.unread_since.lock() {
                        *since = None;
                    }
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                if !self.write_armed {
                    self.write_armed = true;
                    let now = Instant::now();
                    self.write_deadline.as_mut().reset(now + self.idle);
                    if let Ok(mut since) = self.state.unread_since.lock() {
                        *since = Some(now);
                    }
                }
                match self.write_deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client read nothing of the answer within the idle timeout",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_with(cx, true, |stream, cx| stream.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .write_with(cx, false, |stream, cx| stream.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_with(cx, true, |stream, cx| stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
