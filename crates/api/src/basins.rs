//! `/v1/basins` handlers.

use axum::{
    extract::{rejection::PathRejection, Path, RawQuery, State},
    response::{IntoResponse, Response},
    Json,
};
use http::{HeaderMap, StatusCode};
use lite_domain::{
    config::BasinConfig,
    names::{BasinName, BasinNamePrefix},
    page::PageRequest,
    service::{Provisioned, Service},
    storage::BasinMeta,
};
use lite_protocol::{
    config::{BasinConfigView, BasinReconfigurationJson},
    resources::{BasinInfoJson, CreateBasinJson, EnsureBasinJson, ListBasinsJson},
};
use serde::Deserialize;

use crate::{
    auth::Authority,
    error::{ApiError, ApiResult},
    extract::{self, JsonBody, PROVISION_RESULT_HEADER},
};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub(crate) prefix: String,
    #[serde(default)]
    pub(crate) start_after: String,
    #[serde(default)]
    pub(crate) limit: Option<usize>,
}

pub async fn list(
    State(service): State<Service>,
    authority: Authority,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<ListBasinsJson>> {
    let q: ListQuery = extract::query(raw.as_deref())?;
    let prefix = BasinNamePrefix::new(q.prefix).map_err(|e| ApiError::bad_query(format!("prefix: {e}")))?;
    let start_after =
        BasinNamePrefix::new(q.start_after).map_err(|e| ApiError::bad_query(format!("start_after: {e}")))?;
    let page = PageRequest::new(prefix.as_str().to_owned(), start_after.as_str().to_owned(), q.limit);
    let page = Authority::list_within(
        authority.0.scope.basins.as_ref(),
        page,
        |meta: &BasinMeta| meta.name.as_str(),
        |page| async move { service.list_basins(&page).await },
    )
    .await?;
    Ok(Json(ListBasinsJson { basins: page.items.iter().map(Into::into).collect(), has_more: page.has_more }))
}

/// Renders a created or ensured basin with its provision result.
pub(crate) fn provisioned<T: serde::Serialize>(status: StatusCode, outcome: Provisioned, info: T) -> Response {
    let result = match outcome {
        Provisioned::Created => "created",
        Provisioned::Updated => "updated",
        Provisioned::Noop => "noop",
    };
    (status, [(PROVISION_RESULT_HEADER, result)], Json(info)).into_response()
}

/// An ensure is 201 when it created, 200 otherwise.
pub(crate) fn ensure_status(outcome: Provisioned) -> StatusCode {
    if outcome == Provisioned::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

fn info(meta: &BasinMeta) -> BasinInfoJson {
    meta.into()
}

pub async fn create(
    State(service): State<Service>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let token = extract::request_token(&headers)?;
    let request: CreateBasinJson = extract::json(&headers, &body)?;
    let name = BasinName::new(request.basin).map_err(|e| ApiError::bad_json(format!("basin: {e}")))?;
    let config = BasinConfig::try_from(request.config.unwrap_or_default())?;
    let (meta, outcome) = service.create_basin(name, config, token).await?;
    // A replayed create is still 201.
    Ok(provisioned(StatusCode::CREATED, outcome, info(&meta)))
}

pub async fn get_config(
    State(service): State<Service>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<BasinConfigView>> {
    let name = extract::basin_path(path)?;
    let meta = service.get_basin(&name).await?;
    Ok(Json(meta.config.into()))
}

pub async fn ensure(
    State(service): State<Service>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let name = extract::basin_path(path)?;
    let request: EnsureBasinJson = extract::optional_json(&headers, &body)?.unwrap_or_default();
    let config = BasinConfig::try_from(request.config.unwrap_or_default())?;
    let (meta, outcome) = service.ensure_basin(name, config).await?;
    Ok(provisioned(ensure_status(outcome), outcome, info(&meta)))
}

pub async fn reconfigure(
    State(service): State<Service>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<BasinConfigView>> {
    let name = extract::basin_path(path)?;
    let request: BasinReconfigurationJson = extract::json(&headers, &body)?;
    let config = service.reconfigure_basin(&name, request.try_into()?).await?;
    Ok(Json(config.into()))
}

pub async fn delete(
    State(service): State<Service>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    let name = extract::basin_path(path)?;
    service.delete_basin(&name).await?;
    Ok(StatusCode::ACCEPTED)
}
