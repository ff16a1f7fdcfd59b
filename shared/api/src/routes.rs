//! Routes, one block per resource: events, subscriptions, deliveries, health.

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hookline_core::delivery::DeliveryStatus;
use hookline_core::event::NewEvent;
use hookline_core::service::PageRequest;
use hookline_core::subscription::{NewSubscription, Subscription, SubscriptionPatch};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

/// Largest request body accepted (events included): 256 KiB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/v1/events", axum::routing::post(create_event))
        .route("/v1/events/{id}", get(get_event))
        .route("/v1/events/{id}/deliveries", get(event_deliveries))
        .route(
            "/v1/subscriptions",
            get(list_subscriptions).post(create_subscription),
        )
        .route(
            "/v1/subscriptions/{id}",
            get(get_subscription)
                .patch(update_subscription)
                .delete(delete_subscription),
        )
        .route(
            "/v1/subscriptions/{id}/deliveries",
            get(subscription_deliveries),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_admin_key,
        ));
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .merge(v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn require_admin_key(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(key) if bool::from(key.as_bytes().ct_eq(state.admin_key.as_bytes())) => {
            next.run(req).await
        }
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the API key is not valid",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the API key as `Authorization: Bearer <key>`",
        )
        .into_response(),
    }
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

/// A subscription as the API shows it: everything but the secret, which is shown once.
fn subscription_view(sub: &Subscription, with_secret: bool) -> Value {
    let mut v = serde_json::to_value(sub).expect("subscriptions serialize");
    if !with_secret && let Some(obj) = v.as_object_mut() {
        obj.remove("secret");
    }
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    tenant_id: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryListQuery {
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

impl DeliveryListQuery {
    fn split(self) -> Result<(Option<DeliveryStatus>, PageRequest), ApiError> {
        let status = match self.status.as_deref() {
            None => None,
            Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_status",
                    "`status` must be pending, succeeded or failed",
                )
            })?),
        };
        Ok((
            status,
            PageRequest {
                cursor: self.cursor,
                limit: self.limit,
            },
        ))
    }
}

async fn create_event(
    State(s): State<ApiState>,
    JsonBody(new): JsonBody<NewEvent>,
) -> Result<impl IntoResponse, ApiError> {
    let event = s.hookline.ingest(new).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"id": event.id}))))
}

async fn get_event(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let event = s.hookline.get_event(&id).await?;
    Ok(Json(serde_json::to_value(event).expect("events serialize")))
}

async fn event_deliveries(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<DeliveryListQuery>,
) -> Result<Json<Value>, ApiError> {
    let (status, page) = q.split()?;
    let page = s.hookline.event_deliveries(&id, status, &page).await?;
    Ok(Json(serde_json::to_value(page).expect("pages serialize")))
}

async fn subscription_deliveries(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<DeliveryListQuery>,
) -> Result<Json<Value>, ApiError> {
    let (status, page) = q.split()?;
    let page = s
        .hookline
        .subscription_deliveries(&id, status, &page)
        .await?;
    Ok(Json(serde_json::to_value(page).expect("pages serialize")))
}

async fn create_subscription(
    State(s): State<ApiState>,
    JsonBody(new): JsonBody<NewSubscription>,
) -> Result<impl IntoResponse, ApiError> {
    let sub = s.hookline.create_subscription(new).await?;
    Ok((StatusCode::CREATED, Json(subscription_view(&sub, true))))
}

async fn list_subscriptions(
    State(s): State<ApiState>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest {
        cursor: q.cursor,
        limit: q.limit,
    };
    let page = s
        .hookline
        .list_subscriptions(q.tenant_id.as_deref(), &page)
        .await?;
    let data: Vec<Value> = page
        .data
        .iter()
        .map(|sub| subscription_view(sub, false))
        .collect();
    Ok(Json(json!({"data": data, "next_cursor": page.next_cursor})))
}

async fn get_subscription(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let sub = s.hookline.get_subscription(&id).await?;
    Ok(Json(subscription_view(&sub, false)))
}

async fn update_subscription(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<SubscriptionPatch>,
) -> Result<Json<Value>, ApiError> {
    let sub = s.hookline.update_subscription(&id, patch).await?;
    Ok(Json(subscription_view(&sub, false)))
}

async fn delete_subscription(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.hookline.delete_subscription(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
