//! Dispatch: a received job becomes at most one attempt. The job's delivery is loaded and its
//! state decides what happens: a finished delivery sends nothing, a failed one is dead-lettered
//! again unless the job reopens it, a pending one is attempted if its subscription, its event and
//! its budget allow. A batch is handled concurrently and each message settled.

use super::budget::GiveUp;
use super::job::Job;
use super::settle::Disposition;
use crate::delivery::DeliveryStatus;
use crate::error::Result;
use crate::hookline::Hookline;
use crate::ports::QueueMessage;

impl Hookline {
    /// Handles one job message and decides its disposition. An `Err` means the outcome could not
    /// be recorded (store or queue trouble): leave the message alone and it comes back.
    pub async fn handle_job(&self, message: &QueueMessage) -> Result<Disposition> {
        let Some(job) = Job::decode(&message.body) else {
            tracing::error!(message_id = %message.id, "malformed job message dead-lettered");
            return Ok(Disposition::DeadLetter(GiveUp::MalformedJob.reason()));
        };
        let Some(mut delivery) = self.store.get_delivery(&job.delivery_id).await? else {
            tracing::error!(delivery_id = %job.delivery_id, "job for an unknown delivery dead-lettered");
            return Ok(Disposition::DeadLetter(GiveUp::DeliveryMissing.reason()));
        };
        let budget = self.budget();
        match delivery.status {
            DeliveryStatus::Succeeded => return Ok(Disposition::Delete),
            // Recovery or redrive: a new round of attempts on the full schedule.
            DeliveryStatus::Failed if job.reopen => {
                if let Err(give_up) = budget.may_reopen(&delivery) {
                    return Ok(Disposition::DeadLetter(give_up.reason()));
                }
                delivery.attempt_base = delivery.attempts.len() as u32;
                delivery.status = DeliveryStatus::Pending;
                delivery.failure_reason = None;
            }
            // Failure was recorded but the message was not moved yet (a crash in between).
            DeliveryStatus::Failed => {
                let reason = delivery.failure_reason.unwrap_or_else(|| "failed".into());
                return Ok(Disposition::DeadLetter(reason));
            }
            DeliveryStatus::Pending => {}
        }
        let sub = match self
            .store
            .get_subscription(&delivery.subscription_id)
            .await?
        {
            None => {
                return self
                    .give_up(&delivery, None, GiveUp::SubscriptionDeleted)
                    .await;
            }
            Some(s) if !s.enabled => {
                let why = GiveUp::SubscriptionDisabled(s.disabled_reason.clone());
                return self.give_up(&delivery, None, why).await;
            }
            Some(s) => s,
        };
        let Some(event) = self.store.get_event(&delivery.event_id).await? else {
            return self.give_up(&delivery, None, GiveUp::EventMissing).await;
        };
        match budget.next_attempt(&delivery) {
            Ok(in_round) => self.attempt(&delivery, &sub, &event, in_round).await,
            Err(give_up) => self.give_up(&delivery, None, give_up).await,
        }
    }

    /// Handles one job and settles its message. `None` means the outcome could not be recorded
    /// or applied: the message is left to come back after its visibility timeout.
    pub async fn process(&self, message: &QueueMessage) -> Option<Disposition> {
        let outcome = match self.handle_job(message).await {
            Ok(d) => self.settle(message, &d).await.map(|_| d),
            Err(e) => Err(e),
        };
        outcome
            .inspect_err(|e| {
                tracing::error!(message_id = %message.id, error = %e, "job left for redelivery")
            })
            .ok()
    }

    /// Delivers a batch concurrently; one result per message, in order (see `process`).
    pub async fn process_batch(&self, messages: &[QueueMessage]) -> Vec<Option<Disposition>> {
        futures::future::join_all(messages.iter().map(|m| self.process(m))).await
    }
}
