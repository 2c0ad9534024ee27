//! The HTTP adapter: axum routes for the S2 v1 API over the domain
//! [`Service`](lite_domain::service::Service).
//!
//! Architecture invariant: handlers parse, call one service method and
//! render; they hold no rules of the domain and never see storage. Wire
//! shapes come from `lite-protocol`.

mod access_log;
mod access_tokens;
mod auth;
mod basins;
mod error;
pub use error::{ApiError, ErrorCounts};
mod extract;
mod misc;
mod records;
mod s2s;
mod sse;
mod streams;

use axum::{
    routing::{delete, get},
    Router,
};
use lite_domain::service::Service;
use tower_http::{
    compression::{
        predicate::{NotForContentType, Predicate, SizeAbove},
        CompressionLayer,
    },
    cors::CorsLayer,
    decompression::RequestDecompressionLayer,
};

/// Response bodies smaller than this are not compressed.
const COMPRESSION_MIN_BYTES: u64 = 1024;

#[derive(Debug, Clone, Copy)]
pub struct RouterOptions {
    /// Answer CORS requests (mirroring the request's origin).
    pub cors: bool,
}

/// The whole HTTP surface of the server; error answers are counted in
/// `errors`.
pub fn router(service: Service, options: RouterOptions, errors: std::sync::Arc<ErrorCounts>) -> Router {
    let compress_when = SizeAbove::new(COMPRESSION_MIN_BYTES)
        .and(NotForContentType::const_new(lite_protocol::format::MediaType::EVENT_STREAM))
        .and(NotForContentType::const_new(lite_protocol::format::MediaType::S2S));
    let v1 = Router::new()
        .route("/basins", get(basins::list).post(basins::create))
        .route(
            "/basins/{basin}",
            get(basins::get_config).put(basins::ensure).patch(basins::reconfigure).delete(basins::delete),
        )
        .route("/streams", get(streams::list).post(streams::create))
        .route(
            "/streams/{stream}",
            get(streams::get_config).put(streams::ensure).patch(streams::reconfigure).delete(streams::delete),
        )
        .route("/streams/{stream}/records", get(records::read).post(records::append))
        .route("/streams/{stream}/records/tail", get(records::check_tail))
        .route("/access-tokens", get(access_tokens::list).post(access_tokens::issue))
        .route("/access-tokens/{id}", delete(access_tokens::revoke))
        .route("/metrics", get(misc::not_implemented))
        .route("/metrics/{basin}", get(misc::not_implemented))
        .route("/metrics/{basin}/{stream}", get(misc::not_implemented))
        .route("/locations", get(misc::not_implemented))
        .route("/locations/default", get(misc::not_implemented).put(misc::not_implemented));
    // Innermost, so that it runs on matched routes only and sees bodies
    // already decompressed; absent without a root token.
    let v1 = if service.access_control_enabled() {
        v1.route_layer(axum::middleware::from_fn_with_state(service.clone(), auth::enforce))
    } else {
        v1
    };
    let v1 = v1
        .layer(CompressionLayer::new().gzip(true).zstd(true).compress_when(compress_when))
        .layer(RequestDecompressionLayer::new().gzip(true).zstd(true));
    let app = Router::new()
        .nest("/v1", v1)
        .route("/health", get(misc::health))
        .route("/ping", get(misc::health))
        .fallback(misc::not_found)
        .method_not_allowed_fallback(misc::method_not_allowed)
        .with_state(service);
    let app = if options.cors { app.layer(CorsLayer::very_permissive()) } else { app };
    app.layer(axum::middleware::from_fn_with_state(errors, access_log::log_request))
}
