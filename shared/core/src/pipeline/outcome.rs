//! What an attempt's result means. 2xx is success. 410 Gone means the receiver wants no more
//! deliveries: the subscription is disabled. Every other answer (3xx, since redirects are never
//! followed; 4xx; 5xx) and every network failure or timeout is retried on the schedule, as the
//! dealer platforms we serve do ("anything else is treated as a failure and retried"), so a
//! receiver that is misconfigured for an hour still gets its events. A refused destination is
//! not retried. `Retry-After` (seconds or an HTTP date) may stretch the next delay.

use super::budget::GiveUp;
use crate::clock::Timestamp;
use crate::ports::{SendResult, TransportErrorKind};
use crate::retry_schedule::RetrySchedule;
use std::time::Duration;
use time::PrimitiveDateTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Worth trying again; `retry_after` is the receiver's own request, if any.
    Retryable {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Not worth trying again.
    Permanent {
        error: String,
    },
    /// 410 Gone: stop delivering to this subscription.
    Gone,
}

pub fn classify(result: &SendResult, now: Timestamp) -> Outcome {
    match result {
        Ok(r) if (200..300).contains(&r.status) => Outcome::Success,
        Ok(r) if r.status == 410 => Outcome::Gone,
        Ok(r) if (300..400).contains(&r.status) => Outcome::Retryable {
            error: match &r.location {
                Some(l) => format!("HTTP {}: redirect to {l} not followed", r.status),
                None => format!("HTTP {}: redirect not followed", r.status),
            },
            retry_after: None,
        },
        Ok(r) => Outcome::Retryable {
            error: format!("HTTP {}", r.status),
            retry_after: r
                .retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, now)),
        },
        Err(e) if e.kind == TransportErrorKind::DestinationNotAllowed => Outcome::Permanent {
            error: e.message.clone(),
        },
        Err(e) => Outcome::Retryable {
            error: e.message.clone(),
            retry_after: None,
        },
    }
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`.
pub fn parse_retry_after(v: &str, now: Timestamp) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = PrimitiveDateTime::parse(v, &fmt).ok()?.assume_utc();
    let at_ms = (at.unix_timestamp_nanos() / 1_000_000) as i64;
    Some(Duration::from_millis(
        at_ms.saturating_sub(now.millis()).max(0) as u64,
    ))
}

/// What happens to a job after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    Succeeded,
    RetryIn(Duration),
    /// Give up: the delivery fails and its job goes to the dead-letter queue; on
    /// [`GiveUp::Gone`] the subscription is disabled too.
    GiveUp(GiveUp),
}

/// The delivery decision: a pure function of the attempt number, its outcome and the schedule.
/// `Retry-After` can only lengthen the scheduled delay, up to the schedule's longest delay.
pub fn decide(attempt: u32, outcome: &Outcome, schedule: &RetrySchedule, jitter: f64) -> NextStep {
    match outcome {
        Outcome::Success => NextStep::Succeeded,
        Outcome::Gone => NextStep::GiveUp(GiveUp::Gone),
        Outcome::Permanent { error } => NextStep::GiveUp(GiveUp::Refused(error.clone())),
        Outcome::Retryable { error, retry_after } => match schedule.delay_after(attempt, jitter) {
            Some(delay) => {
                let asked = retry_after
                    .unwrap_or(Duration::ZERO)
                    .min(schedule.longest_delay());
                NextStep::RetryIn(delay.max(asked))
            }
            None => NextStep::GiveUp(GiveUp::Exhausted {
                attempts: attempt,
                last_error: error.clone(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{HttpResponse, TransportError};

    fn resp(status: u16) -> SendResult {
        Ok(HttpResponse {
            status,
            retry_after: None,
            location: None,
            body: String::new(),
        })
    }

    fn err(kind: TransportErrorKind) -> SendResult {
        Err(TransportError {
            kind,
            message: format!("{kind:?}"),
        })
    }

    #[test]
    fn classification_table() {
        let now = Timestamp(0);
        assert_eq!(classify(&resp(200), now), Outcome::Success);
        assert_eq!(classify(&resp(204), now), Outcome::Success);
        assert_eq!(classify(&resp(410), now), Outcome::Gone);
        for status in [301, 302, 307, 400, 401, 404, 429, 500, 502, 503] {
            assert!(
                matches!(classify(&resp(status), now), Outcome::Retryable { .. }),
                "{status}"
            );
        }
        for kind in [
            TransportErrorKind::Timeout,
            TransportErrorKind::Connect,
            TransportErrorKind::Other,
        ] {
            assert!(matches!(
                classify(&err(kind), now),
                Outcome::Retryable { .. }
            ));
        }
        assert!(matches!(
            classify(&err(TransportErrorKind::DestinationNotAllowed), now),
            Outcome::Permanent { .. }
        ));
    }

    #[test]
    fn redirects_are_failures_that_name_the_target() {
        let r = Ok(HttpResponse {
            status: 301,
            retry_after: None,
            location: Some("https://elsewhere.example.com/".into()),
            body: String::new(),
        });
        match classify(&r, Timestamp(0)) {
            Outcome::Retryable { error, .. } => assert!(error.contains("elsewhere.example.com")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_in_seconds_and_http_date() {
        let now = Timestamp::parse_rfc3339("2015-10-21T07:27:00Z").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_lengthens_within_the_schedule_bounds() {
        let schedule = RetrySchedule::parse("5s,1m").unwrap();
        let retry = |secs| Outcome::Retryable {
            error: "HTTP 429".into(),
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(
            decide(1, &retry(30), &schedule, 0.5),
            NextStep::RetryIn(Duration::from_secs(30))
        );
        // never shorter than scheduled
        assert_eq!(
            decide(1, &retry(1), &schedule, 0.5),
            NextStep::RetryIn(Duration::from_secs(5))
        );
        // never longer than the schedule's longest delay
        assert_eq!(
            decide(1, &retry(86_400), &schedule, 0.5),
            NextStep::RetryIn(Duration::from_secs(60))
        );
    }

    #[test]
    fn the_last_attempt_gives_up_with_the_last_error() {
        let schedule = RetrySchedule::parse("5s").unwrap();
        let o = Outcome::Retryable {
            error: "HTTP 500".into(),
            retry_after: None,
        };
        assert_eq!(
            decide(1, &o, &schedule, 0.5),
            NextStep::RetryIn(Duration::from_secs(5))
        );
        assert_eq!(
            decide(2, &o, &schedule, 0.5),
            NextStep::GiveUp(GiveUp::Exhausted {
                attempts: 2,
                last_error: "HTTP 500".into()
            })
        );
    }

    #[test]
    fn gone_disables_and_refused_destinations_are_not_retried() {
        let s = RetrySchedule::default();
        assert_eq!(
            decide(1, &Outcome::Gone, &s, 0.5),
            NextStep::GiveUp(GiveUp::Gone)
        );
        assert_eq!(
            decide(1, &Outcome::Permanent { error: "x".into() }, &s, 0.5),
            NextStep::GiveUp(GiveUp::Refused("x".into()))
        );
    }
}
