//! Events: producers send them (idempotently, with `Idempotency-Key`) and read them back. Their
//! deliveries are listed with the rest of the delivery log, in `deliveries.rs`.

use super::json_text;
use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::idempotency;
use crate::views::Accepted;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use hookline_core::event::{Event, NewEvent};
use hookline_core::ids::EventId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(create_event))
        .routes(routes!(get_event))
}

/// Accept an event for delivery to every matching subscription of its tenant.
#[utoipa::path(post, path = "/v1/events", tag = "events", request_body = NewEvent,
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key and body within 24 h: the first response, nothing created")),
    responses(
        (status = 202, body = Accepted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_event(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: JsonBody<NewEvent>,
) -> Response {
    let render = |e: &Event| (202, json_text(&Accepted { id: e.id.clone() }));
    idempotency::create(
        &caller,
        &headers,
        "POST /v1/events",
        &body.raw,
        &render,
        |keyed| s.hookline.ingest(&caller, body.value, keyed),
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
    let id = EventId::from_path(&id)?;
    Ok(Json(s.hookline.get_event(&caller, &id).await?))
}
