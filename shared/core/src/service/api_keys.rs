//! Tenant API keys: issued, listed and revoked by the admin; presented by tenants.

use super::idempotency::{Accepted, Keyed, accepted};
use super::{Hookline, Page, PageRequest, paginate};
use crate::access::Principal;
use crate::api_key::{self, ApiKey};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::ApiKeyId;
use crate::ports::Created;
use crate::tenant::TenantId;

impl Hookline {
    /// Issues a key for a tenant: the record to store and the key, shown once.
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        tenant_id: String,
        name: Option<String>,
        keyed: Option<Keyed<'_, (ApiKey, String)>>,
    ) -> Result<Accepted<(ApiKey, String)>> {
        principal.require_admin()?;
        if let Some(earlier) = self.earlier_response(keyed.as_ref()).await? {
            return Ok(Accepted::Replayed(earlier));
        }
        let tenant_id = TenantId::parse(tenant_id)?;
        if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
            return Err(Error::invalid(
                ErrorCode::InvalidText,
                "`name` is longer than 200 characters",
            ));
        }
        let now = self.clock.now();
        let issued = api_key::generate(tenant_id, name, now);
        let response = keyed.as_ref().map(|k| k.response(&issued, now));
        let write = self
            .store
            .insert_api_key(&issued.0, response.as_ref())
            .await?;
        if write == Created::Stored {
            tracing::info!(api_key_id = %issued.0.id, tenant_id = %issued.0.tenant_id, "API key created");
        }
        Ok(accepted(issued, write))
    }

    pub async fn list_api_keys(
        &self,
        principal: &Principal,
        tenant_id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>> {
        principal.require_admin()?;
        let tenant_id = tenant_id.map(TenantId::parse).transpose()?;
        let limit = page.limit()?;
        let after = page.cursor(ApiKeyId::parse)?;
        let items = self
            .store
            .list_api_keys(tenant_id.as_ref(), after.as_ref(), limit + 1)
            .await?;
        Ok(paginate(items, limit, |k| k.id.to_string()))
    }

    pub async fn revoke_api_key(&self, principal: &Principal, id: &ApiKeyId) -> Result<()> {
        principal.require_admin()?;
        if self.store.revoke_api_key(id, self.clock.now()).await? {
            tracing::info!(api_key_id = %id, "API key revoked");
            Ok(())
        } else {
            Err(Error::not_found("API key", id.as_str()))
        }
    }

    /// The principal a presented tenant key stands for, if it is a valid, unrevoked key.
    pub async fn authenticate_tenant_key(&self, presented: &str) -> Result<Option<Principal>> {
        let Some(id) = api_key::claimed_id(presented) else {
            return Ok(None);
        };
        Ok(self
            .store
            .get_api_key(&id)
            .await?
            .filter(|k| api_key::matches(k, presented))
            .map(|k| Principal::Tenant(k.tenant_id)))
    }
}
