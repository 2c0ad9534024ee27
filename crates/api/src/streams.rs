//! `/v1/streams` handlers; the basin comes from the `S2-Basin` header.

use axum::{
    extract::{rejection::PathRejection, Path, RawQuery, State},
    response::Response,
    Json,
};
use http::{HeaderMap, StatusCode};
use lite_domain::{
    config::StreamConfigOverrides,
    names::{StreamName, StreamNamePrefix},
    page::PageRequest,
    service::Service,
};
use lite_protocol::{
    config::{StreamConfigJson, StreamConfigView, StreamReconfigurationJson},
    resources::{CreateStreamJson, ListStreamsJson, StreamInfoJson},
};

use crate::{
    basins::{ensure_status, provisioned, ListQuery},
    error::{ApiError, ApiResult},
    extract::{self, JsonBody},
};

pub async fn list(
    State(service): State<Service>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<ListStreamsJson>> {
    let basin = extract::basin_header(&headers)?;
    let q: ListQuery = extract::query(raw.as_deref())?;
    let page = list_page(q)?;
    let page = service.list_streams(&basin, &page).await?;
    Ok(Json(ListStreamsJson { streams: page.items.iter().map(Into::into).collect(), has_more: page.has_more }))
}

fn list_page(q: ListQuery) -> ApiResult<PageRequest> {
    let ListQuery { prefix, start_after, limit } = q;
    let prefix = StreamNamePrefix::new(prefix).map_err(|e| ApiError::bad_query(format!("prefix: {e}")))?;
    let start_after =
        StreamNamePrefix::new(start_after).map_err(|e| ApiError::bad_query(format!("start_after: {e}")))?;
    Ok(PageRequest::new(prefix.as_str().to_owned(), start_after.as_str().to_owned(), limit))
}

pub async fn create(
    State(service): State<Service>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let basin = extract::basin_header(&headers)?;
    let token = extract::request_token(&headers)?;
    let request: CreateStreamJson = extract::json(&headers, &body)?;
    let name = StreamName::new(request.stream).map_err(|e| ApiError::bad_json(format!("stream: {e}")))?;
    let overrides = StreamConfigOverrides::try_from(request.config.unwrap_or_default())?;
    let (meta, outcome) = service.create_stream(&basin, name, overrides, token).await?;
    Ok(provisioned(StatusCode::CREATED, outcome, StreamInfoJson::from(&meta)))
}

pub async fn get_config(
    State(service): State<Service>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult<Json<StreamConfigView>> {
    let basin = extract::basin_header(&headers)?;
    let name = extract::stream_path(path)?;
    let meta = service.get_stream(&basin, &name).await?;
    Ok(Json(meta.config.into()))
}

pub async fn ensure(
    State(service): State<Service>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let basin = extract::basin_header(&headers)?;
    let name = extract::stream_path(path)?;
    let config: StreamConfigJson = extract::optional_json(&headers, &body)?.unwrap_or_default();
    let overrides = StreamConfigOverrides::try_from(config)?;
    let (meta, outcome) = service.ensure_stream(&basin, name, overrides).await?;
    Ok(provisioned(ensure_status(outcome), outcome, StreamInfoJson::from(&meta)))
}

pub async fn reconfigure(
    State(service): State<Service>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<StreamConfigView>> {
    let basin = extract::basin_header(&headers)?;
    let name = extract::stream_path(path)?;
    let request: StreamReconfigurationJson = extract::json(&headers, &body)?;
    let config = service.reconfigure_stream(&basin, &name, request.try_into()?).await?;
    Ok(Json(config.into()))
}

pub async fn delete(
    State(service): State<Service>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let basin = extract::basin_header(&headers)?;
    let name = extract::stream_path(path)?;
    service.delete_stream(&basin, &name).await?;
    Ok(StatusCode::ACCEPTED)
}
