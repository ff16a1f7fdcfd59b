//! Event types: declare, list, read, change, delete, and import a platform's catalogue. The
//! list is what a dashboard shows a tenant picking events: each type's description, schema,
//! payload versions and whether it is deprecated.

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hookline_core::event_type::{Catalogue, EventType, EventTypePatch, NewEventType};
use hookline_core::service::ImportReport;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_event_types, create_event_type))
        .routes(routes!(
            get_event_type,
            update_event_type,
            delete_event_type
        ))
        .routes(routes!(import_catalogue))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ScopeQuery {
    /// The tenant whose view (its own types over the deployment's) or whose own type is meant;
    /// a tenant key always means its own. Absent with the admin key: the deployment's.
    tenant_id: Option<String>,
}

/// Every event type, by name.
#[derive(Serialize, ToSchema)]
struct EventTypeList {
    data: Vec<EventType>,
}

/// Declare an event type. With a `schema`, events of this type whose `data` does not match it
/// are refused (422 `schema_validation_failed`).
#[utoipa::path(post, path = "/v1/event-types", tag = "event-types", request_body = NewEventType,
    responses(
        (status = 201, body = EventType), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_event_type(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    body: JsonBody<NewEventType>,
) -> Result<(StatusCode, Json<EventType>), ApiError> {
    let t = s.hookline.create_event_type(&caller, body.value).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// The event types a tenant's events are checked against: its own and the deployment's, by
/// name.
#[utoipa::path(get, path = "/v1/event-types", tag = "event-types", params(ScopeQuery),
    responses((status = 200, body = EventTypeList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = [])))]
async fn list_event_types(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    QueryParams(q): QueryParams<ScopeQuery>,
) -> Result<Json<EventTypeList>, ApiError> {
    let data = s
        .hookline
        .list_event_types(&caller, q.tenant_id.as_deref())
        .await?;
    Ok(Json(EventTypeList { data }))
}

/// One event type as a tenant's events see it.
#[utoipa::path(get, path = "/v1/event-types/{name}", tag = "event-types",
    params(("name" = String, Path, description = "Event type name"), ScopeQuery),
    responses((status = 200, body = EventType), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn get_event_type(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
    QueryParams(q): QueryParams<ScopeQuery>,
) -> Result<Json<EventType>, ApiError> {
    let t = s
        .hookline
        .get_event_type(&caller, &name, q.tenant_id.as_deref())
        .await?;
    Ok(Json(t))
}

/// Change an event type: absent fields stay, `null` clears.
#[utoipa::path(patch, path = "/v1/event-types/{name}", tag = "event-types", request_body = EventTypePatch,
    params(("name" = String, Path, description = "Event type name"), ScopeQuery),
    responses((status = 200, body = EventType), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("api_key" = [])))]
async fn update_event_type(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
    QueryParams(q): QueryParams<ScopeQuery>,
    body: JsonBody<EventTypePatch>,
) -> Result<Json<EventType>, ApiError> {
    let t = s
        .hookline
        .update_event_type(&caller, &name, q.tenant_id, body.value)
        .await?;
    Ok(Json(t))
}

/// Delete an event type; events of that name are no longer checked.
#[utoipa::path(delete, path = "/v1/event-types/{name}", tag = "event-types",
    params(("name" = String, Path, description = "Event type name"), ScopeQuery),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn delete_event_type(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
    QueryParams(q): QueryParams<ScopeQuery>,
) -> Result<StatusCode, ApiError> {
    s.hookline
        .delete_event_type(&caller, &name, q.tenant_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Import a catalogue (`events/catalog/*.json`): declares each of its types, or changes it
/// where it differs. One bad entry refuses the whole import, and nothing is written.
#[utoipa::path(post, path = "/v1/event-types/import", tag = "event-types", request_body = Catalogue,
    responses((status = 200, body = ImportReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("api_key" = [])))]
async fn import_catalogue(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    body: JsonBody<Catalogue>,
) -> Result<Json<ImportReport>, ApiError> {
    Ok(Json(
        s.hookline.import_catalogue(&caller, body.value).await?,
    ))
}
