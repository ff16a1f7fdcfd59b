//! Subscriptions: create, read, list, change, delete, rotate the secret, send a test event.

use super::idempotency::{Accepted, Keyed, accepted};
use super::{AttemptReport, Hookline, Page, PageRequest, paginate, visible};
use crate::access::Principal;
use crate::delivery::Delivery;
use crate::error::{Error, ErrorCode, Result};
use crate::event::{Event, TEST_EVENT, reserved_namespace, validate_event_type};
use crate::ids::{EventId, SubscriptionId};
use crate::ports::Created;
use crate::subscription::{
    DEFAULT_ROTATION_GRACE_SECS, MAX_SUBSCRIPTIONS_PER_TENANT, NewSubscription, Subscription,
    SubscriptionPatch,
};
use std::time::Duration;

impl Hookline {
    pub async fn create_subscription(
        &self,
        principal: &Principal,
        mut new: NewSubscription,
        keyed: Option<Keyed<'_, Subscription>>,
    ) -> Result<Accepted<Subscription>> {
        if let Some(earlier) = self.earlier_response(keyed.as_ref()).await? {
            return Ok(Accepted::Replayed(earlier));
        }
        let tenant = principal.tenant_for(new.tenant_id.take())?;
        let default_timeout = new.timeout_ms.is_none();
        let now = self.clock.now();
        let mut sub = new.into_subscription(tenant, now, &self.settings.destination)?;
        if default_timeout {
            sub.timeout_ms = self.settings.default_timeout_ms;
        }
        sub.retry_policy().check(&self.settings.schedule)?;
        self.check_subscription_types(&sub).await?;
        if self.store.count_subscriptions(&sub.tenant_id).await? >= MAX_SUBSCRIPTIONS_PER_TENANT {
            return Err(Error::conflict(
                ErrorCode::TooManySubscriptions,
                format!("a tenant has at most {MAX_SUBSCRIPTIONS_PER_TENANT} subscriptions"),
            ));
        }
        let response = keyed.as_ref().map(|k| k.response(&sub, now));
        let write = self
            .store
            .insert_subscription(&sub, response.as_ref())
            .await?;
        if write == Created::Stored {
            tracing::info!(subscription_id = %sub.id, tenant_id = %sub.tenant_id, "subscription created");
        }
        Ok(accepted(sub, write))
    }

    pub async fn get_subscription(
        &self,
        principal: &Principal,
        id: &SubscriptionId,
    ) -> Result<Subscription> {
        let found = self.store.get_subscription(id).await?;
        visible(principal, "subscription", id.as_str(), found, |s| {
            &s.tenant_id
        })
    }

    pub async fn list_subscriptions(
        &self,
        principal: &Principal,
        tenant_id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let scope = principal.list_scope(tenant_id)?;
        let limit = page.limit()?;
        let after = page.cursor(SubscriptionId::parse)?;
        let items = self
            .store
            .list_subscriptions(scope.as_ref(), after.as_ref(), limit + 1)
            .await?;
        Ok(paginate(items, limit, |s| s.id.to_string()))
    }

    pub async fn update_subscription(
        &self,
        principal: &Principal,
        id: &SubscriptionId,
        patch: SubscriptionPatch,
    ) -> Result<Subscription> {
        let current = self.get_subscription(principal, id).await?;
        let default_timeout = patch.timeout_ms == Some(None);
        let mut next = patch.apply(&current, self.clock.now(), &self.settings.destination)?;
        if default_timeout {
            next.timeout_ms = self.settings.default_timeout_ms;
        }
        if next.retry_policy() != current.retry_policy() {
            next.retry_policy().check(&self.settings.schedule)?;
        }
        if next.event_types != current.event_types
            || next.payload_version != current.payload_version
        {
            self.check_subscription_types(&next).await?;
        }
        self.store.update_subscription(&next).await?;
        self.forget_subscription(&next.id);
        if (next.enabled && !current.enabled) || next.url != current.url {
            // enabled again, or a new endpoint: its circuit closes and parked work is released
            self.close_circuit(&next.id).await?;
        }
        Ok(next)
    }

    pub async fn delete_subscription(
        &self,
        principal: &Principal,
        id: &SubscriptionId,
    ) -> Result<()> {
        let sub = self.get_subscription(principal, id).await?;
        let deleted = self.store.delete_subscription(&sub.id).await?;
        self.forget_subscription(&sub.id);
        if deleted {
            // jobs it parked are released to end as failed with the reason (nothing is lost)
            self.release_parked(&sub.id).await?;
            Ok(())
        } else {
            Err(Error::not_found("subscription", id.as_str()))
        }
    }

    /// Replaces the secret; the old one keeps signing for the grace period (default 24 h).
    pub async fn rotate_secret(
        &self,
        principal: &Principal,
        id: &SubscriptionId,
        grace_period_secs: Option<u64>,
    ) -> Result<Subscription> {
        let mut sub = self.get_subscription(principal, id).await?;
        let grace = Duration::from_secs(grace_period_secs.unwrap_or(DEFAULT_ROTATION_GRACE_SECS));
        sub.rotate_secret(grace, self.clock.now())?;
        self.store.update_subscription(&sub).await?;
        self.forget_subscription(&sub.id);
        tracing::info!(subscription_id = %sub.id, tenant_id = %sub.tenant_id, grace_secs = grace.as_secs(), "secret rotated");
        Ok(sub)
    }

    /// Sends a signed test event to this one subscription now and reports the attempt: a
    /// `webhook.test` event, or an event of one of its types (`data` as given, else its schema's
    /// first `examples` entry) so a receiver can check the shape it will get. It is logged like
    /// any delivery but never retried or dead-lettered, and reaches no other subscription.
    pub async fn send_test_event(
        &self,
        principal: &Principal,
        id: &SubscriptionId,
        request: TestEvent,
    ) -> Result<AttemptReport> {
        let sub = self.get_subscription(principal, id).await?;
        let now = self.clock.now();
        let mut event = Event {
            id: EventId::generate(),
            tenant_id: sub.tenant_id.clone(),
            event_type: TEST_EVENT.to_string(),
            timestamp: now,
            data: Default::default(),
            attributes: Default::default(),
        };
        match (request.event_type, request.data) {
            (None, Some(_)) => {
                return Err(Error::invalid(
                    ErrorCode::InvalidRequest,
                    "`data` is the data of an `event_type`: name the type too",
                ));
            }
            (None, None) => {
                let data = serde_json::json!({
                    "message": "This is a test event from Hookline.",
                    "subscription_id": sub.id,
                });
                event.data = data.as_object().cloned().unwrap_or_default();
            }
            (Some(name), data) => {
                test_event_type(&sub, &name)?;
                event.data = match data {
                    Some(d) => d,
                    None => self.example(&sub, &name).await?,
                };
                event.event_type = name;
                self.check_event(&event).await?;
            }
        }
        self.store.insert_event(&event, false, None).await?;
        let delivery = self
            .store
            .create_delivery(&Delivery::new(&event, &sub, now))
            .await?;
        self.attempt_once(&delivery, &sub, &event, Some("test event; not retried"))
            .await
    }
}

/// `POST /v1/subscriptions/{id}/test` body: empty for a `webhook.test` event.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestEvent {
    /// One of the subscription's event types: the test is an event of that type.
    #[serde(default)]
    pub event_type: Option<String>,
    /// Its `data` (checked against the type's schema); unset: the first of the schema's
    /// `examples`, or `{}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Whether a test of type `name` may go to `sub`: a type it subscribes to, not one of
/// Hookline's own.
fn test_event_type(sub: &Subscription, name: &str) -> Result<()> {
    validate_event_type(name)?;
    if let Some(ns) = reserved_namespace(name) {
        return Err(Error::invalid(
            ErrorCode::ReservedEventType,
            format!("`{ns}*` events are Hookline's own; a test event cannot be one"),
        ));
    }
    if !sub.event_types.iter().any(|p| p.matches(name)) {
        return Err(Error::invalid(
            ErrorCode::InvalidEventType,
            format!("this subscription does not receive `{name}` events"),
        ));
    }
    Ok(())
}

impl Hookline {
    /// The data of a test event of type `name`: the first object in its schema's `examples`.
    async fn example(
        &self,
        sub: &Subscription,
        name: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        let registered = self.registered(&sub.tenant_id, name).await?;
        let example = registered
            .as_ref()
            .and_then(|r| r.def.schema.as_ref())
            .and_then(|s| s.get("examples"))
            .and_then(|e| e.get(0))
            .and_then(|e| e.as_object());
        Ok(example.cloned().unwrap_or_default())
    }
}
