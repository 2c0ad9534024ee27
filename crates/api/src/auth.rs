//! Access control at the edge: one middleware, on every `/v1` route when the
//! server has a root token. It authenticates the bearer token (`401
//! authn`), works out which operation on which resource the request is, and
//! asks the domain's one rule, [`Scope::allows`](lite_domain::access::Scope::allows)
//! (`403 permission_denied`). No handler decides; handlers only receive the
//! request's [`Authority`], to resolve auto-prefixed stream names and to
//! narrow listings to the scope.

use std::sync::{Arc, LazyLock};

use axum::{
    body::Body,
    extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{header, request::Parts, HeaderMap, Method};
use lite_domain::{
    access::{Grant, ListWindow, Operation, Resource, ResourceSet},
    page::{Page, PageRequest},
    service::Service,
};
use lite_protocol::codes::ErrorCode;

use crate::{
    error::{ApiError, ApiResult},
    extract,
};

/// Largest control-plane body the middleware reads to find a name in it
/// (the same as axum's default body limit, which the handlers have).
const BODY_BYTES_MAX: usize = 2 * 1024 * 1024;

/// The authority a request was admitted with.
#[derive(Debug, Clone)]
pub struct Authority(pub Arc<Grant>);

static ROOT: LazyLock<Authority> = LazyLock::new(|| Authority(Arc::new(Grant::root())));

impl<S: Send + Sync> FromRequestParts<S> for Authority {
    type Rejection = std::convert::Infallible;

    /// Without access control no request carries one: it may do anything.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Authority>().cloned().unwrap_or_else(|| ROOT.clone()))
    }
}

impl Authority {
    /// A listing narrowed to `set`: fetches with `fetch` only what the scope
    /// covers.
    pub async fn list_within<T, F, Fut>(
        set: Option<&ResourceSet>,
        page: PageRequest,
        name_of: impl Fn(&T) -> &str,
        fetch: F,
    ) -> ApiResult<Page<T>>
    where
        F: FnOnce(PageRequest) -> Fut,
        Fut: std::future::Future<Output = Result<Page<T>, lite_domain::Error>>,
    {
        let window = ListWindow::new(set, page);
        let fetched = match window.page() {
            Some(page) => fetch(page.clone()).await?,
            None => Page { items: Vec::new(), has_more: false },
        };
        Ok(window.finish(fetched, name_of))
    }
}

/// The middleware.
pub async fn enforce(State(service): State<Service>, request: Request, next: Next) -> Response {
    match admit(&service, request).await {
        Ok(request) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

async fn admit(service: &Service, request: Request) -> ApiResult<Request> {
    let grant = service.authenticate(bearer(request.headers())).await?;
    let (mut parts, body) = request.into_parts();
    let params =
        RawPathParams::from_request_parts(&mut parts, &()).await.map_err(|e| ApiError::bad_path(e.body_text()))?;
    let param = |name: &str| params.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_owned());
    let route = parts.extensions.get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    let route = route.strip_prefix("/v1").unwrap_or(&route);
    let (body, body_name) = match (&parts.method, route) {
        (&Method::POST, "/basins") => named_body(body, "basin").await?,
        (&Method::POST, "/streams") => named_body(body, "stream").await?,
        (&Method::POST, "/access-tokens") => named_body(body, "id").await?,
        _ => (body, String::new()),
    };
    let target = Target::of(&parts.method, route, &parts.headers, &param, body_name, &grant)?;
    if !grant.scope.allows(target.op, target.resource()) {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            format!("this access token does not allow `{}` on {}", target.op, target.describe()),
        ));
    }
    parts.extensions.insert(Authority(Arc::new(grant)));
    Ok(Request::from_parts(parts, body))
}

/// The token of `Authorization: Bearer <token>`; anything else is none.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Buffers a create request's body to read the name it creates. A body
/// without it is answered as its handler would answer it: `bad_json`.
async fn named_body(body: Body, field: &str) -> ApiResult<(Body, String)> {
    let bytes = axum::body::to_bytes(body, BODY_BYTES_MAX).await.map_err(|e| ApiError::bad_json(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_json(e.to_string()))?;
    let name = value.get(field).and_then(|v| v.as_str()).map(str::to_owned);
    let name = name.ok_or_else(|| ApiError::bad_json(format!("missing field `{field}`")))?;
    Ok((Body::from(bytes), name))
}

enum Named {
    Account,
    Basin(String),
    Stream(String, String),
    AccessToken(String),
}

struct Target {
    op: Operation,
    named: Named,
}

impl Target {
    fn of(
        method: &Method,
        route: &str,
        headers: &HeaderMap,
        param: &dyn Fn(&str) -> Option<String>,
        body_name: String,
        grant: &Grant,
    ) -> ApiResult<Self> {
        use Operation::*;
        let path = |name: &str| param(name).ok_or_else(|| ApiError::bad_path(format!("missing {name}")));
        let header_basin = || extract::basin_header(headers).map(|b| b.as_str().to_owned());
        let stream =
            |name: String| -> ApiResult<Named> { Ok(Named::Stream(header_basin()?, grant.absolute_stream(&name))) };
        let (op, named) = match (method.as_str(), route) {
            ("GET", "/basins") => (ListBasins, Named::Account),
            ("POST", "/basins") => (CreateBasin, Named::Basin(body_name)),
            ("GET", "/basins/{basin}") => (GetBasinConfig, Named::Basin(path("basin")?)),
            ("PUT", "/basins/{basin}") => (CreateBasin, Named::Basin(path("basin")?)),
            ("PATCH", "/basins/{basin}") => (ReconfigureBasin, Named::Basin(path("basin")?)),
            ("DELETE", "/basins/{basin}") => (DeleteBasin, Named::Basin(path("basin")?)),
            ("GET", "/streams") => (ListStreams, Named::Basin(header_basin()?)),
            ("POST", "/streams") => (CreateStream, stream(body_name)?),
            ("GET", "/streams/{stream}") => (GetStreamConfig, stream(path("stream")?)?),
            ("PUT", "/streams/{stream}") => (CreateStream, stream(path("stream")?)?),
            ("PATCH", "/streams/{stream}") => (ReconfigureStream, stream(path("stream")?)?),
            ("DELETE", "/streams/{stream}") => (DeleteStream, stream(path("stream")?)?),
            ("GET", "/streams/{stream}/records") => (Read, stream(path("stream")?)?),
            ("POST", "/streams/{stream}/records") => (Append, stream(path("stream")?)?),
            ("GET", "/streams/{stream}/records/tail") => (CheckTail, stream(path("stream")?)?),
            ("GET", "/access-tokens") => (ListAccessTokens, Named::Account),
            ("POST", "/access-tokens") => (IssueAccessToken, Named::AccessToken(body_name)),
            ("DELETE", "/access-tokens/{id}") => (RevokeAccessToken, Named::AccessToken(path("id")?)),
            ("GET", "/metrics") => (AccountMetrics, Named::Account),
            ("GET", "/metrics/{basin}") => (BasinMetrics, Named::Basin(path("basin")?)),
            ("GET", "/metrics/{basin}/{stream}") => (StreamMetrics, Named::Stream(path("basin")?, path("stream")?)),
            ("GET", "/locations") => (ListLocations, Named::Account),
            ("GET", "/locations/default") => (GetDefaultLocation, Named::Account),
            ("PUT", "/locations/default") => (SetDefaultLocation, Named::Account),
            // A route without an operation is nobody's to use.
            _ => return Err(ApiError::new(ErrorCode::PermissionDenied, format!("no operation for {method} {route}"))),
        };
        Ok(Self { op, named })
    }

    fn resource(&self) -> Resource<'_> {
        match &self.named {
            Named::Account => Resource::Account,
            Named::Basin(basin) => Resource::Basin(basin),
            Named::Stream(basin, stream) => Resource::Stream { basin, stream },
            Named::AccessToken(id) => Resource::AccessToken(id),
        }
    }

    fn describe(&self) -> String {
        match &self.named {
            Named::Account => "the account".to_owned(),
            Named::Basin(basin) => format!("basin `{basin}`"),
            Named::Stream(basin, stream) => format!("stream `{stream}` in basin `{basin}`"),
            Named::AccessToken(id) => format!("access token `{id}`"),
        }
    }
}
