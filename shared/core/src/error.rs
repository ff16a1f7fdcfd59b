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
    /// The body is larger than allowed (HTTP 413).
    TooLarge,
    /// Storage or queue failure: nothing the caller did wrong (HTTP 500/503).
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub kind: ErrorKind,
    /// Stable, machine-readable code such as `invalid_url`.
    pub code: &'static str,
    pub message: String,
}

impl Error {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Invalid,
            code,
            message: message.into(),
        }
    }
    pub fn not_found(what: &str, id: &str) -> Self {
        Error {
            kind: ErrorKind::NotFound,
            code: "not_found",
            message: format!("{what} {id} was not found"),
        }
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Unauthorized,
            code: "unauthorized",
            message: message.into(),
        }
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::TooLarge,
            code: "payload_too_large",
            message: message.into(),
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Internal,
            code: "internal",
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
