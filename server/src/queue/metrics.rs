//! Throughput and processing times over the last hour, and the queue's
//! command usage per day, read from what the scripts count as they go.
//!
//! The finishing script adds each completion, failure and retry to a counter
//! of its minute, and each processing time to the minute's sum and to a
//! logarithmic histogram (buckets 1/8 of a natural-log unit wide, so about
//! 13 %). Two hashes hold the minutes of even and odd hours; a hash is emptied
//! when a new hour reuses it, so memory stays bounded without any TTL and
//! without a command of its own.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{scripts::Reply, QueueError};

/// One minute of the last hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteStats {
    /// The minute's start, in ms since the epoch.
    pub minute: u64,
    pub completed: u64,
    pub failed: u64,
    /// Failed attempts that were retried.
    pub retried: u64,
}

/// The last 60 minutes, oldest first, and their processing times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub minutes: Vec<MinuteStats>,
    pub completed: u64,
    pub failed: u64,
    /// Average processing time of completed jobs, in ms.
    pub avg_ms: Option<f64>,
    /// 95th percentile of the same, as the upper edge of its bucket.
    pub p95_ms: Option<f64>,
    /// Completed jobs per histogram bucket, as (upper edge ms, count).
    pub histogram: Vec<(f64, u64)>,
}

/// The queue's commands per day, as its clients reported them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandUsage {
    /// Today (UTC, by Redis's clock).
    pub today: u64,
    /// Milliseconds elapsed today, to project the day's total.
    pub elapsed_today_ms: u64,
    /// The last days, oldest first, as (day start in ms, commands).
    pub days: Vec<(u64, u64)>,
}

const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;

/// The upper edge of a histogram bucket, in ms.
fn bucket_edge(bucket: u32) -> f64 {
    if bucket == 0 {
        0.0
    } else {
        (f64::from(bucket) / 8.0).exp()
    }
}

/// Reads the reply of the `metrics` read: Redis's time, then both hashes.
pub(crate) fn parse_metrics(reply: &Reply) -> Result<Metrics, QueueError> {
    let now = reply.int(0)?.max(0) as u64;
    let this_minute = now / MINUTE_MS;

    // minute (since the epoch) → field → count; a hash left from an older
    // hour holds only minutes outside the window, which are skipped.
    let mut by_minute: HashMap<u64, HashMap<String, u64>> = HashMap::new();
    for i in [1, 2] {
        for (field, value) in reply.array(i)?.pairs()? {
            let Some((minute, name)) = field.split_once(':') else {
                continue;
            };
            let (Ok(minute), Ok(value)) = (minute.parse::<u64>(), value.parse::<u64>()) else {
                continue;
            };
            by_minute
                .entry(minute)
                .or_default()
                .insert(name.to_string(), value);
        }
    }

    let mut metrics = Metrics {
        minutes: Vec::with_capacity(60),
        completed: 0,
        failed: 0,
        avg_ms: None,
        p95_ms: None,
        histogram: Vec::new(),
    };
    let mut total_ms = 0u64;
    let mut buckets: HashMap<u32, u64> = HashMap::new();
    for minute in this_minute.saturating_sub(59)..=this_minute {
        let fields = by_minute.remove(&minute).unwrap_or_default();
        let get = |name: &str| fields.get(name).copied().unwrap_or(0);
        let stats = MinuteStats {
            minute: minute * MINUTE_MS,
            completed: get("c"),
            failed: get("f"),
            retried: get("r"),
        };
        metrics.completed += stats.completed;
        metrics.failed += stats.failed;
        total_ms += get("ms");
        for (name, count) in &fields {
            if let Some(bucket) = name.strip_prefix('h').and_then(|b| b.parse::<u32>().ok()) {
                *buckets.entry(bucket).or_default() += count;
            }
        }
        metrics.minutes.push(stats);
    }

    let timed: u64 = buckets.values().sum();
    if timed > 0 {
        metrics.avg_ms = Some(total_ms as f64 / timed as f64);
        let mut sorted: Vec<(u32, u64)> = buckets.into_iter().collect();
        sorted.sort_unstable();
        let rank = (timed as f64 * 0.95).ceil() as u64;
        let mut seen = 0;
        for &(bucket, count) in &sorted {
            seen += count;
            if seen >= rank && metrics.p95_ms.is_none() {
                metrics.p95_ms = Some(bucket_edge(bucket));
            }
        }
        metrics.histogram = sorted
            .into_iter()
            .map(|(b, c)| (bucket_edge(b), c))
            .collect();
    }
    Ok(metrics)
}

/// Reads the reply of the `usage` read: Redis's time, then the daily hash.
pub(crate) fn parse_usage(reply: &Reply) -> Result<CommandUsage, QueueError> {
    let now = reply.int(0)?.max(0) as u64;
    let today = now / DAY_MS;
    let mut days: Vec<(u64, u64)> = reply
        .array(1)?
        .pairs()?
        .into_iter()
        .filter_map(|(day, count)| Some((day.parse::<u64>().ok()?, count.parse::<u64>().ok()?)))
        .collect();
    days.sort_unstable();
    Ok(CommandUsage {
        today: days
            .iter()
            .find(|(d, _)| *d == today)
            .map_or(0, |(_, c)| *c),
        elapsed_today_ms: now % DAY_MS,
        days: days.into_iter().map(|(d, c)| (d * DAY_MS, c)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_edges_grow_by_an_eighth_of_e() {
        assert_eq!(bucket_edge(0), 0.0);
        assert!((bucket_edge(8) - std::f64::consts::E).abs() < 1e-9);
        // 100 ms falls in the bucket whose upper edge is within 13 % above it.
        let bucket = ((100f64).ln() * 8.0).floor() as u32 + 1;
        assert!(bucket_edge(bucket) >= 100.0 && bucket_edge(bucket) < 113.4);
    }
}
