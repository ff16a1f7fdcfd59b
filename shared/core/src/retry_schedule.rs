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
}
