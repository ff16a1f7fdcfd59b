//! Events: producers send them (idempotently, with `Idempotency-Key`) and read them back. Their
//! deliveries are listed with the rest of the delivery log, in `deliveries.rs`.

use super::{MAX_BODY_BYTES, json_text};
use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::extract::JsonBody;
use crate::idempotency::{self, Render};
use crate::views::Accepted;
use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use hookline_core::access::Principal;
use hookline_core::event::{Event, NewEvent};
use hookline_core::ids::EventId;
use hookline_core::service::{Accepted as CoreAccepted, BatchItem, Keyed};
use hookline_core::{Error, ErrorCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    let batch = OpenApiRouter::new()
        .routes(routes!(create_event_batch))
        .layer(DefaultBodyLimit::max(MAX_BATCH_BODY_BYTES));
    OpenApiRouter::new()
        .routes(routes!(create_event))
        .routes(routes!(get_event))
        .merge(batch)
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

/// The body limit of `POST /v1/events/batch`: up to 100 events of about 10 KiB each.
pub const MAX_BATCH_BODY_BYTES: usize = 1024 * 1024;
/// The route under which the keys of batch items are scoped (they never match a key sent to
/// `POST /v1/events`, whose body is the whole request).
const BATCH_ROUTE: &str = "POST /v1/events/batch";

/// `POST /v1/events/batch` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventBatch {
    /// 1 to 100 events.
    #[schema(value_type = Vec<BatchEvent>)]
    events: Vec<serde_json::Value>,
}

/// One event of a batch: the fields of `POST /v1/events`, and its own `idempotency_key`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchEvent {
    /// Same key and event within 24 h: the first answer, nothing created. Scoped to the caller
    /// and to this route.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255, pattern = "^[ -~]+$")]
    idempotency_key: Option<String>,
    /// Implied by a tenant key; required with the admin key.
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(rename = "type")]
    event_type: String,
    #[schema(value_type = Object)]
    data: serde_json::Value,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

/// What each event of a batch got, in the order sent.
#[derive(Serialize, ToSchema)]
pub(crate) struct BatchAnswer {
    data: Vec<BatchResult>,
}

/// One event's answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct BatchResult {
    /// 202: stored, it will be delivered. With a replayed key, the first answer's status. 4xx or
    /// 5xx: refused, nothing stored (`error` says why); a 5xx item may be sent again.
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<EventId>,
    /// The item's key was used before with the same event: this is the first answer, and
    /// nothing was created.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    replayed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDetail>,
}

impl BatchResult {
    fn refused(e: ApiError) -> Self {
        BatchResult {
            status: e.status.as_u16(),
            id: None,
            replayed: false,
            error: Some(ErrorDetail {
                code: e.code,
                message: e.message,
                details: e.details,
            }),
        }
    }
}

/// Reads item `i` of a batch. What the OpenAPI schema says of an item (an object, known fields
/// of the right types, a well-formed key) is checked for the whole batch first, and a batch
/// that breaks it is refused whole, as any malformed request is; the rules beyond the schema
/// (event types, tenants, sizes, keys used before) are answered per item.
fn read_item<'r>(
    caller: &Principal,
    i: usize,
    value: serde_json::Value,
    render: &'r Render<Event>,
) -> Result<BatchItem<'r>, ApiError> {
    let refused = |code, message: String| {
        ApiError::bad_request(code, format!("event {i} of the batch: {message}"))
    };
    let serde_json::Value::Object(mut fields) = value else {
        return Err(refused(
            ErrorCode::InvalidRequest,
            "must be a JSON object".into(),
        ));
    };
    let item: BatchEvent = serde_json::from_value(serde_json::Value::Object(fields.clone()))
        .map_err(|e| refused(ErrorCode::InvalidRequest, e.to_string()))?;
    if item
        .idempotency_key
        .as_deref()
        .is_some_and(|k| !idempotency::valid_key(k))
    {
        return Err(refused(
            ErrorCode::InvalidIdempotencyKey,
            "`idempotency_key` must be 1-255 printable ASCII characters".into(),
        ));
    }
    if !item.data.is_object() {
        return Err(refused(
            ErrorCode::InvalidData,
            "`data` must be a JSON object".into(),
        ));
    }
    fields.remove("idempotency_key");
    let canonical = serde_json::to_vec(&fields).expect("JSON values serialize");
    if canonical.len() > MAX_BODY_BYTES {
        return Ok(Err(Error::too_large(format!(
            "an event of a batch is larger than {MAX_BODY_BYTES} bytes"
        ))));
    }
    let new = NewEvent {
        tenant_id: item.tenant_id,
        event_type: item.event_type,
        data: item.data,
        attributes: item.attributes,
    };
    let keyed = item
        .idempotency_key
        .map(|k| Keyed::new(caller, BATCH_ROUTE, &k, &canonical, render));
    Ok(Ok((new, keyed)))
}

/// Accept up to 100 events in one request, each answered on its own, in order. A batch whose
/// items do not match the schema is refused whole (400).
#[utoipa::path(post, path = "/v1/events/batch", tag = "events", request_body = EventBatch,
    responses(
        (status = 200, body = BatchAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_event_batch(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    body: JsonBody<EventBatch>,
) -> Result<Json<BatchAnswer>, ApiError> {
    let render = |e: &Event| (202, json_text(&Accepted { id: e.id.clone() }));
    let items = body
        .value
        .events
        .into_iter()
        .enumerate()
        .map(|(i, v)| read_item(&caller, i, v, &render))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let hashes: Vec<Option<String>> = items
        .iter()
        .map(|item| {
            let keyed = item.as_ref().ok().and_then(|(_, k)| k.as_ref());
            keyed.map(|k| k.request_hash.clone())
        })
        .collect();
    let answers = s.hookline.ingest_batch(&caller, items).await?;
    let data = answers
        .into_iter()
        .zip(hashes)
        .map(|(answer, hash)| match answer {
            Err(e) => BatchResult::refused(ApiError::from(e)),
            Ok(CoreAccepted::New(event)) => BatchResult {
                status: 202,
                id: Some(event.id),
                replayed: false,
                error: None,
            },
            Ok(CoreAccepted::Replayed(earlier)) if Some(&earlier.request_hash) != hash.as_ref() => {
                BatchResult::refused(idempotency::key_reused())
            }
            Ok(CoreAccepted::Replayed(earlier)) => BatchResult {
                status: earlier.status,
                id: serde_json::from_str::<Accepted>(&earlier.body)
                    .ok()
                    .map(|a| a.id),
                replayed: true,
                error: None,
            },
        })
        .collect();
    Ok(Json(BatchAnswer { data }))
}
