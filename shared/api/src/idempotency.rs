//! `Idempotency-Key` on creating routes: the same key and body within 24 hours replay the first
//! response and create nothing; another body is refused. The claim is one atomic store write, so
//! of concurrent duplicates exactly one runs while the others wait; keys are per caller and route.

use crate::ApiState;
use crate::error::ApiError;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hookline_core::ErrorCode;
use hookline_core::access::Principal;
use hookline_core::ports::Claim;
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const HEADER: &str = "idempotency-key";
const TTL: Duration = Duration::from_secs(24 * 3600);
/// A claim never completed for this long belongs to a request that died; it can be taken over.
const STALE_AFTER: Duration = Duration::from_secs(60);
/// How long a duplicate waits for the first request's response.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(5);

fn scoped_key(principal: &Principal, route: &str, key: &str) -> String {
    let who = match principal {
        Principal::Admin => "admin".to_string(),
        Principal::Tenant(t) => format!("tenant:{t}"),
    };
    format!("{who} {route} {key}")
}

fn replay(status: u16, body: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    let mut resp = (status, Json(value)).into_response();
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}

/// Runs `op` at most once per idempotency key (when the request carries one).
pub async fn run<F, Fut>(
    state: &ApiState,
    principal: &Principal,
    headers: &HeaderMap,
    route: &str,
    raw_body: &[u8],
    op: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let Some(key) = headers.get(HEADER) else {
        return match op().await {
            Ok((status, body)) => (status, Json(body)).into_response(),
            Err(e) => e.into_response(),
        };
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 => k,
        _ => {
            return ApiError::bad_request(
                ErrorCode::InvalidIdempotencyKey,
                "`Idempotency-Key` must be 1-255 printable ASCII characters",
            )
            .into_response();
        }
    };
    let store = &state.hookline.store;
    let scoped = scoped_key(principal, route, key);
    let hash = hex::encode(Sha256::digest(raw_body));
    let deadline = std::time::Instant::now() + WAIT_FOR_FIRST;
    loop {
        let now = state.hookline.clock.now();
        let claim = store
            .claim_idempotency(&scoped, &hash, now, now.minus(STALE_AFTER), now.plus(TTL))
            .await;
        match claim {
            Err(e) => return ApiError::from(e).into_response(),
            Ok(Claim::Claimed) => break,
            Ok(Claim::Existing(rec)) if rec.request_hash != hash => {
                return ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::IdempotencyKeyReused,
                    "this `Idempotency-Key` was used with a different request body",
                )
                .into_response();
            }
            Ok(Claim::Existing(rec)) => match rec.response {
                Some((status, body)) => return replay(status, &body),
                None if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                None => {
                    return ApiError::new(
                        StatusCode::CONFLICT,
                        ErrorCode::IdempotencyInProgress,
                        "a request with this `Idempotency-Key` is still being processed; retry shortly",
                    )
                    .into_response();
                }
            },
        }
    }
    match op().await {
        Ok((status, body)) => {
            if let Err(e) = store
                .complete_idempotency(&scoped, status.as_u16(), &body.to_string())
                .await
            {
                tracing::error!(error = %e, "could not record an idempotent response");
            }
            (status, Json(body)).into_response()
        }
        Err(e) => {
            // Nothing was created: free the key so a corrected request can use it.
            let _ = store.release_idempotency(&scoped).await;
            e.into_response()
        }
    }
}
