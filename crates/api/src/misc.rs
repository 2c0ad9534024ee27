//! Health, stubs for account features this server does not have, and JSON
//! answers for unknown routes.

use axum::response::IntoResponse;
use lite_protocol::codes::ErrorCode;

use crate::error::ApiError;

pub async fn health() -> &'static str {
    "OK"
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
