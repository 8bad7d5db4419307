//! Connection limits for `imglake serve`: at most N open connections (further clients wait
//! in the kernel's accept backlog), a connection that sends nothing for the idle timeout is
//! closed, and a request's headers must arrive whole within the same time (hyper's header
//! read timeout), so slow or stalled clients (slowloris, one header byte at a time) cannot
//! hold the server's slots forever. What each request may hold once its headers are in is
//! [`guard`]'s.

pub mod framing;
pub mod guard;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep, Instant, Sleep};

/// A TCP listener that hands out at most `max` connections at a time.
pub struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    idle: Duration,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, max: usize, idle: Duration) -> Self {
        LimitedListener {
            inner,
            slots: Arc::new(Semaphore::new(max.max(1))),
            idle,
        }
    }
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // Wait for a free slot before accepting: excess clients queue in the backlog.
        let permit = loop {
            match self.slots.clone().acquire_owned().await {
                Ok(permit) => break permit,
                Err(_) => tokio::task::yield_now().await,
            }
        };
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let heads = framing::Heads::default();
                    let io = LimitedStream {
                        stream,
                        scanner: framing::Scanner::new(heads.clone()),
                        heads,
                        _permit: permit,
                        idle: self.idle,
                        deadline: Box::pin(sleep(self.idle)),
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
/// flight. `timeout` bounds both the whole header of each request and any silence.
///
/// This is `axum::serve` plus hyper's header read timeout, which needs a timer that
/// `axum::serve` does not set: without it, a client sending one header byte per idle period
/// kept its connection forever.
pub async fn serve(
    mut listener: LimitedListener,
    router: Router,
    timeout: Duration,
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
        let service = tower::ServiceExt::map_request(
            router.clone(),
            move |mut r: hyper::Request<hyper::body::Incoming>| {
                r.extensions_mut().insert(guard::ClientAddr(addr));
                let ambiguous = heads.lock().ok().and_then(|mut h| h.pop_front());
                if ambiguous == Some(true) {
                    r.extensions_mut().insert(guard::AmbiguousLength);
                }
                r
            },
        );
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(timeout)
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

/// A connection holding its slot until dropped; reads fail once the client has sent
/// nothing for the idle timeout.
pub struct LimitedStream {
    stream: TcpStream,
    /// Follows the requests' framing as their bytes are read.
    scanner: framing::Scanner,
    heads: framing::Heads,
    _permit: OwnedSemaphorePermit,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
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

impl AsyncWrite for LimitedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
