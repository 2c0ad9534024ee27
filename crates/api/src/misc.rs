//! Health, stubs for account features this server does not have, and JSON
//! answers for unknown routes.

use axum::{extract::State, response::IntoResponse};
use lite_domain::service::Service;
use lite_protocol::codes::ErrorCode;

use crate::error::ApiError;

/// `200 OK` while the storage can serve; `503` with a JSON error once it is
/// fenced by another server, closed, or stopped by a failure, so that
/// readiness probes take this server out of rotation.
pub async fn health(State(service): State<Service>) -> Result<&'static str, ApiError> {
    service.health().map_err(|e| ApiError::new(ErrorCode::Unavailable, e.to_string()))?;
    Ok("OK")
}

/// Access tokens, metrics and locations are not part of a single-tenant
/// server.
pub async fn not_implemented() -> ApiError {
    ApiError::new(ErrorCode::NotImplemented, "Not implemented")
}

pub async fn not_found() -> impl IntoResponse {
    let body = serde_json::json!({"code": "not_found", "message": "no such route"});
    (http::StatusCode::NOT_FOUND, axum::Json(body))
}

pub async fn method_not_allowed() -> impl IntoResponse {
    let body = serde_json::json!({"code": "method_not_allowed", "message": "method not allowed on this route"});
    (http::StatusCode::METHOD_NOT_ALLOWED, axum::Json(body))
}
