//! The registries of event types one process checks events against, each read once per ttl and
//! compiled once per revision. A change made elsewhere (another Lambda container) reaches this
//! process within the ttl; a change made here is seen at once.

use super::EventType;
use super::contract::Contract;
use crate::clock::Timestamp;
use crate::error::Result;
use crate::tenant::TenantId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a registry read is trusted: the bound on a schema change reaching ingest.
pub const TTL: Duration = Duration::from_secs(5);
/// Scopes (tenants) kept at most; a full cache starts again empty.
pub const MAX_SCOPES: usize = 10_000;

/// One type with its compiled schema.
#[derive(Debug)]
pub struct Registered {
    pub def: EventType,
    pub contract: Option<Contract>,
}

/// The types of one scope (the deployment's, or one tenant's), by name.
#[derive(Debug, Default)]
pub struct Registry {
    pub types: HashMap<String, Arc<Registered>>,
}

impl Registry {
    /// A registry of `types`, reusing the compiled schemas of `previous` where the revision is
    /// the same. A stored schema that no longer compiles (it was checked when declared) is
    /// treated as absent rather than refusing every event.
    pub fn build(types: Vec<EventType>, previous: Option<&Registry>) -> Registry {
        let types = types
            .into_iter()
            .map(|def| {
                let reused = previous
                    .and_then(|p| p.types.get(&def.name))
                    .filter(|r| r.def.revision == def.revision && r.def == def)
                    .cloned();
                let entry = reused.unwrap_or_else(|| {
                    let contract = def.schema.as_ref().and_then(|s| match Contract::compile(s) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            tracing::error!(event_type = %def.name, error = %e, "stored schema does not compile; not enforced");
                            None
                        }
                    });
                    Arc::new(Registered { def, contract })
                });
                (entry.def.name.clone(), entry)
            })
            .collect();
        Registry { types }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Registered>> {
        self.types.get(name)
    }
}

type Scope = Option<TenantId>;

pub struct EventTypeCache {
    ttl: Duration,
    scopes: Mutex<HashMap<Scope, (Timestamp, Arc<Registry>)>>,
}

impl Default for EventTypeCache {
    fn default() -> Self {
        EventTypeCache::new(TTL)
    }
}

impl EventTypeCache {
    pub fn new(ttl: Duration) -> Self {
        EventTypeCache {
            ttl,
            scopes: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Scope, (Timestamp, Arc<Registry>)>> {
        self.scopes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The registry of `scope`, read through `load` when the cached one is older than the ttl
    /// (or was never read).
    pub async fn registry<F, Fut>(
        &self,
        scope: Option<&TenantId>,
        now: Timestamp,
        load: F,
    ) -> Result<Arc<Registry>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<EventType>>>,
    {
        let key = scope.cloned();
        let previous = {
            let scopes = self.lock();
            match scopes.get(&key) {
                Some((read_at, reg)) if now >= *read_at && now < read_at.plus(self.ttl) => {
                    return Ok(reg.clone());
                }
                Some((_, reg)) => Some(reg.clone()),
                None => None,
            }
        };
        let types = load().await?;
        let registry = Arc::new(Registry::build(types, previous.as_deref()));
        let mut scopes = self.lock();
        if scopes.len() >= MAX_SCOPES {
            scopes.clear();
        }
        scopes.insert(key, (now, registry.clone()));
        Ok(registry)
    }

    /// Forgets `scope`: this process changed its types.
    pub fn forget(&self, scope: Option<&TenantId>) {
        self.lock().remove(&scope.cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn t(name: &str, revision: u64) -> EventType {
        EventType {
            name: name.into(),
            tenant_id: None,
            description: None,
            schema: Some(json!({"type": "object", "required": ["id"]})),
            deprecated: false,
            versions: Default::default(),
            revision,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[tokio::test]
    async fn a_registry_is_read_once_per_ttl_and_again_when_forgotten() {
        let cache = EventTypeCache::new(Duration::from_secs(5));
        let reads = AtomicUsize::new(0);
        let load = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok(vec![t("lead.created", 1)])
        };
        let r = cache.registry(None, Timestamp(1_000), load).await.unwrap();
        assert!(r.get("lead.created").unwrap().contract.is_some());
        cache.registry(None, Timestamp(5_999), load).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        cache.registry(None, Timestamp(6_000), load).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2, "expired");
        cache.registry(None, Timestamp(5_000), load).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 3, "a clock that went back");
        cache.forget(None);
        cache.registry(None, Timestamp(5_000), load).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 4, "forgotten");
        let tenant = TenantId::parse("dealer-1").unwrap();
        let other = cache
            .registry(Some(&tenant), Timestamp(5_000), || async { Ok(vec![]) })
            .await
            .unwrap();
        assert!(other.get("lead.created").is_none(), "scopes are apart");
    }

    #[test]
    fn compiled_schemas_are_reused_while_the_revision_is_the_same() {
        let first = Registry::build(vec![t("a", 1), t("b", 1)], None);
        let second = Registry::build(vec![t("a", 1), t("b", 2)], Some(&first));
        assert!(Arc::ptr_eq(&first.types["a"], &second.types["a"]));
        assert!(!Arc::ptr_eq(&first.types["b"], &second.types["b"]));
    }

    #[test]
    fn a_stored_schema_that_does_not_compile_is_not_enforced() {
        let mut bad = t("a", 1);
        bad.schema = Some(json!({"type": 7}));
        let r = Registry::build(vec![bad], None);
        assert!(r.get("a").unwrap().contract.is_none());
    }
}
