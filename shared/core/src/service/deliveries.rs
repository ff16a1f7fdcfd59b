//! Deliveries: the delivery log, a manual retry, and recovery of failed deliveries.

use super::{
    AttemptReport, DeliveryFilter, Hookline, MAX_RECOVER, Page, PageRequest, RecoverReport,
    paginate, visible,
};
use crate::access::Principal;
use crate::clock::Timestamp;
use crate::delivery::{Delivery, DeliveryStatus};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::{DeliveryId, EventId, SubscriptionId};
use crate::pipeline::Job;
use crate::ports::{DeliveryQuery, Enqueue};
use futures::{StreamExt, TryStreamExt};

/// `SendMessageBatch` calls a recovery page makes at once.
const RECOVER_SENDS: usize = 8;

impl Hookline {
    pub async fn get_delivery(&self, principal: &Principal, id: &DeliveryId) -> Result<Delivery> {
        let found = self.store.get_delivery(id).await?;
        visible(principal, "delivery", id.as_str(), found, |d| &d.tenant_id)
    }

    /// A delivery and the request its attempts send, as [`crate::pipeline::request::as_logged`]
    /// renders it at the last attempt's time (or now); `None` when the subscription or the
    /// event is no longer stored.
    pub async fn delivery_with_request(
        &self,
        principal: &Principal,
        id: &DeliveryId,
    ) -> Result<(Delivery, Option<crate::ports::OutboundRequest>)> {
        let delivery = self.get_delivery(principal, id).await?;
        let sub = self
            .store
            .get_subscription(&delivery.subscription_id)
            .await?;
        let event = self.store.get_event(&delivery.event_id).await?;
        let at = delivery
            .attempts
            .last()
            .map_or_else(|| self.clock.now(), |a| a.at);
        let request = match (sub, event) {
            (Some(sub), Some(event)) => {
                let version = self.payload_version(&sub, &event).await?;
                Some(crate::pipeline::request::as_logged(
                    &sub,
                    &event,
                    version.as_ref(),
                    at,
                ))
            }
            _ => None,
        };
        Ok((delivery, request))
    }

    pub async fn event_deliveries(
        &self,
        principal: &Principal,
        id: &EventId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        let event = self.get_event(principal, id).await?;
        self.deliveries(Some(event.id), None, filter, page).await
    }

    pub async fn subscription_deliveries(
        &self,
        principal: &Principal,
        id: &SubscriptionId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        let sub = self.get_subscription(principal, id).await?;
        self.deliveries(None, Some(sub.id), filter, page).await
    }

    async fn deliveries(
        &self,
        event_id: Option<EventId>,
        subscription_id: Option<SubscriptionId>,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        let limit = page.limit()?;
        let query = DeliveryQuery {
            event_id,
            subscription_id,
            status: filter.status,
            since: filter.since,
            until: filter.until,
            after: page.cursor(DeliveryId::parse)?,
            limit: limit + 1,
        };
        let items = self.store.list_deliveries(&query).await?;
        Ok(paginate(items, limit, |d| d.id.to_string()))
    }

    /// Re-sends one delivery now: a new attempt on the same delivery, with the same `webhook-id`.
    pub async fn retry_delivery(
        &self,
        principal: &Principal,
        id: &DeliveryId,
    ) -> Result<AttemptReport> {
        let delivery = self.get_delivery(principal, id).await?;
        self.budget().may_retry_manually(&delivery)?;
        let Some(sub) = self
            .store
            .get_subscription(&delivery.subscription_id)
            .await?
        else {
            return Err(Error::conflict(
                ErrorCode::SubscriptionDeleted,
                "the delivery's subscription was deleted",
            ));
        };
        let event = self
            .store
            .get_event(&delivery.event_id)
            .await?
            .ok_or_else(|| Error::internal("the delivery's event is no longer stored"))?;
        self.attempt_once(&delivery, &sub, &event, None).await
    }

    /// Re-queues every failed delivery of a subscription whose event was accepted in
    /// `[since, until)` (a delivery id carries that time: a key range of the failed index), up to
    /// `MAX_RECOVER` per call. Each gets a new round of attempts on the full schedule.
    pub async fn recover(
        &self,
        principal: &Principal,
        id: &SubscriptionId,
        (since, until): (Timestamp, Option<Timestamp>),
        after: Option<&str>,
    ) -> Result<RecoverReport> {
        let after = PageRequest {
            cursor: after.map(str::to_string),
            ..Default::default()
        }
        .cursor(DeliveryId::parse)?;
        let sub = self.get_subscription(principal, id).await?;
        if until.is_some_and(|u| u <= since) {
            return Err(Error::invalid(
                ErrorCode::InvalidWindow,
                "`until` must be after `since`",
            ));
        }
        let query = DeliveryQuery {
            event_id: None,
            subscription_id: Some(sub.id.clone()),
            status: Some(DeliveryStatus::Failed),
            since: Some(since),
            until,
            after,
            limit: MAX_RECOVER + 1,
        };
        let mut failed = self.store.list_deliveries(&query).await?;
        let more = failed.len() > MAX_RECOVER;
        failed.truncate(MAX_RECOVER);
        let next_cursor = more
            .then(|| failed.last().map(|d| d.id.to_string()))
            .flatten();
        let jobs: Vec<Enqueue> = failed
            .into_iter()
            .map(|d| Enqueue::now(Job::reopen(d.id.clone(), d.version().attempts)))
            .collect();
        // a page is up to 100 batches: a few at a time, not one after another
        let chunks: Vec<Vec<Enqueue>> = jobs
            .chunks(self.queue.limits().max_batch)
            .map(<[Enqueue]>::to_vec)
            .collect();
        futures::stream::iter(chunks)
            .map(|chunk| async move { self.queue.send_batch(&chunk).await })
            .buffer_unordered(RECOVER_SENDS)
            .try_collect::<Vec<_>>()
            .await?;
        tracing::info!(subscription_id = %sub.id, tenant_id = %sub.tenant_id, queued = jobs.len(), more, "failed deliveries re-queued");
        Ok(RecoverReport {
            queued: jobs.len(),
            more,
            next_cursor,
        })
    }
}
