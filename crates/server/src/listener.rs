//! Accepting connections: HTTP/1.1 and HTTP/2 (with prior knowledge on
//! cleartext) on one port, tuned for streaming sessions, with graceful
//! shutdown.
//!
//! The HTTP/2 settings matter to clients that multiplex many sessions on
//! one connection: they open and cancel streams at a high rate (every
//! dropped read session is a reset), which the default reset limits would
//! answer by closing the whole connection.

use std::{future::Future, time::Duration};

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;

/// Streams and the connection may each buffer this much unacknowledged
/// data: enough for a full append batch in flight without stalls.
const STREAM_WINDOW_BYTES: u32 = 8 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES: u32 = 32 * 1024 * 1024;
/// Sessions per connection.
const MAX_CONCURRENT_STREAMS: u32 = 1024;
/// Client resets of streams not yet accepted, before the connection is
/// considered abusive.
const MAX_PENDING_ACCEPT_RESETS: usize = 1024;

/// Applies the server's HTTP settings to a connection builder.
pub fn tune(builder: &mut Builder<TokioExecutor>) {
    builder
        .http2()
        .timer(TokioTimer::new())
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(None)
        .keep_alive_interval(Duration::from_secs(30));
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits for
/// open connections to finish.
pub async fn serve_plain(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    tune(&mut builder);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        // Acks and live records are small writes that must not wait.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}
