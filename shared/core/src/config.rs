//! Hookline's settings, defined once: every default and range lives here, read from flags by
//! `hookline dev` (as a flattened clap group) and from the same environment variables by the
//! Lambda functions, and validated once, when the process starts.

use crate::destination::DestinationPolicy;
use crate::hookline::{Removal, Settings};
use crate::retry_schedule::{DEFAULT_SCHEDULE, RetrySchedule};
use crate::subscription::{DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS, MIN_TIMEOUT_MS};
use std::time::Duration;

pub const DEFAULT_RETENTION_DAYS: u64 = 30;

fn schedule(s: &str) -> Result<RetrySchedule, String> {
    RetrySchedule::parse(s).map_err(|e| e.message)
}

/// The delivery settings shared by every runtime. Each field is a flag of `hookline dev` and
/// an environment variable of the functions (the templates set them from their parameters).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Config {
    /// Delays between attempts, comma-separated (units ms, s, m, h).
    #[arg(long, env = "HOOKLINE_RETRY_SCHEDULE", default_value = DEFAULT_SCHEDULE, value_parser = schedule)]
    pub retry_schedule: RetrySchedule,
    /// Allow delivering to loopback and private addresses (needed for a receiver on 127.0.0.1).
    #[arg(long, env = "HOOKLINE_ALLOW_PRIVATE_DESTINATIONS")]
    pub allow_private_destinations: bool,
    /// Refuse subscription URLs that are not https.
    #[arg(long, env = "HOOKLINE_REQUIRE_HTTPS")]
    pub require_https: bool,
    /// Timeout in milliseconds of deliveries to subscriptions that set no `timeout_ms`.
    #[arg(long, env = "HOOKLINE_DELIVERY_TIMEOUT_MS", default_value_t = DEFAULT_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS))]
    pub delivery_timeout_ms: u64,
    /// Days events and deliveries are kept (DynamoDB TTL).
    #[arg(long, env = "HOOKLINE_RETENTION_DAYS", default_value_t = DEFAULT_RETENTION_DAYS,
          value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub retention_days: u64,
    /// The delivery queue's redrive threshold (`maxReceiveCount`), if the runtime is told it:
    /// it must leave room for every attempt of the schedule.
    #[arg(long, env = "HOOKLINE_MAX_RECEIVE_COUNT")]
    pub max_receive_count: Option<u32>,
    /// Accept only declared event types (`/v1/event-types`) in events and subscriptions, so a
    /// typo in a type name is refused instead of matching nothing.
    #[arg(long, env = "HOOKLINE_STRICT_EVENT_TYPES")]
    pub strict_event_types: bool,
    /// Consecutive failed attempts that open an endpoint's circuit (its jobs are then parked).
    #[arg(long, env = "HOOKLINE_CIRCUIT_FAILURES", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub circuit_failures: u32,
    /// Seconds from a circuit opening to its first probe (doubling per failed probe).
    #[arg(long, env = "HOOKLINE_CIRCUIT_FIRST_PROBE_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=900))]
    pub circuit_first_probe_secs: u64,
    /// Longest wait in seconds between probes of an open circuit.
    #[arg(long, env = "HOOKLINE_CIRCUIT_MAX_PROBE_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=900))]
    pub circuit_max_probe_secs: u64,
    /// Seconds a circuit may stay open before its subscription is disabled (default 3 days).
    #[arg(long, env = "HOOKLINE_CIRCUIT_DISABLE_AFTER_SECS", default_value_t = 259_200,
          value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
    pub circuit_disable_after_secs: u64,
    /// Parked jobs released per second when a circuit closes.
    #[arg(long, env = "HOOKLINE_CIRCUIT_RELEASE_PER_SEC", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub circuit_release_per_sec: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            retry_schedule: RetrySchedule::default(),
            allow_private_destinations: false,
            require_https: false,
            delivery_timeout_ms: DEFAULT_TIMEOUT_MS,
            retention_days: DEFAULT_RETENTION_DAYS,
            max_receive_count: None,
            strict_event_types: false,
            circuit_failures: 5,
            circuit_first_probe_secs: 30,
            circuit_max_probe_secs: 900,
            circuit_disable_after_secs: 259_200,
            circuit_release_per_sec: 50,
        }
    }
}

impl Config {
    /// Checks what no single value can: the queue's redrive threshold must be above the
    /// schedule's attempts, or SQS would move a job to the DLQ before its last attempt, with no
    /// failure recorded.
    pub fn validate(&self) -> Result<(), String> {
        let schedule = &self.retry_schedule;
        match self.max_receive_count {
            Some(max) if max <= schedule.max_attempts() => Err(format!(
                "HOOKLINE_MAX_RECEIVE_COUNT ({max}) must be above the schedule's {} attempts \
                 (recommended: {}); the queue's redrive policy must say the same",
                schedule.max_attempts(),
                schedule.max_receive_count()
            )),
            _ => Ok(()),
        }
    }

    pub fn destination(&self) -> DestinationPolicy {
        DestinationPolicy {
            allow_private: self.allow_private_destinations,
            require_https: self.require_https,
        }
    }

    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_days * 24 * 3600)
    }

    /// The core's settings, with `removal` saying who deletes settled job messages.
    pub fn settings(&self, removal: Removal) -> Settings {
        Settings {
            destination: self.destination(),
            schedule: self.retry_schedule.clone(),
            default_timeout_ms: self.delivery_timeout_ms,
            removal,
            strict_event_types: self.strict_event_types,
            breaker: self.breaker(),
        }
    }

    pub fn breaker(&self) -> crate::breaker::BreakerSettings {
        crate::breaker::BreakerSettings {
            failures_to_open: self.circuit_failures,
            first_probe: Duration::from_secs(self.circuit_first_probe_secs),
            max_probe: Duration::from_secs(
                self.circuit_max_probe_secs
                    .max(self.circuit_first_probe_secs),
            ),
            probe_lease: crate::breaker::BreakerSettings::default().probe_lease,
            disable_after: Duration::from_secs(self.circuit_disable_after_secs),
            release_per_sec: self.circuit_release_per_sec,
        }
    }

    /// Reads the settings from the environment alone (the functions), validated.
    pub fn from_env() -> Result<Config, String> {
        Self::from_args(["hookline"])
    }

    /// Reads the settings from flags, falling back to the environment, validated.
    pub fn from_args<I, T>(args: I) -> Result<Config, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        let config = <Only as clap::Parser>::try_parse_from(args)
            .map_err(|e| e.to_string())?
            .config;
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::from_args(["hookline"]).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.retry_schedule.to_string(), DEFAULT_SCHEDULE);
        assert_eq!(c.settings(Removal::Hookline).default_timeout_ms, 5_000);
    }

    #[test]
    fn flags_are_parsed_and_ranges_enforced_once() {
        let c = Config::from_args([
            "hookline",
            "--retry-schedule",
            "1s,2s",
            "--require-https",
            "--delivery-timeout-ms",
            "15000",
        ])
        .unwrap();
        assert_eq!(c.retry_schedule.max_attempts(), 3);
        assert!(c.destination().require_https);
        for bad in [
            ["hookline", "--delivery-timeout-ms", "499"],
            ["hookline", "--delivery-timeout-ms", "15001"],
            ["hookline", "--retry-schedule", "5 minutes"],
            ["hookline", "--retention-days", "0"],
        ] {
            assert!(Config::from_args(bad).is_err(), "{bad:?}");
        }
    }

    /// The templates and the CDK app check the same limits before a deployment; they read them
    /// from `infra/limits.json`, which must say what the core enforces.
    #[test]
    fn the_deployment_limits_file_matches_the_core() {
        use crate::retry_schedule::{MAX_DELAY, MAX_RETRIES, MAX_TOTAL_DELAY, REDRIVE_MARGIN};
        let limits: serde_json::Value =
            serde_json::from_str(include_str!("../../../infra/limits.json")).unwrap();
        let retry = &limits["retrySchedule"];
        assert_eq!(retry["maxWaits"], MAX_RETRIES);
        assert_eq!(retry["maxWaitMs"], MAX_DELAY.as_millis() as u64);
        assert_eq!(retry["maxTotalMs"], MAX_TOTAL_DELAY.as_millis() as u64);
        assert_eq!(retry["redriveMargin"], REDRIVE_MARGIN);
        let timeout = &limits["deliveryTimeoutMs"];
        assert_eq!(timeout["min"], MIN_TIMEOUT_MS);
        assert_eq!(timeout["max"], MAX_TIMEOUT_MS);
        assert_eq!(timeout["default"], DEFAULT_TIMEOUT_MS);
    }

    #[test]
    fn max_receive_count_must_leave_room_for_every_attempt() {
        let with = |n: &str| Config::from_args(["hookline", "--max-receive-count", n]);
        assert_eq!(RetrySchedule::default().max_attempts(), 8);
        assert!(with("11").is_ok());
        assert!(with("9").is_ok());
        let err = with("8").unwrap_err();
        assert!(err.contains("recommended: 11"), "{err}");
        assert!(with("eleven").is_err());
    }
}
