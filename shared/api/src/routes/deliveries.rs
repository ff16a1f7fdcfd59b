//! The delivery log: an event's or a subscription's deliveries, one delivery, a manual retry
//! and the recovery of a subscription's failed deliveries. Every route here is tagged
//! `deliveries`, whichever resource its path starts from.

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, NoFields, QueryParams};
use crate::views::{DeliveryPage, DeliveryView, SentRequestView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hookline_core::clock::Timestamp;
use hookline_core::delivery::DeliveryStatus;
use hookline_core::ids::{DeliveryId, EventId, SubscriptionId};
use hookline_core::service::{AttemptReport, DeliveryFilter, PageRequest, RecoverReport};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(event_deliveries))
        .routes(routes!(subscription_deliveries))
        .routes(routes!(recover))
        .routes(routes!(get_delivery))
        .routes(routes!(retry_delivery))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeliveryListQuery {
    /// Only deliveries with this status.
    status: Option<DeliveryStatus>,
    /// Only deliveries of events accepted at or after this time (RFC 3339); a delivery is
    /// created when its event is fanned out, within moments of its acceptance.
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<Timestamp>,
    /// Only deliveries of events accepted before this time (RFC 3339).
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recover {
    /// Re-queue failed deliveries of events accepted at or after this time.
    pub since: Timestamp,
    /// ...and before this time (default: now).
    pub until: Option<Timestamp>,
    /// The `next_cursor` of the previous call: go on after the deliveries it re-queued.
    #[serde(default)]
    pub after: Option<String>,
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
    let id = EventId::from_path(&id)?;
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
    let id = SubscriptionId::from_path(&id)?;
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

/// Re-queue every failed delivery of this subscription whose event was accepted in the window
/// (at most 1000 per call, oldest first; `more` says whether others remain, and `next_cursor`,
/// passed as `after`, goes on after this call's). Each gets a new round on the full retry
/// schedule.
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
    let id = SubscriptionId::from_path(&id)?;
    let r = body.value;
    let report = s
        .hookline
        .recover(&caller, &id, (r.since, r.until), r.after.as_deref())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(report)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeliveryQuery {
    /// `request`: add the request the delivery's attempts send (method, URL, headers with the
    /// signatures and credential redacted, body).
    #[param(inline)]
    include: Option<Include>,
}

#[derive(Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Include {
    Request,
}

/// One delivery with its attempts; with `include=request`, also what was sent. The request is
/// rendered again from the stored event and the subscription's settings rather than stored with
/// each delivery: events never change, and storing 1 KB more per delivery would make each of
/// its writes (create, claim, record) dearer; the settings shown are the subscription's now.
#[utoipa::path(get, path = "/v1/deliveries/{id}", tag = "deliveries",
    params(("id" = String, Path, description = "Delivery id"), DeliveryQuery),
    responses((status = 200, body = DeliveryView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn get_delivery(
    State(s): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<DeliveryQuery>,
) -> Result<Json<DeliveryView>, ApiError> {
    let id = DeliveryId::from_path(&id)?;
    let (delivery, request) = match q.include {
        Some(Include::Request) => {
            let (delivery, request) = s.hookline.delivery_with_request(&caller, &id).await?;
            (delivery, request.as_ref().map(SentRequestView::of))
        }
        None => (s.hookline.get_delivery(&caller, &id).await?, None),
    };
    let parked = s.hookline.parking(&delivery).await?;
    Ok(Json(DeliveryView {
        delivery,
        request,
        parked,
    }))
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
    _none: JsonBody<NoFields>,
) -> Result<Json<AttemptReport>, ApiError> {
    let id = DeliveryId::from_path(&id)?;
    Ok(Json(s.hookline.retry_delivery(&caller, &id).await?))
}
