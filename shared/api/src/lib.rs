//! Hookline's HTTP API: one axum router, served by `hookline dev` locally and by the API Lambda
//! in production, so both answer alike. Handlers parse at the edge, call one core operation and
//! render the result; errors and the OpenAPI document (`/v1/openapi.json`) come from one place.

mod auth;
mod error;
mod extract;
mod idempotency;
mod routes;
mod views;

pub use error::ApiError;
pub use routes::{MAX_BODY_BYTES, openapi, router};

use hookline_core::Hookline;

#[derive(Clone)]
pub struct ApiState {
    pub hookline: Hookline,
    /// The admin API key; requests carry it as `Authorization: Bearer <key>`.
    pub admin_key: String,
}
