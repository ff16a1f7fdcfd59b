//! Routes, one block per resource: events, subscriptions, deliveries, API keys, health. Each
//! handler carries its OpenAPI description, and the router and the spec are built together
//! from the same list, so a route cannot be served without being documented.

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::idempotency;
use crate::views::*;
use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hookline_core::clock::Timestamp;
use hookline_core::delivery::{Delivery, DeliveryStatus};
use hookline_core::event::{Event, NewEvent};
use hookline_core::service::{AttemptReport, DeliveryFilter, PageRequest, RecoverReport};
use hookline_core::subscription::{NewSubscription, SubscriptionPatch};
use serde::Deserialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest request body accepted (events included): 256 KiB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hookline API",
        description = "Webhook delivery: events in, signed and retried POSTs out. Every `/v1` route needs `Authorization: Bearer <key>`: the admin key acts for every tenant, a tenant key for its own tenant only (another tenant's resources are 404).",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "events", description = "Producers send events"),
        (name = "subscriptions", description = "Endpoints, their event choice, scope and signing"),
        (name = "deliveries", description = "The delivery log and replays"),
        (name = "api-keys", description = "Tenant API keys (admin key only)"),
        (name = "health")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(create_event))
        .routes(routes!(get_event))
        .routes(routes!(event_deliveries))
        .routes(routes!(list_subscriptions, create_subscription))
        .routes(routes!(
            get_subscription,
            update_subscription,
            delete_subscription
        ))
        .routes(routes!(subscription_deliveries))
        .routes(routes!(test_subscription))
        .routes(routes!(rotate_secret))
        .routes(routes!(recover))
        .routes(routes!(get_delivery))
        .routes(routes!(retry_delivery))
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

pub fn router(state: ApiState) -> axum::Router {
    let (router, spec) = routes().split_for_parts();
    let spec = std::sync::Arc::new(spec);
    router
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let spec = spec.clone();
                async move { Json(spec.as_ref().clone()) }
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

fn json<T: serde::Serialize>(
    status: StatusCode,
    v: T,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    Ok((
        status,
        serde_json::to_value(v).expect("responses serialize"),
    ))
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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeliveryListQuery {
    /// Only deliveries with this status.
    status: Option<DeliveryStatus>,
    /// Only deliveries created at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<Timestamp>,
    /// Only deliveries created before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<Timestamp>,
    cursor: Option<String>,
    /// 1-250, default 50.
    limit: Option<usize>,
}

impl DeliveryListQuery {
    fn split(self) -> (DeliveryFilter, PageRequest) {
        (
            DeliveryFilter {
                status: self.status,
                since: self.since,
                until: self.until,
            },
            PageRequest {
                cursor: self.cursor,
                limit: self.limit,
            },
        )
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ApiKeyListQuery {
    tenant_id: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// Liveness; needs no key.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Accept an event for delivery to every matching subscription of its tenant.
#[utoipa::path(post, path = "/v1/events", tag = "events", request_body = NewEvent,
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key and body within 24 h: the first response, nothing created")),
    responses(
        (status = 202, body = Accepted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_event(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: JsonBody<NewEvent>,
) -> Response {
    idempotency::run(
        &s,
        &caller,
        &headers,
        "POST /v1/events",
        &body.raw,
        || async {
            let event = s.hookline.ingest(&caller, body.value).await?;
            json(StatusCode::ACCEPTED, Accepted { id: event.id })
        },
    )
    .await
}

/// One event as stored.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events",
    params(("id" = String, Path, description = "Event id")),
    responses((status = 200, body = Event), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn get_event(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Event>, ApiError> {
    Ok(Json(s.hookline.get_event(&caller, &id).await?))
}

/// The event's deliveries, each with its attempts.
#[utoipa::path(get, path = "/v1/events/{id}/deliveries", tag = "deliveries",
    params(("id" = String, Path, description = "Event id"), DeliveryListQuery),
    responses((status = 200, body = DeliveryPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn event_deliveries(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<DeliveryListQuery>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let (filter, page) = q.split();
    let page = s
        .hookline
        .event_deliveries(&caller, &id, &filter, &page)
        .await?;
    Ok(Json(DeliveryPage {
        data: page.data,
        next_cursor: page.next_cursor,
    }))
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
    idempotency::run(
        &s,
        &caller,
        &headers,
        "POST /v1/subscriptions",
        &body.raw,
        || async {
            let sub = s.hookline.create_subscription(&caller, body.value).await?;
            json(StatusCode::CREATED, SubscriptionView::of(&sub, true))
        },
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
    let sub = s.hookline.get_subscription(&caller, &id).await?;
    Ok(Json(SubscriptionView::of(&sub, false)))
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
    s.hookline.delete_subscription(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The subscription's deliveries, each with its attempts.
#[utoipa::path(get, path = "/v1/subscriptions/{id}/deliveries", tag = "deliveries",
    params(("id" = String, Path, description = "Subscription id"), DeliveryListQuery),
    responses((status = 200, body = DeliveryPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn subscription_deliveries(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<DeliveryListQuery>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let (filter, page) = q.split();
    let page = s
        .hookline
        .subscription_deliveries(&caller, &id, &filter, &page)
        .await?;
    Ok(Json(DeliveryPage {
        data: page.data,
        next_cursor: page.next_cursor,
    }))
}

/// Send a signed `webhook.test` event to this endpoint now and report the attempt. Logged as a
/// delivery; never retried.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/test", tag = "subscriptions",
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = AttemptReport), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn test_subscription(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<AttemptReport>, ApiError> {
    Ok(Json(s.hookline.send_test_event(&caller, &id).await?))
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
    let sub = s
        .hookline
        .rotate_secret(&caller, &id, body.value.grace_period_secs)
        .await?;
    Ok(Json(SubscriptionView::of(&sub, true)))
}

/// Re-queue every failed delivery of this subscription created in the window (at most 1000 per
/// call; `more` says whether others remain). Each gets a new round on the full retry schedule.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/recover", tag = "deliveries", request_body = Recover,
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 202, body = RecoverReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("api_key" = [])))]
async fn recover(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: JsonBody<Recover>,
) -> Result<(StatusCode, Json<RecoverReport>), ApiError> {
    let r = body.value;
    let report = s.hookline.recover(&caller, &id, r.since, r.until).await?;
    Ok((StatusCode::ACCEPTED, Json(report)))
}

/// One delivery with its attempts.
#[utoipa::path(get, path = "/v1/deliveries/{id}", tag = "deliveries",
    params(("id" = String, Path, description = "Delivery id")),
    responses((status = 200, body = Delivery), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn get_delivery(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Delivery>, ApiError> {
    Ok(Json(s.hookline.get_delivery(&caller, &id).await?))
}

/// Re-send one delivery now: a new attempt on the same delivery, with the same `webhook-id`.
#[utoipa::path(post, path = "/v1/deliveries/{id}/retry", tag = "deliveries",
    params(("id" = String, Path, description = "Delivery id")),
    responses((status = 200, body = AttemptReport), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn retry_delivery(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<AttemptReport>, ApiError> {
    Ok(Json(s.hookline.retry_delivery(&caller, &id).await?))
}

/// Issue a tenant API key (admin key only). The key is in the response, shown only this once.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = NewApiKey,
    responses((status = 201, body = ApiKeyView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_api_key(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    body: JsonBody<NewApiKey>,
) -> Result<(StatusCode, Json<ApiKeyView>), ApiError> {
    let NewApiKey { tenant_id, name } = body.value;
    let (record, key) = s.hookline.create_api_key(&caller, tenant_id, name).await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyView::of(&record, Some(key))),
    ))
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
    s.hookline.revoke_api_key(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
