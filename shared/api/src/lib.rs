//! Hookline's HTTP API: one axum router, served by `hookline dev` locally and by the API Lambda
//! in production. Handlers parse and validate at the edge, call one core operation, and render
//! the result; every error leaves as `{"error": {"code", "message"}}` from one place.

mod error;
mod extract;
mod routes;

pub use error::ApiError;
pub use routes::{MAX_BODY_BYTES, router};

use hookline_core::Hookline;

#[derive(Clone)]
pub struct ApiState {
    pub hookline: Hookline,
    /// The admin API key; requests carry it as `Authorization: Bearer <key>`.
    pub admin_key: String,
}
