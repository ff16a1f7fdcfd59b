//! Tenant API keys: issued, listed and revoked with the admin key only. A key is shown once,
//! in the response that creates it; only its hash is stored.

use super::json_text;
use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::idempotency;
use crate::views::{ApiKeyPage, ApiKeyView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hookline_core::api_key::ApiKey;
use hookline_core::ids::ApiKeyId;
use hookline_core::service::PageRequest;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ApiKeyListQuery {
    tenant_id: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub tenant_id: String,
    pub name: Option<String>,
}

/// Issue a tenant API key (admin key only). The key is in the response, shown only this once.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = NewApiKey,
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key and body within 24 h: the first response, nothing created")),
    responses((status = 201, body = ApiKeyView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_api_key(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: JsonBody<NewApiKey>,
) -> Response {
    let render = |(record, key): &(ApiKey, String)| {
        (201, json_text(&ApiKeyView::of(record, Some(key.clone()))))
    };
    let NewApiKey { tenant_id, name } = body.value;
    idempotency::create(
        &caller,
        &headers,
        "POST /v1/api-keys",
        &body.raw,
        &render,
        |keyed| s.hookline.create_api_key(&caller, tenant_id, name, keyed),
    )
    .await
}

/// Tenant API keys, oldest first (admin key only). Keys themselves are never shown again.
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", params(ApiKeyListQuery),
    responses((status = 200, body = ApiKeyPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = [])))]
async fn list_api_keys(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    QueryParams(q): QueryParams<ApiKeyListQuery>,
) -> Result<Json<ApiKeyPage>, ApiError> {
    let page = PageRequest {
        cursor: q.cursor,
        limit: q.limit,
    };
    let page = s
        .hookline
        .list_api_keys(&caller, q.tenant_id.as_deref(), &page)
        .await?;
    let data = page.data.iter().map(|k| ApiKeyView::of(k, None)).collect();
    Ok(Json(ApiKeyPage {
        data,
        next_cursor: page.next_cursor,
    }))
}

/// Revoke a tenant API key (admin key only); it stops working at once.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "API key id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn revoke_api_key(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // A tenant key is refused before the id is read, as it is for a well-formed id.
    caller.require_admin()?;
    let id = ApiKeyId::from_path(&id)?;
    s.hookline.revoke_api_key(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
