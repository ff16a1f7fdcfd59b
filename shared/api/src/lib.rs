//! Hookline's HTTP API: one axum router, served by `hookline dev` locally and by the API Lambda
//! in production. Handlers parse and validate at the edge, call one core operation, and render
//! the result; every error leaves as `{"error": {"code", "message"}}` from one place. The
//! OpenAPI document is generated from the same handlers and served at `/v1/openapi.json`.

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
