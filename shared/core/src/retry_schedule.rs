//! When to try again. A schedule is the list of delays between attempts (`5s,5m,30m,2h,5h,10h,10h`
//! means 8 attempts in all); each delay gets ±10% jitter so endpoints that failed together are not
//! retried together. A single delay is at most 12 hours and a schedule's waits at most 7 days:
//! Hookline's choice, not a queue's limit (a wait is a delayed message, sent again in hops of
//! the queue's longest delay, so it never holds the queue's in-flight capacity).

use crate::error::ErrorCode;
use crate::error::{Error, Result};
use std::time::Duration;

pub const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";
/// The longest single delay of a schedule.
pub const MAX_DELAY: Duration = Duration::from_secs(12 * 3600);
pub const MAX_RETRIES: usize = 30;
/// The waits of a schedule add up to at most this: with jitter and attempt time a job stays well
/// inside the delivery queue's 14-day retention (SQS would drop it silently otherwise).
pub const MAX_TOTAL_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);
const JITTER: f64 = 0.10;
/// Receives beyond the attempts before the queue redrives a job on its own.
pub const REDRIVE_MARGIN: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule::parse(DEFAULT_SCHEDULE).expect("default schedule is valid")
    }
}

impl RetrySchedule {
    pub fn new(delays: Vec<Duration>) -> Result<Self> {
        if delays.len() > MAX_RETRIES {
            return Err(Error::invalid(
                ErrorCode::InvalidRetrySchedule,
                format!("a retry schedule has at most {MAX_RETRIES} delays"),
            ));
        }
        if let Some(d) = delays.iter().find(|d| d.is_zero() || **d > MAX_DELAY) {
            return Err(Error::invalid(
                ErrorCode::InvalidRetrySchedule,
                format!("retry delay {d:?} must be above zero and at most 12h"),
            ));
        }
        if delays.iter().sum::<Duration>() > MAX_TOTAL_DELAY {
            return Err(Error::invalid(
                ErrorCode::InvalidRetrySchedule,
                "the delays of a retry schedule add up to at most 7 days",
            ));
        }
        Ok(RetrySchedule { delays })
    }

    /// Parses comma-separated durations such as `5s,5m,30m,2h`. Units: ms, s, m, h. An empty
    /// string means "no retries".
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            return RetrySchedule::new(Vec::new());
        }
        let delays = s
            .split(',')
            .map(|p| parse_duration(p.trim()))
            .collect::<Result<Vec<_>>>()?;
        RetrySchedule::new(delays)
    }

    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// Attempts in all: the first plus one per delay.
    pub fn max_attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    /// The queue's redrive threshold, derived here so queue configuration and retry policy
    /// cannot disagree. The dispatcher dead-letters a job itself after its last attempt; the
    /// margin lets the queue's own redrive catch only jobs whose handler kept crashing.
    pub fn max_receive_count(&self) -> u32 {
        self.max_attempts() + REDRIVE_MARGIN
    }

    pub fn longest_delay(&self) -> Duration {
        self.delays.iter().copied().max().unwrap_or(Duration::ZERO)
    }

    /// The wait after failed attempt number `attempt` (1-based), or `None` when it was the last.
    /// `jitter` is a uniform random number in [0, 1).
    pub fn delay_after(&self, attempt: u32, jitter: f64) -> Option<Duration> {
        let base = *self.delays.get(attempt.checked_sub(1)? as usize)?;
        let factor = 1.0 + JITTER * (2.0 * jitter.clamp(0.0, 1.0) - 1.0);
        Some(base.mul_f64(factor).min(MAX_DELAY))
    }
}

/// A subscription's own retry policy (`retry_schedule`, `max_attempts`), within the deployment's
/// schedule's bounds: no more delays than it has and none shorter than its shortest, so the
/// queue's redrive threshold (derived from the deployment's schedule) holds for every policy.
/// Unset parts fall back to the deployment's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy<'a> {
    pub schedule: Option<&'a RetrySchedule>,
    pub max_attempts: Option<u32>,
}

impl RetryPolicy<'_> {
    /// The schedule a delivery follows: the subscription's own or the deployment's, cut to
    /// `max_attempts`. A cap above the schedule's attempts (the deployment's schedule was
    /// shortened since) leaves the schedule whole.
    pub fn schedule(&self, deployment: &RetrySchedule) -> RetrySchedule {
        let base = self.schedule.unwrap_or(deployment);
        match self.max_attempts {
            Some(max) if max < base.max_attempts() => RetrySchedule {
                delays: base.delays[..max.saturating_sub(1) as usize].to_vec(),
            },
            _ => base.clone(),
        }
    }

    /// Whether the policy stays within the deployment's bounds; checked when it is set.
    pub fn check(&self, deployment: &RetrySchedule) -> Result<()> {
        if let Some(own) = self.schedule
            && own.delays.len() > deployment.delays.len()
        {
            return Err(Error::invalid(
                ErrorCode::InvalidRetrySchedule,
                format!(
                    "a subscription's retry schedule has at most {} delays, as many as this \
                     deployment's ({deployment})",
                    deployment.delays.len()
                ),
            ));
        }
        if let (Some(own), Some(shortest)) = (self.schedule, deployment.delays.iter().min())
            && let Some(d) = own.delays.iter().find(|d| *d < shortest)
        {
            return Err(Error::invalid(
                ErrorCode::InvalidRetrySchedule,
                format!(
                    "retry delay {} is shorter than this deployment's shortest delay, {}",
                    format_duration(*d),
                    format_duration(*shortest)
                ),
            ));
        }
        let Some(max) = self.max_attempts else {
            return Ok(());
        };
        let base = self.schedule.unwrap_or(deployment);
        if max == 0 || max > base.max_attempts() {
            let whose = if self.schedule.is_some() {
                "its `retry_schedule`"
            } else {
                "this deployment's retry schedule"
            };
            return Err(Error::invalid(
                ErrorCode::InvalidMaxAttempts,
                format!(
                    "`max_attempts` must be between 1 and {}, the attempts of {whose} ({base}); \
                     give a longer `retry_schedule` for more",
                    base.max_attempts()
                ),
            ));
        }
        Ok(())
    }
}

impl serde::Serialize for RetrySchedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RetrySchedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RetrySchedule::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

impl std::fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.delays.iter().map(|d| format_duration(*d)).collect();
        f.write_str(&parts.join(","))
    }
}

fn parse_duration(p: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid(
            ErrorCode::InvalidRetrySchedule,
            format!("`{p}` is not a duration: use a number with ms, s, m or h (e.g. 30s, 5m)"),
        )
    };
    let split = p.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = p.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Duration::from_millis(ms))
}

fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        _ if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        _ if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        _ if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        _ => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1;
    const M: u64 = 60;
    const H: u64 = 3600;

    #[test]
    fn default_schedule_has_eight_attempts_with_each_step() {
        let s = RetrySchedule::default();
        assert_eq!(s.max_attempts(), 8);
        let expected = [5 * S, 5 * M, 30 * M, 2 * H, 5 * H, 10 * H, 10 * H];
        for (i, secs) in expected.iter().enumerate() {
            // jitter 0.5 is the midpoint: exactly the scheduled delay
            assert_eq!(
                s.delay_after(i as u32 + 1, 0.5),
                Some(Duration::from_secs(*secs))
            );
        }
        assert_eq!(
            s.delay_after(8, 0.5),
            None,
            "the eighth attempt is the last"
        );
        assert_eq!(s.delay_after(0, 0.5), None);
        assert_eq!(s.to_string(), DEFAULT_SCHEDULE);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let s = RetrySchedule::parse("100s").unwrap();
        assert_eq!(s.delay_after(1, 0.0), Some(Duration::from_secs(90)));
        let hi = s.delay_after(1, 0.999_999).unwrap();
        assert!(
            hi > Duration::from_secs(109) && hi <= Duration::from_secs(110),
            "{hi:?}"
        );
        for j in 0..100 {
            let d = s.delay_after(1, j as f64 / 100.0).unwrap();
            assert!(d >= Duration::from_secs(90) && d <= Duration::from_secs(110));
        }
    }

    #[test]
    fn jitter_never_exceeds_the_sqs_limit() {
        let s = RetrySchedule::parse("12h").unwrap();
        assert_eq!(s.delay_after(1, 0.999), Some(MAX_DELAY));
    }

    #[test]
    fn bad_schedules_are_refused() {
        for bad in ["5x", "s", "-1s", "0s", "13h", "5s,,5s", "1.5s"] {
            assert_eq!(
                RetrySchedule::parse(bad).unwrap_err().code,
                "invalid_retry_schedule",
                "{bad}"
            );
        }
        assert_eq!(RetrySchedule::parse("").unwrap().max_attempts(), 1);
        assert_eq!(RetrySchedule::parse("250ms, 1s").unwrap().delays().len(), 2);
    }

    #[test]
    fn delays_add_up_to_at_most_seven_days() {
        let week = vec!["12h"; 14].join(",");
        assert_eq!(RetrySchedule::parse(&week).unwrap().max_attempts(), 15);
        let more = format!("{week},1s");
        assert_eq!(
            RetrySchedule::parse(&more).unwrap_err().code,
            "invalid_retry_schedule"
        );
    }

    fn policy(schedule: Option<&RetrySchedule>, max_attempts: Option<u32>) -> RetryPolicy<'_> {
        RetryPolicy {
            schedule,
            max_attempts,
        }
    }

    #[test]
    fn a_policy_falls_back_to_the_deployment_schedule() {
        let deployment = RetrySchedule::default();
        assert_eq!(policy(None, None).schedule(&deployment), deployment);
        let own = RetrySchedule::parse("10s,1m").unwrap();
        assert_eq!(policy(Some(&own), None).schedule(&deployment), own);
    }

    #[test]
    fn max_attempts_cuts_the_schedule_in_force() {
        let deployment = RetrySchedule::default();
        // "up to 3 retries": four attempts, the deployment's first three delays
        let s = policy(None, Some(4)).schedule(&deployment);
        assert_eq!(s.to_string(), "5s,5m,30m");
        assert_eq!(s.max_attempts(), 4);
        assert_eq!(
            policy(None, Some(1)).schedule(&deployment).max_attempts(),
            1
        );
        let own = RetrySchedule::parse("10s,1m,2m").unwrap();
        assert_eq!(
            policy(Some(&own), Some(2))
                .schedule(&deployment)
                .to_string(),
            "10s"
        );
        // a deployment schedule shortened after the cap was set: the cap no longer cuts
        let short = RetrySchedule::parse("5s").unwrap();
        assert_eq!(policy(None, Some(4)).schedule(&short), short);
    }

    #[test]
    fn a_policy_stays_within_the_deployment_bounds() {
        let deployment = RetrySchedule::parse("1s,5m,5m").unwrap();
        let own = RetrySchedule::parse("2s,2s,12h").unwrap();
        let longer = RetrySchedule::parse("2s,2s,2s,2s").unwrap();
        assert!(policy(None, None).check(&deployment).is_ok());
        assert!(policy(Some(&own), Some(4)).check(&deployment).is_ok());
        assert!(policy(None, Some(3)).check(&deployment).is_ok());
        for (p, code) in [
            (policy(None, Some(0)), "invalid_max_attempts"),
            (policy(None, Some(5)), "invalid_max_attempts"),
            (policy(Some(&own), Some(5)), "invalid_max_attempts"),
            (policy(Some(&longer), None), "invalid_retry_schedule"),
        ] {
            let e = p.check(&deployment).unwrap_err();
            assert_eq!(e.code, code, "{p:?}");
        }
        let faster = RetrySchedule::parse("500ms,2s").unwrap();
        let e = policy(Some(&faster), None).check(&deployment).unwrap_err();
        assert_eq!(e.code, "invalid_retry_schedule");
        assert!(e.message.contains("500ms"), "{}", e.message);
        // no retries at all is within any deployment's bounds
        let none = RetrySchedule::parse("").unwrap();
        assert!(policy(Some(&none), Some(1)).check(&deployment).is_ok());
    }

    #[test]
    fn a_schedule_is_stored_as_its_text() {
        let s = RetrySchedule::parse("250ms,5s,1m").unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json, serde_json::json!("250ms,5s,1m"));
        assert_eq!(serde_json::from_value::<RetrySchedule>(json).unwrap(), s);
        assert!(serde_json::from_value::<RetrySchedule>(serde_json::json!("5x")).is_err());
    }
}
