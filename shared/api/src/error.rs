//! The one mapping from core errors to HTTP responses, and the only place an [`ApiError`] is
//! built field by field: everything else goes through its constructors, so every error leaves
//! with a code from [`ErrorCode`] and the same `{"error": {"code", "message"}}` shape.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookline_core::error::Violation;
use hookline_core::{Error, ErrorCode, ErrorKind};
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<Violation>,
}

/// Every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `invalid_url`.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// Where: one entry per problem (JSON pointer and message), for errors that have them
    /// (`schema_validation_failed`); at most 10.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Violation>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// 400: the request cannot be read (body, JSON, query or header).
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no API key, or not a valid one.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// 413: the body is over the router's limit.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            message,
        )
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                details: self.details.clone(),
            },
        })
        .expect("error bodies serialize")
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match e.kind {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if e.kind == ErrorKind::Internal {
            // The cause is for the logs; the caller learns only that a retry may work.
            tracing::error!(error = %e.message, "internal error answered with 500");
            return ApiError::new(status, e.code, "internal error; the request may be retried");
        }
        ApiError {
            details: e.details,
            ..ApiError::new(status, e.code, e.message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_leaves_as_its_code_and_message() {
        let e = ApiError::unauthorized("no key");
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            e.body(),
            serde_json::json!({"error": {"code": "unauthorized", "message": "no key"}})
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = ApiError::from(Error::internal("disk on fire"));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(!e.message.contains("disk"));
    }

    #[test]
    fn core_errors_keep_their_code_and_message() {
        let e = ApiError::from(Error::not_found("subscription", "x"));
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.code, ErrorCode::NotFound);
        assert_eq!(e.message, "subscription x was not found");
    }
}
