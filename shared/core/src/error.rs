//! One error type for everything the core refuses or fails at. Each variant has a stable machine
//! code and a human message; the HTTP layer maps the kind to a status in one place.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or breaks a rule (HTTP 400/422).
    Invalid,
    /// Authentication is missing or wrong (HTTP 401).
    Unauthorized,
    /// The caller may not use this route at all (HTTP 403). Never used for another tenant's
    /// resources, which are `NotFound`.
    Forbidden,
    /// The resource does not exist, or is not visible to the caller (HTTP 404).
    NotFound,
    /// The request conflicts with the current state (HTTP 409).
    Conflict,
    /// The request is well-formed but its content breaks a declared contract, such as an event
    /// whose `data` fails its type's JSON Schema (HTTP 422).
    Unprocessable,
    /// The body is larger than allowed (HTTP 413).
    TooLarge,
    /// Storage or queue failure: nothing the caller did wrong (HTTP 500/503).
    Internal,
}

/// Defines [`ErrorCode`]: one variant per stable code, its string, and the list of all.
macro_rules! error_codes {
    ($($variant:ident => $code:literal,)*) => {
        /// Every machine-readable code Hookline answers with, in one place. The OpenAPI document
        /// lists them as the values of `error.code`; they never change meaning once released.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    AdminOnly => "admin_only",
    AttemptInProgress => "attempt_in_progress",
    AttemptLimitReached => "attempt_limit_reached",
    DestinationNotAllowed => "destination_not_allowed",
    IdempotencyKeyReused => "idempotency_key_reused",
    Internal => "internal",
    InvalidAttribute => "invalid_attribute",
    InvalidBatch => "invalid_batch",
    CredentialHeader => "credential_header",
    InvalidAuth => "invalid_auth",
    InvalidBody => "invalid_body",
    InvalidCursor => "invalid_cursor",
    InvalidData => "invalid_data",
    InvalidEventType => "invalid_event_type",
    InvalidEventTypes => "invalid_event_types",
    InvalidFilter => "invalid_filter",
    InvalidGracePeriod => "invalid_grace_period",
    InvalidHeader => "invalid_header",
    InvalidIdempotencyKey => "invalid_idempotency_key",
    InvalidJson => "invalid_json",
    InvalidLimit => "invalid_limit",
    InvalidQuery => "invalid_query",
    InvalidRequest => "invalid_request",
    InvalidRetrySchedule => "invalid_retry_schedule",
    InvalidMaxAttempts => "invalid_max_attempts",
    InvalidRateLimit => "invalid_rate_limit",
    InvalidPayloadVersion => "invalid_payload_version",
    InvalidSchema => "invalid_schema",
    EventTypeExists => "event_type_exists",
    EditConflict => "edit_conflict",
    SchemaValidationFailed => "schema_validation_failed",
    UnknownEventType => "unknown_event_type",
    UnknownPayloadVersion => "unknown_payload_version",
    TooManyEventTypes => "too_many_event_types",
    InvalidTenantId => "invalid_tenant_id",
    InvalidText => "invalid_text",
    InvalidTimeout => "invalid_timeout",
    InvalidUrl => "invalid_url",
    InvalidWindow => "invalid_window",
    MethodNotAllowed => "method_not_allowed",
    MissingTenantId => "missing_tenant_id",
    NotFound => "not_found",
    PayloadTooLarge => "payload_too_large",
    ReservedEventType => "reserved_event_type",
    ReservedHeader => "reserved_header",
    RouteNotFound => "route_not_found",
    SubscriptionDeleted => "subscription_deleted",
    TenantMismatch => "tenant_mismatch",
    TooManyAttributes => "too_many_attributes",
    TooManySubscriptions => "too_many_subscriptions",
    Unauthorized => "unauthorized",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub kind: ErrorKind,
    /// Stable, machine-readable code such as `invalid_url`.
    pub code: ErrorCode,
    pub message: String,
    /// Where, in the request, each part of the problem is (a bounded list; empty for most
    /// errors).
    pub details: Vec<Violation>,
}

/// One problem at one place of a request: a JSON pointer into the body and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Violation {
    /// JSON pointer into the offending document, e.g. `/data/leadId` (`""` is the whole of it).
    pub pointer: String,
    pub message: String,
}

impl Error {
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Invalid,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }
    pub fn not_found(what: &str, id: &str) -> Self {
        Error {
            kind: ErrorKind::NotFound,
            code: ErrorCode::NotFound,
            message: format!("{what} {id} was not found"),
            details: Vec::new(),
        }
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Unauthorized,
            code: ErrorCode::Unauthorized,
            message: message.into(),
            details: Vec::new(),
        }
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::TooLarge,
            code: ErrorCode::PayloadTooLarge,
            message: message.into(),
            details: Vec::new(),
        }
    }
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Conflict,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }
    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Forbidden,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Internal,
            code: ErrorCode::Internal,
            message: message.into(),
            details: Vec::new(),
        }
    }
}

impl Error {
    /// 422: `data` (or another document) breaks its declared contract at each of `details`.
    pub fn unprocessable(
        code: ErrorCode,
        message: impl Into<String>,
        details: Vec<Violation>,
    ) -> Self {
        Error {
            kind: ErrorKind::Unprocessable,
            code,
            message: message.into(),
            details,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_serialize_as_themselves() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
