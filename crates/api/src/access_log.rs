//! Request logs: one INFO line per request with its method, path, status,
//! latency and sizes; and the count of error answers by kind, in the same
//! pass over each response.
//!
//! Only these fields are logged, never headers or the query, so credentials
//! (`Authorization`, `s2-encryption-key`) cannot reach the logs. Latency is
//! the time to the response head; for read and append sessions that is when
//! the session started, not when it ended.

use std::{sync::Arc, time::Instant};

use axum::body::HttpBody as _;
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use http::{header, HeaderMap};

use crate::error::ErrorCounts;

/// The `tracing` target of request log lines.
const TARGET: &str = "s2_lite::request";

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

pub async fn log_request(State(errors): State<Arc<ErrorCounts>>, request: Request, next: Next) -> Response {
    // With the lines filtered out (`RUST_LOG=…,s2_lite::request=off`), a
    // request pays nothing here but the error count.
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        let response = next.run(request).await;
        errors.count(&response);
        return response;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_bytes = content_length(request.headers()).or_else(|| request.body().size_hint().exact());
    let response = next.run(request).await;
    errors.count(&response);
    // Streamed bodies (sessions, compressed answers) have no size up front.
    let response_bytes = content_length(response.headers()).or_else(|| response.body().size_hint().exact());
    tracing::info!(
        target: TARGET,
        %method,
        path,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        request_bytes,
        response_bytes,
        "request"
    );
    response
}
