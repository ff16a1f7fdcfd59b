//! Jobs: what the queue carries. A job names a delivery, the attempt it carries and when that
//! attempt is due; the attempts themselves live in the store. Every retry is a new message (the
//! old one is removed), so a job's number says which step of its delivery's one retry chain it
//! is, and a copy that falls behind the chain is recognised and dropped. Jobs hold no secret and
//! no signature: dead letters are kept for 14 days. The job owns its wire encoding.

use crate::clock::Timestamp;
use crate::ids::{DeliveryId, SubscriptionId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub delivery_id: DeliveryId,
    /// The attempt this job carries, counted over the delivery's life from 1 (its attempts so
    /// far plus one when it was queued). 0 in a message queued before jobs were numbered: taken
    /// as the delivery's next attempt.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// Not to be attempted before this time: a job received earlier is sent on with a delay,
    /// without reading the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Timestamp>,
    /// Set by recovery and redrive: a failed delivery gets a new round of attempts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reopen: bool,
    /// The job holds its subscription's send slot at `due` (a rate-limited subscription): it is
    /// attempted then without taking another.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paced: bool,
    /// The delivery's subscription, set on a delivery's first job: the main lane forwards the
    /// job of a failing or stalled endpoint to the slow lane without reading the delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<SubscriptionId>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Job {
    /// The first job of a new delivery.
    pub fn first(delivery_id: DeliveryId) -> Self {
        Job {
            delivery_id,
            attempt: 1,
            due: None,
            reopen: false,
            paced: false,
            subscription_id: None,
        }
    }

    /// The job of attempt `attempt`, due at `due`.
    pub fn next(delivery_id: DeliveryId, attempt: u32, due: Option<Timestamp>) -> Self {
        Job {
            delivery_id,
            attempt,
            due,
            reopen: false,
            paced: false,
            subscription_id: None,
        }
    }

    /// A job that gives a failed delivery with `attempts` attempts a new round (recovery; a
    /// redriven dead letter).
    pub fn reopen(delivery_id: DeliveryId, attempts: u32) -> Self {
        Job {
            delivery_id,
            attempt: attempts + 1,
            due: None,
            reopen: true,
            paced: false,
            subscription_id: None,
        }
    }

    /// The same job, naming its delivery's subscription.
    pub fn of(mut self, subscription_id: SubscriptionId) -> Self {
        self.subscription_id = Some(subscription_id);
        self
    }

    /// The same job, due at `due`: re-timed, it no longer holds a send slot (it takes one when
    /// it is attempted).
    pub fn due_at(mut self, due: Timestamp) -> Self {
        self.due = Some(due);
        self.paced = false;
        self
    }

    /// The same job holding its subscription's send slot at `slot`.
    pub fn paced_at(mut self, slot: Timestamp) -> Self {
        self.due = Some(slot);
        self.paced = true;
        self
    }

    /// The message body: `{"delivery_id":"dlv_...","attempt":1}`, with `"due"`,
    /// `"reopen":true` and `"paced":true` when set.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("jobs serialize")
    }

    pub fn decode(body: &str) -> Option<Self> {
        serde_json::from_str(body).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_round_trips_with_only_the_fields_it_sets() {
        let id = DeliveryId::generate();
        let first = Job::first(id.clone());
        let body = first.encode();
        assert_eq!(body, format!("{{\"delivery_id\":\"{id}\",\"attempt\":1}}"));
        assert_eq!(Job::decode(&body), Some(first));
        let later = Job::next(id.clone(), 3, Some(Timestamp(1_000)));
        assert!(
            later
                .encode()
                .contains("\"due\":\"1970-01-01T00:00:01.000Z\"")
        );
        assert_eq!(Job::decode(&later.encode()), Some(later));
        let reopen = Job::reopen(id.clone(), 8);
        assert_eq!((reopen.attempt, reopen.reopen), (9, true));
        assert_eq!(Job::decode(&reopen.encode()), Some(reopen));
        let paced = Job::first(id.clone()).paced_at(Timestamp(2_000));
        assert!(
            paced.encode().ends_with(",\"paced\":true}"),
            "{}",
            paced.encode()
        );
        assert_eq!(Job::decode(&paced.encode()), Some(paced.clone()));
        let retimed = paced.due_at(Timestamp(9_000));
        assert_eq!(
            (retimed.due, retimed.paced),
            (Some(Timestamp(9_000)), false)
        );
        assert_eq!(Job::decode("{\"delivery_id\":\"evt_1\"}"), None);
        assert_eq!(Job::decode("not a job"), None);
    }

    #[test]
    fn a_job_queued_before_numbering_decodes_as_the_next_attempt() {
        let id = DeliveryId::generate();
        let old = Job::decode(&format!("{{\"delivery_id\":\"{id}\"}}")).unwrap();
        assert_eq!((old.attempt, old.due, old.reopen), (0, None, false));
    }
}
