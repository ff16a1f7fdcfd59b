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
    scopes: Mutex<Scopes>,
}

/// The cached registries, one read gate per scope (so that callers that miss together wait for
/// one read instead of each making it), and a count of forgets (so that a read that began
/// before a forget does not put back what the forget removed).
#[derive(Default)]
struct Scopes {
    read: HashMap<Scope, (Timestamp, Arc<Registry>)>,
    gates: HashMap<Scope, Arc<tokio::sync::Mutex<()>>>,
    forgets: u64,
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
            scopes: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Scopes> {
        self.scopes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The registry of `scope` if it was read less than the ttl ago; else the stale one, if any.
    fn fresh(
        &self,
        scope: &Scope,
        now: Timestamp,
    ) -> std::result::Result<Arc<Registry>, Option<Arc<Registry>>> {
        match self.lock().read.get(scope) {
            Some((read_at, reg)) if now >= *read_at && now < read_at.plus(self.ttl) => {
                Ok(reg.clone())
            }
            Some((_, reg)) => Err(Some(reg.clone())),
            None => Err(None),
        }
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
        if let Ok(fresh) = self.fresh(&key, now) {
            return Ok(fresh);
        }
        // One read per scope at a time: who waited here finds what the first one read.
        let gate = self.lock().gates.entry(key.clone()).or_default().clone();
        let _reading = gate.lock().await;
        let previous = match self.fresh(&key, now) {
            Ok(fresh) => return Ok(fresh),
            Err(previous) => previous,
        };
        let forgets = self.lock().forgets;
        let types = load().await?;
        let registry = Arc::new(Registry::build(types, previous.as_deref()));
        let mut scopes = self.lock();
        if scopes.forgets == forgets {
            if scopes.read.len() >= MAX_SCOPES {
                scopes.read.clear();
                scopes.gates.clear();
            }
            scopes.read.insert(key, (now, registry.clone()));
        }
        Ok(registry)
    }

    /// Forgets `scope`: this process changed its types.
    pub fn forget(&self, scope: Option<&TenantId>) {
        let mut scopes = self.lock();
        scopes.read.remove(&scope.cloned());
        scopes.forgets += 1;
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

    /// Callers that miss together wait for one read; a read that began before a forget is
    /// answered but not kept.
    #[tokio::test]
    async fn callers_that_miss_together_share_one_read_and_a_forget_wins_over_a_read_in_flight() {
        let cache = EventTypeCache::new(Duration::from_secs(5));
        let reads = AtomicUsize::new(0);
        let slow_load = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(vec![t("lead.created", 1)])
        };
        let together = (0..8).map(|_| cache.registry(None, Timestamp(1_000), slow_load));
        for r in futures::future::join_all(together).await {
            assert!(r.unwrap().get("lead.created").is_some());
        }
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "one read for eight callers"
        );

        cache.forget(None);
        let (read, ()) = tokio::join!(cache.registry(None, Timestamp(1_000), slow_load), async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            cache.forget(None);
        });
        assert!(read.unwrap().get("lead.created").is_some(), "answered");
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        cache
            .registry(None, Timestamp(1_000), slow_load)
            .await
            .unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 3, "not kept: read again");
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
