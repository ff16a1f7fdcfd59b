//! Tenant API keys. A key is shown once, at creation; only its SHA-256 is stored (keys are 32
//! random bytes, so a fast hash is enough: there is nothing to brute-force), and the presented
//! key's hash is compared in constant time. The key embeds its id so the lookup is by id.

use crate::clock::Timestamp;
use crate::ids::{ApiKeyId, new_ulid};
use crate::tenant::TenantId;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const KEY_PREFIX: &str = "hk_";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: Option<String>,
    /// Hex SHA-256 of the whole key.
    #[serde(skip_serializing)]
    pub hash: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Makes a key for a tenant: the record to store and the key to show once.
pub fn generate(tenant_id: TenantId, name: Option<String>, now: Timestamp) -> (ApiKey, String) {
    let ulid = new_ulid();
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("{KEY_PREFIX}{ulid}_{}", hex::encode(secret));
    let record = ApiKey {
        id: ApiKeyId::parse(&format!("key_{ulid}")).expect("a fresh key id is valid"),
        tenant_id,
        name,
        hash: hash(&key),
        created_at: now,
        revoked_at: None,
    };
    (record, key)
}

/// The id a presented key claims to be, if it has the shape of a tenant key.
pub fn claimed_id(key: &str) -> Option<ApiKeyId> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (ulid, secret) = rest.split_once('_')?;
    if secret.len() != 64 {
        return None;
    }
    ApiKeyId::parse(&format!("key_{ulid}"))
}

/// Whether `presented` is this (unrevoked) key, compared in constant time.
pub fn matches(record: &ApiKey, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    record.revoked_at.is_none()
        && bool::from(record.hash.as_bytes().ct_eq(hash(presented).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_its_id_and_matches_only_itself() {
        let (record, key) = generate(
            crate::TenantId::parse("dealer-1").unwrap(),
            None,
            Timestamp(0),
        );
        assert_eq!(claimed_id(&key), Some(record.id.clone()));
        assert!(matches(&record, &key));
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push('x');
        assert!(!matches(&record, &wrong));
        assert!(
            !record.hash.contains(&key[3..20]),
            "the key itself is not stored"
        );
        assert_eq!(claimed_id("hk_admin_abc"), None);
        assert_eq!(claimed_id("Bearer nonsense"), None);
    }

    #[test]
    fn revoked_keys_match_nothing() {
        let (mut record, key) = generate(
            crate::TenantId::parse("dealer-1").unwrap(),
            Some("CRM sync".into()),
            Timestamp(0),
        );
        record.revoked_at = Some(Timestamp(1));
        assert!(!matches(&record, &key));
    }
}
