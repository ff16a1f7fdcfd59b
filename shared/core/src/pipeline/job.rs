//! Jobs: what the queue carries. A job names a delivery and nothing else; the attempt count lives
//! in the store, so a redelivered message never skews it. The job owns its wire encoding.

use crate::ids::DeliveryId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub delivery_id: DeliveryId,
    /// Set by recovery and redrive: a failed delivery gets a new round of attempts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reopen: bool,
}

impl Job {
    /// The first job of a new delivery.
    pub fn deliver(delivery_id: DeliveryId) -> Self {
        Job {
            delivery_id,
            reopen: false,
        }
    }

    /// A job that gives a failed delivery a new round (recovery; a redriven dead letter).
    pub fn reopen(delivery_id: DeliveryId) -> Self {
        Job {
            delivery_id,
            reopen: true,
        }
    }

    /// The message body: `{"delivery_id":"dlv_..."}`, with `"reopen":true` when set.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("jobs serialize")
    }

    pub fn decode(body: &str) -> Option<Self> {
        serde_json::from_str(body).ok()
    }

    /// What a dead letter of `body` carries: the same delivery, reopening when redriven. A body
    /// that is not a job is kept as it came, for ops to read.
    pub fn dead_letter_body(body: &str) -> String {
        match Job::decode(body) {
            Some(job) => Job::reopen(job.delivery_id).encode(),
            None => body.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_round_trips_and_a_dead_letter_reopens_it() {
        let job = Job::deliver(DeliveryId::generate());
        let body = job.encode();
        assert!(!body.contains("reopen"));
        assert_eq!(Job::decode(&body), Some(job.clone()));
        let dead = Job::decode(&Job::dead_letter_body(&body)).unwrap();
        assert_eq!(dead, Job::reopen(job.delivery_id));
        assert_eq!(Job::dead_letter_body("not a job"), "not a job");
        assert_eq!(Job::decode("{\"delivery_id\":\"evt_1\"}"), None);
    }
}
