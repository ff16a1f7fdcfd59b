//! How a subscription authenticates its requests to the receiver: a bearer token, an API key in
//! a header of the receiver's choosing, or HTTP basic credentials. They are kept like the
//! signing secret: stored, sent on every attempt, test and retry, and never shown again (a
//! view shows the type and a short fingerprint). Credentials in custom `headers` are refused,
//! pointing at `auth`.

use crate::error::{Error, ErrorCode, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest credential value accepted (a token, a password, a header value).
pub const MAX_CREDENTIAL_LEN: usize = 4096;

/// Header names that carry credentials: custom `headers` may not set them (use `auth`).
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-access-token",
];

/// Whether a custom header of this (lowercase) name would carry a credential.
pub fn is_credential_header(lower: &str) -> bool {
    CREDENTIAL_HEADERS.contains(&lower)
        || lower.ends_with("-token")
        || lower.ends_with("-api-key")
        || lower.ends_with("-secret")
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OutboundAuth {
    /// `Authorization: Bearer {token}`.
    Bearer { token: String },
    /// `{name}: {value}`, e.g. `X-Api-Key: ...`.
    Header { name: String, value: String },
    /// `Authorization: Basic base64({username}:{password})`.
    Basic { username: String, password: String },
}

/// Credentials stay out of logs and debug output.
impl std::fmt::Debug for OutboundAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutboundAuth({}, {})", self.kind(), self.fingerprint())
    }
}

fn printable(v: &str) -> bool {
    !v.is_empty() && v.len() <= MAX_CREDENTIAL_LEN && v.bytes().all(|b| (b' '..=b'~').contains(&b))
}

impl OutboundAuth {
    pub fn kind(&self) -> &'static str {
        match self {
            OutboundAuth::Bearer { .. } => "bearer",
            OutboundAuth::Header { .. } => "header",
            OutboundAuth::Basic { .. } => "basic",
        }
    }

    /// The header the receiver gets.
    pub fn header(&self) -> (String, String) {
        match self {
            OutboundAuth::Bearer { token } => ("authorization".into(), format!("Bearer {token}")),
            OutboundAuth::Header { name, value } => (name.to_ascii_lowercase(), value.clone()),
            OutboundAuth::Basic { username, password } => {
                let pair = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                ("authorization".into(), format!("Basic {pair}"))
            }
        }
    }

    /// The first 8 hex digits of a SHA-256 of the header sent: enough to tell two credentials
    /// apart, nothing to recover one from.
    pub fn fingerprint(&self) -> String {
        let (name, value) = self.header();
        hex::encode(&Sha256::digest(format!("{name}: {value}").as_bytes())[..4])
    }

    /// Checks the credential's shape; `reserved` says which header names Hookline sets itself.
    pub fn validate(self, reserved: impl Fn(&str) -> bool) -> Result<Self> {
        let bad = |msg: String| Error::invalid(ErrorCode::InvalidAuth, msg);
        match &self {
            OutboundAuth::Bearer { token } if !printable(token) || token.contains(' ') => {
                Err(bad(format!(
                    "`auth.token` must be 1-{MAX_CREDENTIAL_LEN} printable ASCII characters without spaces"
                )))
            }
            OutboundAuth::Header { name, .. } if !super::validation::is_token(name) => {
                Err(bad("`auth.name` is not a valid HTTP header name".into()))
            }
            OutboundAuth::Header { name, .. } if reserved(&name.to_ascii_lowercase()) => Err(bad(
                format!("`auth.name` `{name}` is a header Hookline sets itself"),
            )),
            OutboundAuth::Header { value, .. } if !printable(value) => Err(bad(format!(
                "`auth.value` must be 1-{MAX_CREDENTIAL_LEN} printable ASCII characters"
            ))),
            OutboundAuth::Basic { username, password }
                if !printable(username) || username.contains(':') || !printable(password) =>
            {
                Err(bad(format!(
                    "`auth.username` (without `:`) and `auth.password` must be 1-{MAX_CREDENTIAL_LEN} printable ASCII characters"
                )))
            }
            _ => Ok(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn each_kind_sends_its_header() {
        let bearer = OutboundAuth::Bearer {
            token: "t0k3n".into(),
        };
        assert_eq!(
            bearer.header(),
            ("authorization".into(), "Bearer t0k3n".into())
        );
        let key = OutboundAuth::Header {
            name: "X-Api-Key".into(),
            value: "k-123".into(),
        };
        assert_eq!(key.header(), ("x-api-key".into(), "k-123".into()));
        let basic = OutboundAuth::Basic {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        };
        // RFC 7617's example
        assert_eq!(
            basic.header(),
            (
                "authorization".into(),
                "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".into()
            )
        );
    }

    #[test]
    fn the_fingerprint_tells_credentials_apart_and_hides_them() {
        let a = OutboundAuth::Bearer { token: "a".into() };
        let b = OutboundAuth::Bearer { token: "b".into() };
        assert_eq!(a.fingerprint().len(), 8);
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        assert!(!format!("{a:?}").contains("\"a\""));
        assert!(format!("{a:?}").contains("bearer"));
    }

    #[test]
    fn malformed_credentials_are_refused() {
        let refused = |a: OutboundAuth| a.validate(none).unwrap_err().code;
        let code = ErrorCode::InvalidAuth;
        assert_eq!(refused(OutboundAuth::Bearer { token: "".into() }), code);
        assert_eq!(
            refused(OutboundAuth::Bearer {
                token: "a b".into()
            }),
            code
        );
        let header = |name: &str, value: &str| OutboundAuth::Header {
            name: name.into(),
            value: value.into(),
        };
        assert_eq!(refused(header("X Key", "v")), code);
        assert_eq!(refused(header("X-Key", "")), code);
        assert_eq!(refused(header("X-Key", "caf\u{e9}")), code);
        let reserved = header("Content-Type", "v").validate(|h| h == "content-type");
        assert_eq!(reserved.unwrap_err().code, code);
        let basic = |u: &str, p: &str| OutboundAuth::Basic {
            username: u.into(),
            password: p.into(),
        };
        assert_eq!(refused(basic("a:b", "p")), code);
        assert_eq!(refused(basic("a", "")), code);
        assert!(basic("dms", "pw").validate(none).is_ok());
        assert!(header("X-Api-Key", "k").validate(none).is_ok());
    }

    #[test]
    fn credential_headers_are_recognised() {
        for h in [
            "authorization",
            "x-api-key",
            "x-dms-token",
            "x-client-secret",
            "cookie",
        ] {
            assert!(is_credential_header(h), "{h}");
        }
        for h in ["x-dealer-id", "x-request-source", "user-agent"] {
            assert!(!is_credential_header(h), "{h}");
        }
    }
}
