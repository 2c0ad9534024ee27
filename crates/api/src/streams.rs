//! `/v1/streams` handlers; the basin comes from the `S2-Basin` header.

use axum::{
    extract::{RawQuery, State},
    response::Response,
    Json,
};
use http::{HeaderMap, StatusCode};
use lite_domain::{
    access::Grant,
    config::StreamConfigOverrides,
    names::{StreamName, StreamNamePrefix},
    page::PageRequest,
    service::Service,
    storage::StreamMeta,
};
use lite_protocol::{
    config::{StreamConfigJson, StreamConfigView, StreamReconfigurationJson},
    resources::{CreateStreamJson, ListStreamsJson, StreamInfoJson},
};

use crate::{
    auth::Authority,
    basins::{ensure_status, provisioned, ListQuery},
    error::{ApiError, ApiResult},
    extract::{self, JsonBody, StreamPath},
};

pub async fn list(
    State(service): State<Service>,
    authority: Authority,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<ListStreamsJson>> {
    let basin = extract::basin_header(&headers)?;
    let q: ListQuery = extract::query(raw.as_deref())?;
    let grant = &authority.0;
    let page = list_page(q, |name| grant.absolute_stream(name))?;
    let page = Authority::list_within(
        grant.scope.streams.as_ref(),
        page,
        |meta: &StreamMeta| meta.name.as_str(),
        |page| async move { service.list_streams(&basin, &page).await },
    )
    .await?;
    let streams = page.items.iter().map(|meta| info(grant, meta)).collect();
    Ok(Json(ListStreamsJson { streams, has_more: page.has_more }))
}

/// A stream's info as the client names it (auto-prefix stripped).
fn info(grant: &Grant, meta: &StreamMeta) -> StreamInfoJson {
    let mut info = StreamInfoJson::from(meta);
    info.name = grant.relative_stream(&info.name).to_owned();
    info
}

/// The page asked for, with names resolved as the token names streams.
fn list_page(q: ListQuery, absolute: impl Fn(&str) -> String) -> ApiResult<PageRequest> {
    let ListQuery { prefix, start_after, limit } = q;
    let prefix = StreamNamePrefix::new(prefix).map_err(|e| ApiError::bad_query(format!("prefix: {e}")))?;
    let start_after =
        StreamNamePrefix::new(start_after).map_err(|e| ApiError::bad_query(format!("start_after: {e}")))?;
    let start_after = match start_after.as_str() {
        "" => String::new(),
        after => absolute(after),
    };
    Ok(PageRequest::new(absolute(prefix.as_str()), start_after, limit))
}

pub async fn create(
    State(service): State<Service>,
    authority: Authority,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let basin = extract::basin_header(&headers)?;
    let token = extract::request_token(&headers)?;
    let request: CreateStreamJson = extract::json(&headers, &body)?;
    let name = StreamName::new(authority.0.absolute_stream(&request.stream))
        .map_err(|e| ApiError::bad_json(format!("stream: {e}")))?;
    let overrides = StreamConfigOverrides::try_from(request.config.unwrap_or_default())?;
    let (meta, outcome) = service.create_stream(&basin, name, overrides, token).await?;
    Ok(provisioned(StatusCode::CREATED, outcome, info(&authority.0, &meta)))
}

pub async fn get_config(
    State(service): State<Service>,
    StreamPath(stream_path): StreamPath,
    headers: HeaderMap,
) -> ApiResult<Json<StreamConfigView>> {
    let basin = extract::basin_header(&headers)?;
    let name = stream_path?;
    let meta = service.get_stream(&basin, &name).await?;
    Ok(Json(meta.config.into()))
}

pub async fn ensure(
    State(service): State<Service>,
    authority: Authority,
    StreamPath(stream_path): StreamPath,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let basin = extract::basin_header(&headers)?;
    let name = stream_path?;
    let config: StreamConfigJson = extract::optional_json(&headers, &body)?.unwrap_or_default();
    let overrides = StreamConfigOverrides::try_from(config)?;
    let (meta, outcome) = service.ensure_stream(&basin, name, overrides).await?;
    Ok(provisioned(ensure_status(outcome), outcome, info(&authority.0, &meta)))
}

pub async fn reconfigure(
    State(service): State<Service>,
    StreamPath(stream_path): StreamPath,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<StreamConfigView>> {
    let basin = extract::basin_header(&headers)?;
    let name = stream_path?;
    let request: StreamReconfigurationJson = extract::json(&headers, &body)?;
    let config = service.reconfigure_stream(&basin, &name, request.try_into()?).await?;
    Ok(Json(config.into()))
}

pub async fn delete(
    State(service): State<Service>,
    StreamPath(stream_path): StreamPath,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let basin = extract::basin_header(&headers)?;
    let name = stream_path?;
    service.delete_stream(&basin, &name).await?;
    Ok(StatusCode::ACCEPTED)
}
