//! Tenants: every resource belongs to one, named by the platform (a dealer's id, say). A
//! [`TenantId`] is validated once, where it enters (the API or the admin's request), so code past
//! the edge never checks it again and never mixes it up with another string.

use crate::error::{Error, ErrorCode, Result};
use serde::{Deserialize, Deserializer, Serialize};

pub const MAX_TENANT_LEN: usize = 128;

/// 1-128 characters of letters, digits, `-`, `_`, `.` or `:`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(t: impl Into<String>) -> Result<Self> {
        let t = t.into();
        let ok = !t.is_empty()
            && t.len() <= MAX_TENANT_LEN
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if ok {
            Ok(TenantId(t))
        } else {
            Err(Error::invalid(
                ErrorCode::InvalidTenantId,
                format!(
                    "`tenant_id` must be 1-{MAX_TENANT_LEN} characters of letters, digits, `-`, `_`, `.` or `:`"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for TenantId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&TenantId> for String {
    fn from(t: &TenantId) -> String {
        t.0.clone()
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

impl PartialEq<str> for TenantId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for TenantId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TenantId::parse(s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_checked_once_at_the_edge() {
        assert_eq!(
            TenantId::parse("ford-anytown:42").unwrap(),
            "ford-anytown:42"
        );
        for bad in ["", "a b", "händler", &"x".repeat(129)] {
            let e = TenantId::parse(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidTenantId, "{bad:?}");
        }
        assert!(serde_json::from_str::<TenantId>("\"a/b\"").is_err());
        assert_eq!(
            serde_json::to_string(&TenantId::parse("t-1").unwrap()).unwrap(),
            "\"t-1\""
        );
    }
}
