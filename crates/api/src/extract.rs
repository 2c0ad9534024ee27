//! Turning request parts into domain values, with the error code that each
//! place of failure carries: headers → `bad_header`, path → `bad_path`,
//! query → `bad_query`, JSON body → `bad_json`.

use axum::extract::{rejection::PathRejection, FromRequest, FromRequestParts, Path};
use bytes::Bytes;
use http::{header, request::Parts, HeaderMap};
use lite_domain::{
    config::StreamConfigOverrides,
    encryption::KeyText,
    limits::REQUEST_TOKEN_BYTES_MAX,
    names::{BasinName, StreamName},
};
use lite_protocol::{
    config::StreamConfigJson,
    format::{MediaType, RecordFormat},
};
use serde::de::DeserializeOwned;

use crate::{
    auth::Authority,
    error::{ApiError, ApiResult},
};

pub const BASIN_HEADER: &str = "s2-basin";
pub const REQUEST_TOKEN_HEADER: &str = "s2-request-token";
pub const FORMAT_HEADER: &str = "s2-format";
pub const PROVISION_RESULT_HEADER: &str = "s2-provision-result";
/// The config for a stream that an append or read creates (compact JSON of
/// a stream config, as in the API's bodies).
pub const STREAM_CONFIG_HEADER: &str = "s2-stream-config";
pub const ENCRYPTION_KEY_HEADER: &str = "s2-encryption-key";

/// A header's value as text; absent is `None`, non-text is `bad_header`.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> ApiResult<Option<&'a str>> {
    headers
        .get(name)
        .map(|v| v.to_str().map_err(|_| ApiError::bad_header(format!("{name} header is not valid text"))))
        .transpose()
}

/// The basin of a `/v1/streams*` request: the `S2-Basin` header, or else
/// the first label of a `{basin}.{domain}` Host (what a browser's
/// `EventSource`, which cannot set headers, can address).
pub fn basin_header(headers: &HeaderMap) -> ApiResult<BasinName> {
    if let Some(value) = header_str(headers, BASIN_HEADER)? {
        return BasinName::new(value.trim()).map_err(|e| ApiError::bad_header(format!("{BASIN_HEADER}: {e}")));
    }
    let host = header_str(headers, header::HOST.as_str())?.unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(name, _port)| name);
    match host.split_once('.') {
        Some((label, domain)) if !domain.is_empty() => BasinName::new(label).ok(),
        _ => None,
    }
    .ok_or_else(|| ApiError::bad_header(format!("missing {BASIN_HEADER} header")))
}

pub fn request_token(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match header_str(headers, REQUEST_TOKEN_HEADER)? {
        Some(token) if token.len() > REQUEST_TOKEN_BYTES_MAX => {
            Err(ApiError::bad_header(format!("{REQUEST_TOKEN_HEADER} must be at most {REQUEST_TOKEN_BYTES_MAX} bytes")))
        }
        token => Ok(token.map(str::to_owned)),
    }
}

/// The `s2-stream-config` header: absent is no overrides; JSON that is not
/// a valid stream config is `bad_header`.
pub fn stream_config(headers: &HeaderMap) -> ApiResult<StreamConfigOverrides> {
    let Some(text) = header_str(headers, STREAM_CONFIG_HEADER)? else { return Ok(StreamConfigOverrides::default()) };
    // The reference's wording, so that clients print the same message.
    let bad = |e: String| ApiError::bad_header(format!("Invalid header `{STREAM_CONFIG_HEADER}`: {e}"));
    let json: StreamConfigJson = serde_json::from_str(text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    json.try_into().map_err(|e: lite_domain::config::ConfigError| bad(e.to_string()))
}

/// The `s2-encryption-key` text, trimmed. Whether it is a usable key is
/// decided by the stream: one without a cipher ignores it.
pub fn encryption_key(headers: &HeaderMap) -> ApiResult<Option<KeyText>> {
    Ok(header_str(headers, ENCRYPTION_KEY_HEADER)?.map(KeyText::new))
}

pub fn record_format(headers: &HeaderMap) -> ApiResult<RecordFormat> {
    RecordFormat::parse(header_str(headers, FORMAT_HEADER)?).map_err(|e| ApiError::bad_header(e.to_string()))
}

pub fn content_type(headers: &HeaderMap) -> MediaType {
    MediaType::parse(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))
}

pub fn accept(headers: &HeaderMap) -> MediaType {
    MediaType::parse(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()))
}

fn path_segment(path: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    path.map(|Path(segment)| segment).map_err(|e| ApiError::bad_path(e.body_text()))
}

pub fn basin_path(path: Result<Path<String>, PathRejection>) -> ApiResult<BasinName> {
    BasinName::new(path_segment(path)?).map_err(|e| ApiError::bad_path(e.to_string()))
}

/// The stream named in the path, as the request's [`Authority`] resolves it
/// (auto-prefixed tokens name streams relative to their prefix). Kept as a
/// result so that a handler reports a bad `S2-Basin` header first.
pub struct StreamPath(pub ApiResult<StreamName>);

impl<S: Send + Sync> FromRequestParts<S> for StreamPath {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let path = Path::<String>::from_request_parts(parts, state).await;
        let Ok(authority) = Authority::from_request_parts(parts, state).await;
        let name = path_segment(path).and_then(|segment| {
            StreamName::new(authority.0.absolute_stream(&segment)).map_err(|e| ApiError::bad_path(e.to_string()))
        });
        Ok(Self(name))
    }
}

pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> ApiResult<T> {
    serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| ApiError::bad_query(e.to_string()))
}

/// A JSON body, or `None` for an empty one.
pub fn optional_json<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> ApiResult<Option<T>> {
    if body.is_empty() {
        return Ok(None);
    }
    let content_type = header_str(headers, header::CONTENT_TYPE.as_str())?.unwrap_or("");
    if !MediaType::is_json_content_type(content_type) {
        return Err(ApiError::bad_json("expected Content-Type: application/json"));
    }
    serde_json::from_slice(body).map(Some).map_err(|e| ApiError::bad_json(e.to_string()))
}

pub fn json<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> ApiResult<T> {
    optional_json(headers, body)?.ok_or_else(|| ApiError::bad_json("expected a JSON body"))
}

/// A buffered control-plane body; one that cannot be read (too large, cut
/// off) is `bad_json`.
pub struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(JsonBody).map_err(|e| ApiError::bad_json(e.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn the_basin_comes_from_the_header_or_a_basin_subdomain() {
        let basin = |h: &[(&'static str, &'static str)]| basin_header(&headers(h)).map(|b| b.to_string()).ok();
        assert_eq!(basin(&[("s2-basin", "my-basin"), ("host", "other-basin.localhost")]), Some("my-basin".into()));
        assert_eq!(basin(&[("host", "my-basin.localhost:8080")]), Some("my-basin".into()));
        assert_eq!(basin(&[("host", "localhost:8080")]), None);
        assert_eq!(basin(&[("host", "127.0.0.1:8080")]), None);
        assert_eq!(basin(&[("host", "Bad_Basin.example.com")]), None);
        assert_eq!(basin(&[]), None);
        assert_eq!(basin(&[("s2-basin", "UPPER")]), None);
    }
}
