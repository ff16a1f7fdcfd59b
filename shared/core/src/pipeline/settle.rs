//! Settling a job's message: what each disposition does to the queue, in one place. A retry, or
//! a job sent on to wait, is a new (delayed) message and the old one is removed, so a message is
//! in flight only while it is handled. The new messages of a whole batch go out in full
//! `send_batch` requests. On Lambda the SQS event source deletes every message of a batch that
//! is not reported as a failure, so there Hookline writes no deletes of its own.

use super::job::Job;
use crate::hookline::{Hookline, Removal};
use crate::ports::{Enqueue, QueueMessage};

/// What to do with a job's message after handling it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done (delivered, or a copy the retry chain left behind): delete the message.
    Delete,
    /// Replace the message with this job: the next attempt after a backoff, or the same job
    /// sent on to wait until it is due.
    Requeue(Enqueue),
    /// Given up: move the message to the dead-letter queue with this reason. A redrive delivers
    /// `redrive` (a job that reopens the delivery), or the body as it came when there is none.
    DeadLetter {
        reason: String,
        redrive: Option<Job>,
    },
}

impl Disposition {
    /// Dead-letters a message that is not a job, or names nothing: a redrive sends it as it came.
    pub fn dead_letter(reason: String) -> Self {
        Disposition::DeadLetter {
            reason,
            redrive: None,
        }
    }
}

/// Whether a message stays in the queue after handling: only a job whose handling failed
/// (`None`), which comes back after its visibility timeout. An event source must be told of
/// exactly these as batch item failures.
pub fn stays_in_queue(outcome: Option<&Disposition>) -> bool {
    outcome.is_none()
}

impl Hookline {
    /// Applies the dispositions of a batch to the queue it came from: the replacement jobs in
    /// full batches (each to its lane's queue; where Hookline deletes, each received message is
    /// replaced by its new one in the same call), then the others' dead letters, then the
    /// removal of every settled message that was not replaced, in one `delete_batch`. A message
    /// whose settling failed is reported as `None` (it comes back and is handled again, which
    /// the retry chain makes harmless).
    pub async fn settle_batch(
        &self,
        messages: &[QueueMessage],
        mut dispositions: Vec<Option<Disposition>>,
    ) -> Vec<Option<Disposition>> {
        let replaces = self.settings.removal == Removal::Hookline;
        let requeued = dispositions
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match d {
                Some(Disposition::Requeue(e)) => Some((e.lane, (i, e.clone()))),
                _ => None,
            });
        for (queue, of_queue) in self.lanes.by_queue(requeued) {
            for chunk in of_queue.chunks(queue.limits().max_batch) {
                let sent = if replaces {
                    let moves: Vec<(String, Enqueue)> = chunk
                        .iter()
                        .map(|(i, e)| (messages[*i].receipt.clone(), e.clone()))
                        .collect();
                    self.queue.replace(&moves, queue.as_ref()).await
                } else {
                    let jobs: Vec<Enqueue> = chunk.iter().map(|(_, e)| e.clone()).collect();
                    queue.send_batch(&jobs).await
                };
                if let Err(e) = sent {
                    tracing::error!(error = %e, jobs = chunk.len(), "requeue failed; jobs left for redelivery");
                    for (i, _) in chunk {
                        dispositions[*i] = None;
                    }
                }
            }
        }
        // a given-up message's dead letter is written before the message is removed
        let dead_letters = messages.iter().zip(dispositions).map(|(m, d)| async move {
            let d = d?;
            if let Disposition::DeadLetter { reason, redrive } = &d {
                let body = redrive
                    .as_ref()
                    .map(Job::encode)
                    .unwrap_or_else(|| m.body.clone());
                if let Err(e) = self.queue.dead_letter(m, &body, reason).await {
                    tracing::error!(message_id = %m.id, error = %e, "job left for redelivery");
                    return None;
                }
            }
            Some(d)
        });
        let mut settled = futures::future::join_all(dead_letters).await;
        if self.settings.removal == Removal::Hookline {
            let removed: Vec<usize> = (0..settled.len())
                .filter(|&i| {
                    matches!(
                        settled[i],
                        Some(Disposition::Delete | Disposition::DeadLetter { .. })
                    )
                })
                .collect();
            let receipts: Vec<String> = removed
                .iter()
                .map(|&i| messages[i].receipt.clone())
                .collect();
            if !receipts.is_empty()
                && let Err(e) = self.queue.delete_batch(&receipts).await
            {
                tracing::error!(error = %e, messages = receipts.len(), "delete failed; jobs left for redelivery");
                for i in removed {
                    settled[i] = None;
                }
            }
        }
        settled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DeliveryId;

    #[test]
    fn only_unhandled_jobs_stay_in_the_queue() {
        assert!(stays_in_queue(None));
        let requeue = Disposition::Requeue(Enqueue::now(Job::first(DeliveryId::generate())));
        assert!(!stays_in_queue(Some(&requeue)));
        assert!(!stays_in_queue(Some(&Disposition::Delete)));
        assert!(!stays_in_queue(Some(&Disposition::dead_letter("x".into()))));
    }
}
