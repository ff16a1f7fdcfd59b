//! The attempt budget and every reason a delivery is given up on. A delivery has a round of
//! attempts on the retry schedule (a recovery or redrive starts a new round) and a lifetime
//! limit across rounds and manual retries, which the store declares: attempts are stored in the
//! delivery's record, which must stay below the store's item size limit.

use crate::delivery::Delivery;
use crate::error::{Error, ErrorCode, Result};
use crate::ports::DeliveryLimits;
use crate::retry_schedule::RetrySchedule;

/// Why a delivery failed. Each has one message, recorded as the delivery's `failure_reason`,
/// carried by the dead letter and the failure notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiveUp {
    /// The queue message is not a job.
    MalformedJob,
    /// The job names a delivery the store does not have.
    DeliveryMissing,
    SubscriptionDeleted,
    /// The subscription is paused or disabled; the reason it was disabled, if Hookline did it.
    SubscriptionDisabled(Option<String>),
    EventMissing,
    /// The delivery has had as many attempts as its store allows one delivery.
    LifetimeLimit {
        limit: usize,
    },
    /// The round's attempts were all made before this job came (a crash after the last one).
    RoundUsed {
        attempts: u32,
    },
    /// The last attempt of the round failed too.
    Exhausted {
        attempts: u32,
        last_error: String,
    },
    /// The endpoint answered 410 Gone: the subscription is disabled.
    Gone,
    /// The destination is refused (an address the policy does not allow).
    Refused(String),
}

impl GiveUp {
    pub fn reason(&self) -> String {
        match self {
            GiveUp::MalformedJob => "malformed job message".into(),
            GiveUp::DeliveryMissing => "delivery not found".into(),
            GiveUp::SubscriptionDeleted => "subscription was deleted".into(),
            GiveUp::SubscriptionDisabled(why) => why
                .clone()
                .unwrap_or_else(|| "subscription is paused".into()),
            GiveUp::EventMissing => "event is no longer stored".into(),
            GiveUp::LifetimeLimit { limit } => {
                format!("the delivery reached its limit of {limit} attempts")
            }
            GiveUp::RoundUsed { attempts } => format!("all {attempts} attempts were used"),
            GiveUp::Exhausted {
                attempts,
                last_error,
            } => format!("gave up after {attempts} attempts; last error: {last_error}"),
            GiveUp::Gone => "endpoint answered 410 Gone; subscription disabled".into(),
            GiveUp::Refused(error) => error.clone(),
        }
    }

    /// Whether the tenant is told (`hookline.delivery.failed`). Its own pause or delete is not
    /// a failure worth alerting on; a job that never named a delivery has no tenant to tell.
    pub fn notifies(&self) -> bool {
        !matches!(
            self,
            GiveUp::MalformedJob
                | GiveUp::DeliveryMissing
                | GiveUp::SubscriptionDeleted
                | GiveUp::SubscriptionDisabled(_)
        )
    }
}

/// The budget of the deployment's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptBudget {
    /// Attempts in one round: the schedule's delays plus the first attempt.
    pub per_round: u32,
    pub lifetime: usize,
}

impl AttemptBudget {
    pub fn of(schedule: &RetrySchedule, limits: DeliveryLimits) -> Self {
        AttemptBudget {
            per_round: schedule.max_attempts(),
            lifetime: limits.max_attempts_per_delivery,
        }
    }

    fn lifetime_limit(&self) -> GiveUp {
        GiveUp::LifetimeLimit {
            limit: self.lifetime,
        }
    }

    /// The number, within its round, of the delivery's next attempt, or why there is none.
    pub fn next_attempt(&self, delivery: &Delivery) -> std::result::Result<u32, GiveUp> {
        if delivery.attempts.len() >= self.lifetime {
            return Err(self.lifetime_limit());
        }
        let in_round = delivery.next_attempt_in_round();
        if in_round > self.per_round {
            return Err(GiveUp::RoundUsed {
                attempts: in_round - 1,
            });
        }
        Ok(in_round)
    }

    /// Whether a failed delivery may start a new round (recovery, redrive).
    pub fn may_reopen(&self, delivery: &Delivery) -> std::result::Result<(), GiveUp> {
        if delivery.attempts.len() >= self.lifetime {
            Err(self.lifetime_limit())
        } else {
            Ok(())
        }
    }

    /// Whether a manual retry may make one more attempt; refused with 409 otherwise.
    pub fn may_retry_manually(&self, delivery: &Delivery) -> Result<()> {
        self.may_reopen(delivery)
            .map_err(|g| Error::conflict(ErrorCode::AttemptLimitReached, g.reason()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(attempts: usize, base: u32) -> Delivery {
        use crate::delivery::{DeliveryStatus, test_delivery};
        test_delivery(DeliveryStatus::Pending, attempts as u32, base)
    }

    fn budget() -> AttemptBudget {
        let limits = DeliveryLimits {
            max_attempts_per_delivery: 100,
        };
        AttemptBudget::of(&RetrySchedule::parse("1s,1s").unwrap(), limits)
    }

    #[test]
    fn attempts_are_numbered_within_their_round() {
        assert_eq!(budget().per_round, 3);
        assert_eq!(budget().next_attempt(&delivery(0, 0)), Ok(1));
        assert_eq!(budget().next_attempt(&delivery(2, 0)), Ok(3));
        assert_eq!(
            budget().next_attempt(&delivery(3, 0)),
            Err(GiveUp::RoundUsed { attempts: 3 })
        );
        // a reopened delivery starts counting again
        assert_eq!(budget().next_attempt(&delivery(3, 3)), Ok(1));
    }

    #[test]
    fn the_lifetime_limit_stops_every_kind_of_attempt() {
        let full = delivery(100, 100);
        let limit = GiveUp::LifetimeLimit { limit: 100 };
        assert_eq!(budget().next_attempt(&full), Err(limit.clone()));
        assert_eq!(budget().may_reopen(&full), Err(limit));
        let e = budget().may_retry_manually(&full).unwrap_err();
        assert_eq!(e.code, ErrorCode::AttemptLimitReached);
        assert!(e.message.contains("limit of 100 attempts"));
        assert!(budget().may_retry_manually(&delivery(99, 99)).is_ok());
    }

    #[test]
    fn every_reason_has_its_message_and_only_failures_notify() {
        let cases = [
            (GiveUp::MalformedJob, "malformed job message", false),
            (GiveUp::DeliveryMissing, "delivery not found", false),
            (
                GiveUp::SubscriptionDeleted,
                "subscription was deleted",
                false,
            ),
            (
                GiveUp::SubscriptionDisabled(None),
                "subscription is paused",
                false,
            ),
            (
                GiveUp::SubscriptionDisabled(Some("endpoint answered 410 Gone".into())),
                "endpoint answered 410 Gone",
                false,
            ),
            (GiveUp::EventMissing, "event is no longer stored", true),
            (
                GiveUp::LifetimeLimit { limit: 100 },
                "the delivery reached its limit of 100 attempts",
                true,
            ),
            (
                GiveUp::RoundUsed { attempts: 8 },
                "all 8 attempts were used",
                true,
            ),
            (
                GiveUp::Exhausted {
                    attempts: 8,
                    last_error: "HTTP 500".into(),
                },
                "gave up after 8 attempts; last error: HTTP 500",
                true,
            ),
            (
                GiveUp::Gone,
                "endpoint answered 410 Gone; subscription disabled",
                true,
            ),
            (GiveUp::Refused("refused".into()), "refused", true),
        ];
        for (give_up, reason, notifies) in cases {
            assert_eq!(give_up.reason(), reason);
            assert_eq!(give_up.notifies(), notifies, "{give_up:?}");
        }
    }
}
