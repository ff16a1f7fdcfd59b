//! Subscriptions: create (idempotently), list, read, change, delete, send a test event and
//! rotate the signing secret. A secret appears only in the responses that create it.

use super::json_text;
use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::idempotency;
use crate::views::{SubscriptionPage, SubscriptionView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hookline_core::ids::SubscriptionId;
use hookline_core::service::{AttemptReport, PageRequest, TestEvent};
use hookline_core::subscription::{NewSubscription, Subscription, SubscriptionPatch};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions, create_subscription))
        .routes(routes!(
            get_subscription,
            update_subscription,
            delete_subscription
        ))
        .routes(routes!(test_subscription))
        .routes(routes!(rotate_secret))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SubscriptionListQuery {
    /// Only this tenant's (a tenant key always sees only its own).
    tenant_id: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1-250, default 50.
    limit: Option<usize>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the old secret keeps signing: 0 to 604800 seconds (7 days); default 86400.
    pub grace_period_secs: Option<u64>,
}

/// Create a subscription. The response carries its signing secret, shown only this once.
#[utoipa::path(post, path = "/v1/subscriptions", tag = "subscriptions", request_body = NewSubscription,
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key and body within 24 h: the first response, nothing created")),
    responses(
        (status = 201, body = SubscriptionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_subscription(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: JsonBody<NewSubscription>,
) -> Response {
    let render = |sub: &Subscription| (201, json_text(&SubscriptionView::of(sub, true)));
    idempotency::create(
        &caller,
        &headers,
        "POST /v1/subscriptions",
        &body.raw,
        &render,
        |keyed| s.hookline.create_subscription(&caller, body.value, keyed),
    )
    .await
}

/// Subscriptions, oldest first.
#[utoipa::path(get, path = "/v1/subscriptions", tag = "subscriptions", params(SubscriptionListQuery),
    responses((status = 200, body = SubscriptionPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = [])))]
async fn list_subscriptions(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    QueryParams(q): QueryParams<SubscriptionListQuery>,
) -> Result<Json<SubscriptionPage>, ApiError> {
    let page = PageRequest {
        cursor: q.cursor,
        limit: q.limit,
    };
    let page = s
        .hookline
        .list_subscriptions(&caller, q.tenant_id.as_deref(), &page)
        .await?;
    let data = page
        .data
        .iter()
        .map(|sub| SubscriptionView::of(sub, false))
        .collect();
    Ok(Json(SubscriptionPage {
        data,
        next_cursor: page.next_cursor,
    }))
}

/// One subscription (never its secret).
#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "subscriptions",
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = SubscriptionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn get_subscription(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let id = SubscriptionId::from_path(&id)?;
    let sub = s.hookline.get_subscription(&caller, &id).await?;
    let mut view = SubscriptionView::of(&sub, false);
    view.health = Some(s.hookline.health_view(&sub.id).await?);
    Ok(Json(view))
}

/// Change a subscription: absent fields stay, `null` clears. `{"enabled": false}` pauses it.
#[utoipa::path(patch, path = "/v1/subscriptions/{id}", tag = "subscriptions", request_body = SubscriptionPatch,
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = SubscriptionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("api_key" = [])))]
async fn update_subscription(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: JsonBody<SubscriptionPatch>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let id = SubscriptionId::from_path(&id)?;
    let sub = s
        .hookline
        .update_subscription(&caller, &id, body.value)
        .await?;
    Ok(Json(SubscriptionView::of(&sub, false)))
}

/// Delete a subscription; its deliveries stay in the log.
#[utoipa::path(delete, path = "/v1/subscriptions/{id}", tag = "subscriptions",
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn delete_subscription(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = SubscriptionId::from_path(&id)?;
    s.hookline.delete_subscription(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a signed test event to this endpoint now and report the attempt: `webhook.test`, or an
/// event of one of its types with the given `data` or the type's schema example. Logged as a
/// delivery; never retried.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/test", tag = "subscriptions",
    request_body(content = TestEvent, description = "Optional"),
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = AttemptReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
async fn test_subscription(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: JsonBody<TestEvent>,
) -> Result<Json<AttemptReport>, ApiError> {
    let id = SubscriptionId::from_path(&id)?;
    let report = s.hookline.send_test_event(&caller, &id, body.value).await?;
    Ok(Json(report))
}

/// Replace the signing secret. The old secret keeps signing (a second `v1,` signature) for the
/// grace period. The new secret is in the response, shown only this once.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/rotate-secret", tag = "subscriptions", request_body(content = RotateSecret, description = "Optional"),
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = SubscriptionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("api_key" = [])))]
async fn rotate_secret(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: JsonBody<RotateSecret>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let id = SubscriptionId::from_path(&id)?;
    let sub = s
        .hookline
        .rotate_secret(&caller, &id, body.value.grace_period_secs)
        .await?;
    Ok(Json(SubscriptionView::of(&sub, true)))
}
