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

/// A JSON body: at most the router's body limit, a JSON object, and matching `T` exactly
/// (unknown fields are refused by `T`). The body is JSON whatever the `Content-Type` says, so a
/// plain `curl -d` works. `raw` keeps the bytes (idempotency compares them). An empty body (no
/// bytes at all) is read as `{}`, so routes whose fields are all optional need none; a body of
/// only whitespace is not JSON and is refused like any other non-object. Anything but an object is
/// refused here, for every route at once: serde's derived structs would otherwise accept a
/// positional array (`["tenant-a", "https://..."]`) as the struct's fields in order.
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
        let text: &[u8] = if raw.is_empty() { b"{}" } else { &raw };
        if !starts_an_object(text) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRequest,
                "the body must be a JSON object (`{...}`), not an array, a string, a number, \
                 a boolean or null",
            ));
        }
        let value = serde_json::from_slice(text).map_err(|e| json_error(&e))?;
        Ok(JsonBody { value, raw })
    }
}

/// Whether a body's first character, after whitespace, opens an object: what every JSON body of
/// this API is. Malformed JSON after the brace is `invalid_json`, from the parser.
fn starts_an_object(text: &[u8]) -> bool {
    text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The body of a route that takes none: nothing, or `{}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_object_opens_a_body() {
        for object in [&b"{}"[..], b"  \n{\"a\":1}", b"{not json"] {
            assert!(starts_an_object(object), "{object:?}");
        }
        for other in [&b"[]"[..], b"\"x\"", b"1", b"null", b"true", b" [{}]", b""] {
            assert!(!starts_an_object(other), "{other:?}");
        }
    }
}
