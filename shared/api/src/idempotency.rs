//! `Idempotency-Key` on creating routes: the same key with the same body within 24 hours answers
//! the first response and creates nothing; the same key with another body is refused. The core
//! stores the response in the same write as what the request creates (see
//! `hookline_core::service::idempotency`), so there is nothing to wait for: a duplicate racing
//! the first request, or a retry after a crash, is answered at once.

use crate::error::ApiError;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hookline_core::ErrorCode;
use hookline_core::access::Principal;
use hookline_core::service::{Accepted, Keyed};
use std::future::Future;

pub const HEADER: &str = "idempotency-key";

/// How a created `T` is answered: status and JSON body. The same function renders the first
/// response and the one stored for replays, so the two cannot differ.
pub type Render<T> = dyn Fn(&T) -> (u16, String) + Send + Sync;

/// Whether `key` is a valid `Idempotency-Key`: 1-255 printable ASCII characters.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// The request's key, if it has one.
fn key_of(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(key) = headers.get(HEADER) else {
        return Ok(None);
    };
    match key.to_str() {
        Ok(k) if valid_key(k) => Ok(Some(k)),
        _ => Err(ApiError::bad_request(
            ErrorCode::InvalidIdempotencyKey,
            "`Idempotency-Key` must be 1-255 printable ASCII characters",
        )),
    }
}

/// 422: the key was used before with another request body.
pub fn key_reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::IdempotencyKeyReused,
        "this `Idempotency-Key` was used with a different request body",
    )
}

fn json_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Runs a create `op` with the request's key (if any) and answers it: the new resource
/// rendered, or the key's earlier response replayed (`Idempotent-Replayed: true`), or 422 when
/// the key was used with another body.
pub async fn create<'r, T, F, Fut>(
    principal: &Principal,
    headers: &HeaderMap,
    route: &str,
    raw_body: &[u8],
    render: &'r Render<T>,
    op: F,
) -> Response
where
    F: FnOnce(Option<Keyed<'r, T>>) -> Fut,
    Fut: Future<Output = Result<Accepted<T>, hookline_core::Error>>,
{
    let key = match key_of(headers) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let keyed = key.map(|k| Keyed::new(principal, route, k, raw_body, render));
    let request_hash = keyed.as_ref().map(|k| k.request_hash.clone());
    match op(keyed).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(Accepted::New(created)) => {
            if request_hash.is_some() {
                crash_point_after_keyed_create();
            }
            let (status, body) = render(&created);
            json_response(status, body)
        }
        Ok(Accepted::Replayed(earlier)) if Some(&earlier.request_hash) != request_hash.as_ref() => {
            key_reused().into_response()
        }
        Ok(Accepted::Replayed(earlier)) => {
            let mut response = json_response(earlier.status, earlier.body);
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
    }
}

/// For the crash tests only: with `HOOKLINE_TEST_CRASH_AFTER_KEYED_CREATE=1` the process aborts
/// right after a keyed create is stored and before it is answered, the worst moment for a
/// producer (its connection breaks, and it retries with the same key).
fn crash_point_after_keyed_create() {
    static ARMED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ARMED.get_or_init(|| {
        std::env::var("HOOKLINE_TEST_CRASH_AFTER_KEYED_CREATE").is_ok_and(|v| v == "1")
    }) {
        std::process::abort();
    }
}
