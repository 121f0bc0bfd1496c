//! Every tunable of a queue, with the defaults the platform runs with.
//!
//! The queue reads no environment variable itself: start-up fills a
//! [`QueueOptions`] from its configuration and hands it over.

use std::time::Duration;

use super::QueueError;

/// How a queue and its worker on this instance behave.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// The queue's name; its keys are `q:{name}:…`.
    pub name: String,
    /// This instance's name in the job records and its wake-up channel; it
    /// must be unique among the instances running at the same time.
    pub instance_id: String,
    /// Jobs this instance runs at once.
    pub concurrency: usize,
    /// Attempts a job gets before it fails, unless enqueued with its own.
    pub attempts: u32,
    /// The first retry waits this long; each further one twice as long.
    pub backoff: Duration,
    /// How long an active job is held without word from its worker. A worker
    /// renews it with every progress update, or by itself when a job has been
    /// silent for half of it.
    pub lease: Duration,
    /// How many times a job may lose its lease (its worker died or hung)
    /// before it fails with "stalled too many times".
    pub max_stalls: u32,
    /// Jobs started per window across every instance; `None` for no limit.
    pub rate_limit: Option<RateLimit>,
    /// How many completed jobs are kept, and for how long.
    pub keep_completed: Retention,
    /// How many failed jobs are kept, and for how long.
    pub keep_failed: Retention,
    /// On shutdown, how long active jobs may take to finish before they are
    /// handed back to waiting for another instance.
    pub shutdown_grace: Duration,
}

/// At most `max` jobs started in any window of `window`, across instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window: Duration,
}

/// A bound on finished jobs kept in Redis, whichever is reached first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub count: u64,
    pub age: Duration,
}

impl QueueOptions {
    /// The defaults, for the queue `name` run by `instance_id`.
    pub fn new(name: &str, instance_id: &str) -> Self {
        QueueOptions {
            name: name.to_string(),
            instance_id: instance_id.to_string(),
            concurrency: 5,
            attempts: 3,
            backoff: Duration::from_secs(5),
            lease: Duration::from_secs(30),
            max_stalls: 1,
            rate_limit: Some(RateLimit {
                max: 10,
                window: Duration::from_secs(60),
            }),
            keep_completed: Retention {
                count: 1000,
                age: Duration::from_secs(24 * 3600),
            },
            keep_failed: Retention {
                count: 5000,
                age: Duration::from_secs(7 * 24 * 3600),
            },
            shutdown_grace: Duration::from_secs(10),
        }
    }

    /// Refuses values the queue cannot work with, naming the field.
    pub fn validate(&self) -> Result<(), QueueError> {
        let invalid = |what: &str| Err(QueueError::InvalidOptions(what.to_string()));
        if !is_name(&self.name) {
            return invalid("name: use 1 to 64 letters, digits, '-' or '_'");
        }
        if !is_name(&self.instance_id) {
            return invalid("instance_id: use 1 to 64 letters, digits, '-', '_' or '.'");
        }
        if self.concurrency == 0 || self.concurrency > 1000 {
            return invalid("concurrency: use 1 to 1000");
        }
        if self.attempts == 0 {
            return invalid("attempts: a job needs at least one");
        }
        if self.lease < Duration::from_millis(100) {
            return invalid("lease: use at least 100 ms");
        }
        if let Some(limit) = self.rate_limit {
            if limit.max == 0 || limit.window.is_zero() {
                return invalid("rate_limit: use a positive count and window, or none");
            }
        }
        if self.keep_completed.count == 0 || self.keep_failed.count == 0 {
            return invalid("retention: keep at least one finished job");
        }
        Ok(())
    }
}

/// What a caller may set for one job.
#[derive(Debug, Clone, Default)]
pub struct EnqueueOptions {
    /// The job's id. While a job with this id is waiting, delayed or active,
    /// enqueueing returns that job instead of adding another; a finished one
    /// is replaced. Generated when `None`.
    pub id: Option<String>,
    /// Attempts for this job instead of the queue's.
    pub attempts: Option<u32>,
    /// Backoff base for this job instead of the queue's.
    pub backoff: Option<Duration>,
    /// Start no sooner than this from now (the job waits as delayed).
    pub delay: Option<Duration>,
}

/// 1 to 64 letters, digits, `-`, `_` and `.`; safe inside keys, channels,
/// JSON and the `|`-separated job records. Queue names and instance ids
/// (including the server's `INSTANCE_ID`) are checked with it.
pub(crate) fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks a caller-given job id: printable, without spaces, at most 200 bytes.
pub(crate) fn check_job_id(id: &str) -> Result<(), QueueError> {
    if id.is_empty() || id.len() > 200 {
        return Err(QueueError::InvalidId("a job id has 1 to 200 bytes"));
    }
    if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(QueueError::InvalidId(
            "a job id has no spaces or control characters",
        ));
    }
    Ok(())
}

/// The longest span the scripts are given: ten years, in milliseconds. The
/// scripts add spans to Redis's clock and format the sums as whole numbers,
/// which goes wrong past 2^63; no deadline or retention needs longer.
const LONGEST_MS: u64 = 10 * 366 * 24 * 3600 * 1000;

/// Milliseconds, as the scripts take them (at most ten years).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).map_or(LONGEST_MS, |ms| ms.min(LONGEST_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_platform_plan() {
        let options = QueueOptions::new("reports", "web-1");
        options.validate().unwrap();
        assert_eq!(options.concurrency, 5);
        assert_eq!(options.attempts, 3);
        assert_eq!(
            options.rate_limit,
            Some(RateLimit {
                max: 10,
                window: Duration::from_secs(60)
            })
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_field_named() {
        let mut options = QueueOptions::new("reports", "web 1");
        assert!(options
            .validate()
            .unwrap_err()
            .to_string()
            .contains("instance_id"));
        options.instance_id = "web-1".into();
        options.concurrency = 0;
        assert!(options
            .validate()
            .unwrap_err()
            .to_string()
            .contains("concurrency"));
    }

    #[test]
    fn spans_given_to_the_scripts_stop_at_ten_years() {
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::MAX), LONGEST_MS);
        assert!((LONGEST_MS as f64) < 2f64.powi(53));
    }

    #[test]
    fn job_ids_with_spaces_or_control_characters_are_refused() {
        assert!(check_job_id("report-42").is_ok());
        assert!(check_job_id("").is_err());
        assert!(check_job_id("a b").is_err());
        assert!(check_job_id(&"x".repeat(201)).is_err());
    }
}
