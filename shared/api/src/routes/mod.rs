//! The router and the OpenAPI document, built together from one list of per-resource routers
//! (events, subscriptions, deliveries, API keys, health), so a route cannot be served without
//! being documented. Each resource's file holds its handlers and the request types they read.

mod api_keys;
mod deliveries;
mod event_types;
mod events;
mod health;
mod subscriptions;

use crate::ApiState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use hookline_core::ErrorCode;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

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
        (name = "event-types", description = "The catalogue of event types: descriptions, JSON Schemas for `data`, payload versions"),
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
        .merge(health::routes())
        .merge(events::routes())
        .merge(event_types::routes())
        .merge(subscriptions::routes())
        .merge(deliveries::routes())
        .merge(api_keys::routes())
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
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::RouteNotFound,
        "no such route",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
}

/// A created resource's view as JSON text: what a creating route answers and what its
/// `Idempotency-Key` replays.
fn json_text<T: serde::Serialize>(view: &T) -> String {
    serde_json::to_string(view).expect("responses serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_error_code_as_the_values_of_error_code() {
        let spec = serde_json::to_value(openapi()).unwrap();
        let schemas = &spec["components"]["schemas"];
        assert_eq!(
            schemas["ErrorDetail"]["properties"]["code"]["$ref"],
            "#/components/schemas/ErrorCode"
        );
        let listed: Vec<&str> = schemas["ErrorCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, all);
    }

    #[test]
    fn every_resource_router_lands_in_the_one_document() {
        let spec = serde_json::to_value(openapi()).unwrap();
        let operations: usize = spec["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(operations, 25);
        assert_eq!(spec["info"]["title"], "Hookline API");
        assert!(spec["components"]["securitySchemes"]["api_key"].is_object());
    }
}
