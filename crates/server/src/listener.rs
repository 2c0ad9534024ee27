//! Accepting connections: HTTP/1.1 and HTTP/2 (with prior knowledge on
//! cleartext, by ALPN over TLS) on one port, tuned for streaming sessions,
//! bounded in number and in how long a client may take to send a request
//! head, with graceful shutdown.
//!
//! The HTTP/2 settings matter to clients that multiplex many sessions on
//! one connection: they open and cancel streams at a high rate (every
//! dropped read session is a reset), which the default reset limits would
//! answer by closing the whole connection.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::response::IntoResponse;
use http::{header, HeaderValue};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{
        conn::auto::Builder,
        graceful::{GracefulShutdown, Watcher},
    },
    service::TowerToHyperService,
};
use lite_api::ApiError;
use lite_protocol::codes::ErrorCode;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_rustls::TlsAcceptor;

/// How often an HTTP/2 connection is pinged, so that a dead peer is noticed.
const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(30);
/// The pause after a failed accept (out of file descriptors and the like).
const ACCEPT_FAILURE_BACKOFF: Duration = Duration::from_millis(50);

/// Streams and the connection may each buffer this much unacknowledged
/// data: enough for a full append batch in flight without stalls.
const STREAM_WINDOW_BYTES: u32 = 8 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES: u32 = 32 * 1024 * 1024;
/// Sessions per connection.
const MAX_CONCURRENT_STREAMS: u32 = 1024;
/// Client resets of streams not yet accepted, before the connection is
/// considered abusive.
const MAX_PENDING_ACCEPT_RESETS: usize = 1024;
/// Request headers, all together (HTTP/2) or the buffer they are read into
/// (HTTP/1.1). S2 requests carry a few short headers.
const HEADER_BYTES_MAX: usize = 64 * 1024;
/// Connections over the limit that are being told so; beyond this many,
/// a connection over the limit is closed without an answer.
const REFUSING_MAX: usize = 64;
/// How long a connection over the limit may take to send a request and read
/// the refusal.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(5);

/// Bounds on what clients may hold.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections; more are answered `503 unavailable` and closed.
    pub max_connections: usize,
    /// Time to send a request head (and to finish a TLS handshake) before
    /// the connection is closed. HTTP/1.1 only: an HTTP/2 connection's
    /// requests have no head of their own to wait for.
    pub request_head_timeout: Duration,
}

/// The default connection cap.
pub const MAX_CONNECTIONS_DEFAULT: usize = 16_384;
/// The default time for a request head.
/// HTTP/1.1 applies it between requests too, so it is also how long an idle
/// keep-alive connection stays open: long enough for client pools (and
/// nginx's 60 s `client_header_timeout`), short enough to bound a client
/// that trickles its head.
pub const REQUEST_HEAD_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self { max_connections: MAX_CONNECTIONS_DEFAULT, request_head_timeout: REQUEST_HEAD_TIMEOUT_DEFAULT }
    }
}

/// A connection builder with the server's HTTP settings.
fn builder(limits: &ConnectionLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_head_timeout)
        .max_buf_size(HEADER_BYTES_MAX);
    builder
        .http2()
        .timer(TokioTimer::new())
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(None)
        .max_header_list_size(HEADER_BYTES_MAX as u32)
        .keep_alive_interval(HTTP2_PING_INTERVAL);
    builder
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until
/// `shutdown` resolves, then waits for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnectionLimits,
    connections: Arc<AtomicUsize>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let builder = builder(&limits);
    let tls = tls.map(TlsAcceptor::from);
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refusing = Arc::new(Semaphore::new(REFUSING_MAX));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_FAILURE_BACKOFF).await;
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        // Acks and live records are small writes that must not wait.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        let connection = Connection { builder: builder.clone(), tls: tls.clone(), limits, watcher: graceful.watcher() };
        match open.clone().try_acquire_owned() {
            Ok(slot) => {
                let router = router.clone();
                let counted = Counted::new(&connections);
                tokio::spawn(async move {
                    connection.serve(stream, router, slot).await;
                    drop(counted);
                });
            }
            Err(_) => match refusing.clone().try_acquire_owned() {
                Ok(slot) => {
                    tracing::warn!(%peer, max = limits.max_connections, "connection limit reached; refusing");
                    tokio::spawn(async move { connection.refuse(stream, slot).await });
                }
                Err(_) => tracing::debug!(%peer, "connection limit reached; closing without an answer"),
            },
        }
    }
    graceful.shutdown().await;
    Ok(())
}

/// One connection being served, counted in the `/metrics` gauge until dropped.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What serving one accepted connection needs.
struct Connection {
    builder: Builder<TokioExecutor>,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    watcher: Watcher,
}

impl Connection {
    /// Serves the connection; `slot` is its place under the cap.
    async fn serve(self, stream: TcpStream, router: axum::Router, slot: OwnedSemaphorePermit) {
        self.run(stream, router).await;
        drop(slot);
    }

    /// Answers every request on the connection with `503 unavailable` and
    /// closes it, within [`REFUSAL_DEADLINE`].
    async fn refuse(mut self, stream: TcpStream, slot: OwnedSemaphorePermit) {
        self.builder.http1().keep_alive(false);
        let max = self.limits.max_connections;
        let refusal = axum::Router::new().fallback(move || async move {
            let message = format!("this server has its maximum of {max} connections open (--max-connections); retry");
            let mut response = ApiError::new(ErrorCode::Unavailable, message).into_response();
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        });
        let _ = tokio::time::timeout(REFUSAL_DEADLINE, self.run(stream, refusal)).await;
        drop(slot);
    }

    async fn run(self, stream: TcpStream, router: axum::Router) {
        let Some(tls) = self.tls.clone() else {
            // Telling HTTP/1.1 from HTTP/2 waits for the first bytes, with no
            // timeout of its own: a client that sends nothing is cut off here.
            let mut first = [0u8; 1];
            return match tokio::time::timeout(self.limits.request_head_timeout, stream.peek(&mut first)).await {
                Ok(Ok(_)) => self.http(stream, router).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "connection failed before a request"),
                Err(_) => tracing::debug!("no request within the head timeout; closing"),
            };
        };
        match tokio::time::timeout(self.limits.request_head_timeout, tls.accept(stream)).await {
            Ok(Ok(stream)) => self.http(stream, router).await,
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        }
    }

    async fn http(self, io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static, router: axum::Router) {
        let service = TowerToHyperService::new(router);
        let connection = self.builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        if let Err(e) = self.watcher.watch(connection.into_owned()).await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}
