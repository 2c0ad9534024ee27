//! `/v1/access-tokens` handlers: issue, list, revoke. Whether the request
//! may do this at all was decided by [`crate::auth`]; issuing also checks
//! that the new token lies within the issuer's authority (in the domain).

use axum::{
    extract::{rejection::PathRejection, Path, RawQuery, State},
    Json,
};
use http::{HeaderMap, StatusCode};
use lite_domain::{
    access::{AccessTokenId, TokenInfo},
    page::PageRequest,
    service::Service,
};
use lite_protocol::access::{AccessTokenInfoJson, IssueAccessTokenJson, ListAccessTokensJson};

use crate::{
    auth::Authority,
    basins::ListQuery,
    error::{ApiError, ApiResult},
    extract::{self, JsonBody},
};

pub async fn issue(
    State(service): State<Service>,
    authority: Authority,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<IssueAccessTokenJson>)> {
    let request: AccessTokenInfoJson = extract::json(&headers, &body)?;
    let info = TokenInfo::try_from(request).map_err(ApiError::bad_json)?;
    let secret = service.issue_access_token(&authority.0, info).await?;
    Ok((StatusCode::CREATED, Json(IssueAccessTokenJson { access_token: secret.expose().to_owned() })))
}

pub async fn list(
    State(service): State<Service>,
    authority: Authority,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<ListAccessTokensJson>> {
    let q: ListQuery = extract::query(raw.as_deref())?;
    let page = PageRequest::new(q.prefix, q.start_after, q.limit);
    let page = Authority::list_within(
        authority.0.scope.access_tokens.as_ref(),
        page,
        |info: &TokenInfo| info.id.as_str(),
        |page| async move { service.list_access_tokens(&page).await },
    )
    .await?;
    let access_tokens = page.items.iter().map(AccessTokenInfoJson::from).collect();
    Ok(Json(ListAccessTokensJson { access_tokens, has_more: page.has_more }))
}

pub async fn revoke(
    State(service): State<Service>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    let Path(id) = path.map_err(|e| ApiError::bad_path(e.body_text()))?;
    let id = AccessTokenId::new(id).map_err(|e| ApiError::bad_path(e.to_string()))?;
    service.revoke_access_token(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
