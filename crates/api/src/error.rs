//! API errors and their responses. Error bodies are always JSON.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use lite_protocol::{codes::ErrorCode, error::WireError, records::DecodeError};

#[derive(Debug)]
pub struct ApiError(pub WireError);

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(WireError::new(code, message))
    }

    pub fn bad_header(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadHeader, message)
    }

    pub fn bad_path(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadPath, message)
    }

    pub fn bad_query(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadQuery, message)
    }

    pub fn bad_json(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadJson, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Invalid, message)
    }
}

impl From<lite_domain::Error> for ApiError {
    fn from(e: lite_domain::Error) -> Self {
        Self(e.into())
    }
}

impl From<lite_domain::config::ConfigError> for ApiError {
    fn from(e: lite_domain::config::ConfigError) -> Self {
        Self::invalid(e.to_string())
    }
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::BadJson(m) => Self::bad_json(m),
            DecodeError::BadProto(m) => Self::new(ErrorCode::BadProto, m),
            DecodeError::Invalid(m) => Self::invalid(m),
        }
    }
}

/// Set on every error response: what went wrong (the error code, or the
/// key of a 412/416 body), for [`ErrorCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ErrorKind(pub(crate) &'static str);

/// Error answers by kind, counted by the request-log layer that every
/// request passes anyway (for the server's metrics).
#[derive(Debug, Default)]
pub struct ErrorCounts(std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>);

impl ErrorCounts {
    /// Counts `response` if it is an error answer.
    pub(crate) fn count(&self, response: &Response) {
        if let Some(ErrorKind(kind)) = response.extensions().get::<ErrorKind>() {
            // Each change under this lock is one add: poisoning is ignored.
            *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).entry(kind).or_default() += 1;
        }
    }

    /// Every kind answered so far, with its count.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let counts = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.iter().map(|(kind, n)| (*kind, *n)).collect()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.0.body_bytes()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(lite_protocol::format::MediaType::JSON));
        if let Some(after) = self.0.retry_after {
            // `Retry-After` counts whole seconds; the SDKs read the finer
            // `retry-after-ms` as their minimum backoff.
            let secs = after.as_millis().div_ceil(1000).max(1);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs as u64));
            headers.insert("retry-after-ms", HeaderValue::from(after.as_millis() as u64));
        }
        response.extensions_mut().insert(ErrorKind(self.0.kind));
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
