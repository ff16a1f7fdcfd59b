//! Extractors that answer bad input in Hookline's error format instead of axum's plain text,
//! so a client parses one error shape whatever part of the request was wrong.

use crate::error::ApiError;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::Bytes;
use hookline_core::ErrorCode;
use serde::de::DeserializeOwned;

/// A JSON body: at most the router's body limit, syntactically valid, and matching `T` exactly
/// (unknown fields are refused by `T`). The body is JSON whatever the `Content-Type` says, so a
/// plain `curl -d` works. `raw` keeps the bytes (idempotency compares them). An empty body is
/// read as `{}`, so routes whose fields are all optional need none.
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let raw = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(_)
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::payload_too_large(format!(
                    "the request body is larger than {} bytes",
                    crate::MAX_BODY_BYTES
                ))
            }
            other => ApiError::bad_request(ErrorCode::InvalidBody, other.body_text()),
        })?;
        let text: &[u8] = if raw.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &raw
        };
        let value = serde_json::from_slice(text).map_err(|e| json_error(&e))?;
        Ok(JsonBody { value, raw })
    }
}

fn json_error(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::bad_request(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {e}"),
        ),
        Category::Data => ApiError::bad_request(ErrorCode::InvalidRequest, e.to_string()),
    }
}

/// Query parameters, refused in Hookline's error format.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| QueryParams(v))
            .map_err(|e| {
                ApiError::bad_request(
                    ErrorCode::InvalidQuery,
                    format!("invalid query: {}", e.body_text()),
                )
            })
    }
}
