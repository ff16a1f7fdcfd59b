//! Who is calling. The admin key (the platform) may act for every tenant; a tenant key acts for
//! its own tenant only, and anything of another tenant is "not found" to it, never "forbidden",
//! so a tenant cannot even learn that another tenant's id exists.

use crate::error::ErrorCode;
use crate::error::{Error, Result};
use crate::tenant::TenantId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Admin,
    Tenant(TenantId),
}

impl Principal {
    /// The tenant a new resource belongs to: a tenant key implies its own (and refuses any
    /// other); the admin key must name one.
    pub fn tenant_for(&self, given: Option<String>) -> Result<TenantId> {
        match (self, given) {
            (Principal::Admin, Some(t)) => TenantId::parse(t),
            (Principal::Admin, None) => Err(Error::invalid(
                ErrorCode::MissingTenantId,
                "`tenant_id` is required with the admin key",
            )),
            (Principal::Tenant(own), None) => Ok(own.clone()),
            (Principal::Tenant(own), Some(t)) if own == t.as_str() => Ok(own.clone()),
            (Principal::Tenant(_), Some(_)) => Err(Error::invalid(
                ErrorCode::TenantMismatch,
                "`tenant_id` differs from the tenant of this API key",
            )),
        }
    }

    /// Which tenant a listing covers: any (or the named one) for the admin; always its own for
    /// a tenant key.
    pub fn list_scope(&self, requested: Option<&str>) -> Result<Option<TenantId>> {
        match self {
            Principal::Admin => requested.map(TenantId::parse).transpose(),
            Principal::Tenant(own) => match requested {
                Some(t) if own != t => Err(Error::invalid(
                    ErrorCode::TenantMismatch,
                    "`tenant_id` differs from the tenant of this API key",
                )),
                _ => Ok(Some(own.clone())),
            },
        }
    }

    pub fn sees(&self, tenant_id: &str) -> bool {
        match self {
            Principal::Admin => true,
            Principal::Tenant(own) => own == tenant_id,
        }
    }

    pub fn require_admin(&self) -> Result<()> {
        match self {
            Principal::Admin => Ok(()),
            Principal::Tenant(_) => Err(Error {
                kind: crate::error::ErrorKind::Forbidden,
                code: ErrorCode::AdminOnly,
                message: "this route needs the admin key".into(),
                details: Vec::new(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_keys_imply_their_tenant_and_refuse_others() {
        let t = Principal::Tenant(TenantId::parse("dealer-1").unwrap());
        assert_eq!(t.tenant_for(None).unwrap(), "dealer-1");
        assert_eq!(t.tenant_for(Some("dealer-1".into())).unwrap(), "dealer-1");
        assert_eq!(
            t.tenant_for(Some("dealer-2".into())).unwrap_err().code,
            "tenant_mismatch"
        );
        assert_eq!(t.list_scope(None).unwrap().unwrap(), "dealer-1");
        assert!(t.list_scope(Some("dealer-2")).is_err());
        assert!(!t.sees("dealer-2"));
        assert!(t.require_admin().is_err());
    }

    #[test]
    fn the_admin_names_the_tenant() {
        let a = Principal::Admin;
        assert_eq!(a.tenant_for(None).unwrap_err().code, "missing_tenant_id");
        assert_eq!(
            a.tenant_for(Some("bad id".into())).unwrap_err().code,
            "invalid_tenant_id"
        );
        assert_eq!(a.list_scope(None).unwrap(), None);
        assert!(a.sees("anyone"));
    }
}
