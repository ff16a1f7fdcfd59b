//! Event types: declare, read, list, change, delete, import a catalogue; and the two checks
//! that use them, on events at ingest and on the types a subscription names.

use super::Hookline;
use crate::access::Principal;
use crate::error::{Error, ErrorCode, Result};
use crate::event::{Event, reserved_namespace};
use crate::event_type::cache::Registered;
use crate::event_type::{
    Catalogue, EventType, EventTypePatch, MAX_EVENT_TYPES, NewEventType, PayloadVersion,
};
use crate::matching::EventTypePattern;
use crate::subscription::Subscription;
use crate::tenant::TenantId;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// What an import did, by type name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
}

/// The scope a caller declares types in: a tenant key its own tenant; the admin key the named
/// tenant, or the whole deployment.
fn declare_scope(principal: &Principal, tenant_id: Option<String>) -> Result<Option<TenantId>> {
    match (principal, tenant_id) {
        (Principal::Admin, None) => Ok(None),
        (p, t) => p.tenant_for(t).map(Some),
    }
}

fn exists(name: &str) -> Error {
    Error::conflict(
        ErrorCode::EventTypeExists,
        format!("event type `{name}` is already declared; change it with PATCH"),
    )
}

fn too_many() -> Error {
    Error::conflict(
        ErrorCode::TooManyEventTypes,
        format!("a deployment or a tenant declares at most {MAX_EVENT_TYPES} event types"),
    )
}

fn edited_meanwhile(name: &str) -> Error {
    Error::conflict(
        ErrorCode::EditConflict,
        format!("event type `{name}` changed while this request was made; read it and try again"),
    )
}

impl Hookline {
    pub async fn create_event_type(
        &self,
        principal: &Principal,
        mut new: NewEventType,
    ) -> Result<EventType> {
        let scope = declare_scope(principal, new.tenant_id.take())?;
        let t = new.into_event_type(scope.clone(), self.clock.now())?;
        if self.store.list_event_types(scope.as_ref()).await?.len() >= MAX_EVENT_TYPES {
            return Err(too_many());
        }
        if !self.store.insert_event_type(&t).await? {
            return Err(exists(&t.name));
        }
        self.event_types.forget(scope.as_ref());
        tracing::info!(event_type = %t.name, tenant_id = ?t.tenant_id, "event type declared");
        Ok(t)
    }

    /// The types a tenant's events are checked against, by name: its own, and the
    /// deployment's it does not redeclare. The admin key without a tenant sees the
    /// deployment's.
    pub async fn list_event_types(
        &self,
        principal: &Principal,
        tenant_id: Option<&str>,
    ) -> Result<Vec<EventType>> {
        let scope = principal.list_scope(tenant_id)?;
        let mut by_name: BTreeMap<String, EventType> = BTreeMap::new();
        for t in self.store.list_event_types(None).await? {
            by_name.insert(t.name.clone(), t);
        }
        if let Some(tenant) = &scope {
            for t in self.store.list_event_types(Some(tenant)).await? {
                by_name.insert(t.name.clone(), t);
            }
        }
        Ok(by_name.into_values().collect())
    }

    /// The type `name` as a tenant's events see it (its own, else the deployment's).
    pub async fn get_event_type(
        &self,
        principal: &Principal,
        name: &str,
        tenant_id: Option<&str>,
    ) -> Result<EventType> {
        let scope = principal.list_scope(tenant_id)?;
        if let Some(tenant) = &scope
            && let Some(own) = self.store.get_event_type(Some(tenant), name).await?
        {
            return Ok(own);
        }
        self.store
            .get_event_type(None, name)
            .await?
            .ok_or_else(|| Error::not_found("event type", name))
    }

    /// Changes a type of the caller's scope (conditional on the revision it read).
    pub async fn update_event_type(
        &self,
        principal: &Principal,
        name: &str,
        tenant_id: Option<String>,
        patch: EventTypePatch,
    ) -> Result<EventType> {
        let scope = declare_scope(principal, tenant_id)?;
        let current = self
            .store
            .get_event_type(scope.as_ref(), name)
            .await?
            .ok_or_else(|| Error::not_found("event type", name))?;
        let Some(next) = current.patched(patch, self.clock.now())? else {
            return Ok(current);
        };
        if !self
            .store
            .update_event_type(&next, current.revision)
            .await?
        {
            return Err(edited_meanwhile(name));
        }
        self.event_types.forget(scope.as_ref());
        Ok(next)
    }

    pub async fn delete_event_type(
        &self,
        principal: &Principal,
        name: &str,
        tenant_id: Option<String>,
    ) -> Result<()> {
        let scope = declare_scope(principal, tenant_id)?;
        if !self.store.delete_event_type(scope.as_ref(), name).await? {
            return Err(Error::not_found("event type", name));
        }
        self.event_types.forget(scope.as_ref());
        Ok(())
    }

    /// Declares every type of a catalogue, or changes it where it differs. The whole catalogue
    /// is checked first: one bad entry refuses the import and writes nothing.
    pub async fn import_catalogue(
        &self,
        principal: &Principal,
        mut catalogue: Catalogue,
    ) -> Result<ImportReport> {
        let scope = declare_scope(principal, catalogue.tenant_id.take())?;
        let entries = catalogue.entries();
        let mut seen = HashSet::new();
        let mut declared = Vec::with_capacity(entries.len());
        for e in &entries {
            let d = e.declared().map_err(|err| Error {
                message: format!("event type `{}`: {}", e.name, err.message),
                ..err
            })?;
            if !seen.insert(e.name.clone()) {
                return Err(Error::invalid(
                    ErrorCode::InvalidEventTypes,
                    format!("the catalogue declares `{}` twice", e.name),
                ));
            }
            declared.push(d);
        }
        let existing: BTreeMap<String, EventType> = self
            .store
            .list_event_types(scope.as_ref())
            .await?
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        let added = entries
            .iter()
            .filter(|e| !existing.contains_key(&e.name))
            .count();
        if existing.len() + added > MAX_EVENT_TYPES {
            return Err(too_many());
        }
        let now = self.clock.now();
        let mut report = ImportReport::default();
        for (entry, d) in entries.into_iter().zip(declared) {
            match existing.get(&entry.name) {
                None => {
                    let t = EventType::new(entry.name, scope.clone(), d, now);
                    if !self.store.insert_event_type(&t).await? {
                        return Err(exists(&t.name));
                    }
                    report.created.push(t.name);
                }
                Some(current) => match current.redeclared(d, now) {
                    None => report.unchanged.push(entry.name),
                    Some(next) => {
                        if !self
                            .store
                            .update_event_type(&next, current.revision)
                            .await?
                        {
                            return Err(edited_meanwhile(&next.name));
                        }
                        report.updated.push(next.name);
                    }
                },
            }
        }
        self.event_types.forget(scope.as_ref());
        Ok(report)
    }

    /// The type an event of `tenant` named `name` is checked against, from this process's
    /// registries (read once per [`crate::event_type::cache::TTL`]).
    pub(crate) async fn registered(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<Arc<Registered>>> {
        let now = self.clock.now();
        let own = self
            .event_types
            .registry(Some(tenant), now, || {
                self.store.list_event_types(Some(tenant))
            })
            .await?;
        if let Some(r) = own.get(name) {
            return Ok(Some(r.clone()));
        }
        let deployment = self
            .event_types
            .registry(None, now, || self.store.list_event_types(None))
            .await?;
        Ok(deployment.get(name).cloned())
    }

    /// Refuses an event whose `data` breaks its type's schema (422 with the pointer of each
    /// problem), or, on a deployment with `strict_event_types`, whose type is not declared.
    pub(crate) async fn check_event(&self, event: &Event) -> Result<()> {
        match self.registered(&event.tenant_id, &event.event_type).await? {
            Some(r) => match &r.contract {
                Some(c) => c.check(&event.event_type, &event.data),
                None => Ok(()),
            },
            None if self.settings.strict_event_types => Err(Error::unprocessable(
                ErrorCode::UnknownEventType,
                format!(
                    "event type `{}` is not declared (this deployment accepts declared types only; see GET /v1/event-types)",
                    event.event_type
                ),
                Vec::new(),
            )),
            None => Ok(()),
        }
    }

    /// The version of `event`'s type that `sub` gets, if it pinned one its type declares.
    pub(crate) async fn payload_version(
        &self,
        sub: &Subscription,
        event: &Event,
    ) -> Result<Option<PayloadVersion>> {
        let Some(wanted) = &sub.payload_version else {
            return Ok(None);
        };
        let found = self.registered(&event.tenant_id, &event.event_type).await?;
        Ok(found.and_then(|r| r.def.versions.get(wanted).cloned()))
    }

    /// Checks the types a subscription names against the declared ones: each exact name a
    /// type declares `payload_version` for where the subscription pins one and the type has
    /// versions; and, with `strict_event_types`, every exact name declared and every prefix
    /// matching a declared type, so a typo is caught at creation.
    pub(crate) async fn check_subscription_types(&self, sub: &Subscription) -> Result<()> {
        let strict = self.settings.strict_event_types;
        if !strict && sub.payload_version.is_none() {
            return Ok(());
        }
        let declared = self
            .list_event_types(&Principal::Admin, Some(sub.tenant_id.as_str()))
            .await?;
        let by_name: BTreeMap<&str, &EventType> =
            declared.iter().map(|t| (t.name.as_str(), t)).collect();
        for pattern in &sub.event_types {
            let text = pattern.as_string();
            if reserved_namespace(&text).is_some() {
                continue;
            }
            match pattern {
                EventTypePattern::Exact(name) => match by_name.get(name.as_str()) {
                    Some(t) => {
                        if let Some(v) = &sub.payload_version
                            && !t.versions.is_empty()
                            && !t.versions.contains_key(v)
                        {
                            return Err(Error::invalid(
                                ErrorCode::UnknownPayloadVersion,
                                format!(
                                    "event type `{name}` has no payload version `{v}` (it has: {})",
                                    t.versions.keys().cloned().collect::<Vec<_>>().join(", ")
                                ),
                            ));
                        }
                    }
                    None if strict => return Err(undeclared(&text)),
                    None => {}
                },
                EventTypePattern::All => {}
                EventTypePattern::Prefix(_)
                    if strict && !declared.iter().any(|t| pattern.matches(&t.name)) =>
                {
                    return Err(undeclared(&text));
                }
                EventTypePattern::Prefix(_) => {}
            }
        }
        Ok(())
    }
}

fn undeclared(pattern: &str) -> Error {
    Error::invalid(
        ErrorCode::UnknownEventType,
        format!(
            "`{pattern}` names no declared event type (this deployment accepts declared types only; see GET /v1/event-types)"
        ),
    )
}
