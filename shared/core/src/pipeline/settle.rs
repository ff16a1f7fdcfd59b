//! Settling a job's message: what each disposition does to the queue, in one place. On Lambda
//! the SQS event source deletes every message of a batch that is not reported as a failure, so
//! there Hookline writes no deletes of its own (one paid request less per delivery).

use super::job::Job;
use crate::error::Result;
use crate::hookline::{Hookline, Removal};
use crate::ports::QueueMessage;
use std::time::Duration;

/// What to do with a job's message after handling it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done (delivered, or a duplicate of a finished delivery): delete the message.
    Delete,
    /// Hide the message for this long; it comes back for the next attempt.
    Retry(Duration),
    /// Given up: move the message to the dead-letter queue with this reason.
    DeadLetter(String),
}

/// Whether a message stays in the queue after handling: a retry (its visibility is the backoff
/// delay) or a job whose handling failed (`None`: it comes back after its visibility timeout).
/// An event source must be told of exactly these as batch item failures.
pub fn stays_in_queue(outcome: Option<&Disposition>) -> bool {
    matches!(outcome, None | Some(Disposition::Retry(_)))
}

impl Hookline {
    /// Applies a disposition to the queue the job came from.
    pub async fn settle(&self, message: &QueueMessage, disposition: &Disposition) -> Result<()> {
        let removed_by_us = self.settings.removal == Removal::Hookline;
        match disposition {
            Disposition::Delete if removed_by_us => self.queue.delete(&message.receipt).await,
            Disposition::Delete => Ok(()),
            Disposition::Retry(delay) => {
                self.queue.change_visibility(&message.receipt, *delay).await
            }
            Disposition::DeadLetter(reason) => {
                // Redriven from the dead-letter queue, the job reopens its failed delivery.
                let body = Job::dead_letter_body(&message.body);
                self.queue.dead_letter(message, &body, reason).await?;
                if removed_by_us {
                    self.queue.delete(&message.receipt).await?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_retries_and_unhandled_jobs_stay_in_the_queue() {
        assert!(stays_in_queue(None));
        assert!(stays_in_queue(Some(&Disposition::Retry(
            Duration::from_secs(5)
        ))));
        assert!(!stays_in_queue(Some(&Disposition::Delete)));
        assert!(!stays_in_queue(Some(&Disposition::DeadLetter("x".into()))));
    }
}
