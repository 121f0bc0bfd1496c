//! Where reports live in Redis: every version of every session's report, and
//! the model's token usage per day.

use app::reports::Report;
use redis::AsyncCommands;

use crate::redis_client::Redis;

/// Every key the report generator writes.
mod keys {
    /// The session's reports, newest first, as JSON.
    pub fn versions(session: &str) -> String {
        format!("report:{{{session}}}:versions")
    }

    /// How many reports of the session were ever written: the number of
    /// the newest.
    pub fn written(session: &str) -> String {
        format!("report:{{{session}}}:written")
    }

    /// Tokens spent on reports on `day` (YYYY-MM-DD, UTC).
    pub fn usage(day: &str) -> String {
        format!("report:usage:{day}")
    }
}

/// Versions of a session's report kept readable; older ones are dropped, so
/// a session asked for report after report holds a bounded amount.
pub const KEPT_VERSIONS: isize = 20;

/// How long a day's token count is kept: long enough for a monthly bill.
const USAGE_TTL_SECS: i64 = 40 * 24 * 3600;

/// Tokens spent in one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct DailyUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub reports: u64,
}

/// Reads and writes reports.
#[derive(Clone)]
pub struct ReportStore {
    redis: Redis,
}

impl ReportStore {
    pub fn new(redis: Redis) -> Self {
        ReportStore { redis }
    }

    /// Stores `report` as the session's newest version, numbering it, and
    /// adds its tokens to today's count; two round trips.
    pub async fn save(&self, mut report: Report, day: &str) -> redis::RedisResult<Report> {
        let mut conn = self.redis.clone();
        let key = keys::versions(&report.session_id);
        // Numbers count every report ever written, so they stay unique when
        // old versions are dropped. Two generations of one session never run
        // at once: their job shares one id.
        report.version = conn.incr(keys::written(&report.session_id), 1).await?;
        let json = serde_json::to_string(&report).map_err(|err| {
            redis::RedisError::from((redis::ErrorKind::Client, "report encoding", err.to_string()))
        })?;
        let usage = report.usage.unwrap_or_default();
        let usage_key = keys::usage(day);
        redis::pipe()
            .atomic()
            .lpush(&key, json)
            .ignore()
            .ltrim(&key, 0, KEPT_VERSIONS - 1)
            .ignore()
            .hincr(&usage_key, "prompt_tokens", usage.prompt_tokens)
            .ignore()
            .hincr(&usage_key, "completion_tokens", usage.completion_tokens)
            .ignore()
            .hincr(&usage_key, "reports", 1)
            .ignore()
            .expire(&usage_key, USAGE_TTL_SECS)
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(report)
    }

    /// The newest report of `session`, if any.
    pub async fn latest(&self, session: &str) -> redis::RedisResult<Option<Report>> {
        self.version_at(session, 0).await
    }

    /// Every version of `session`'s report, newest first.
    pub async fn all(&self, session: &str) -> redis::RedisResult<Vec<Report>> {
        let mut conn = self.redis.clone();
        let raw: Vec<String> = conn.lrange(keys::versions(session), 0, -1).await?;
        Ok(raw.iter().filter_map(|r| decode(r)).collect())
    }

    async fn version_at(&self, session: &str, index: isize) -> redis::RedisResult<Option<Report>> {
        let mut conn = self.redis.clone();
        let raw: Option<String> = conn.lindex(keys::versions(session), index).await?;
        Ok(raw.as_deref().and_then(decode))
    }

    /// Tokens spent on `day`.
    pub async fn usage(&self, day: &str) -> redis::RedisResult<DailyUsage> {
        let mut conn = self.redis.clone();
        let (prompt, completion, reports): (Option<u64>, Option<u64>, Option<u64>) =
            redis::cmd("HMGET")
                .arg(keys::usage(day))
                .arg(&["prompt_tokens", "completion_tokens", "reports"])
                .query_async(&mut conn)
                .await?;
        Ok(DailyUsage {
            prompt_tokens: prompt.unwrap_or(0),
            completion_tokens: completion.unwrap_or(0),
            reports: reports.unwrap_or(0),
        })
    }
}

fn decode(raw: &str) -> Option<Report> {
    match serde_json::from_str(raw) {
        Ok(report) => Some(report),
        Err(err) => {
            tracing::warn!(cause = %err, "a stored report does not decode; skipped");
            None
        }
    }
}

/// Today's date in UTC, as the usage keys name days.
pub fn today() -> String {
    day_of(std::time::SystemTime::now())
}

/// The UTC date of `time` as YYYY-MM-DD.
pub fn day_of(time: std::time::SystemTime) -> String {
    let days = time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    // Civil-from-days, after Howard Hinnant's public-domain algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn days_are_named_by_their_utc_date() {
        assert_eq!(day_of(UNIX_EPOCH), "1970-01-01");
        assert_eq!(
            day_of(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29"
        );
        assert_eq!(
            day_of(UNIX_EPOCH + Duration::from_secs(1_796_256_000 + 86_399)),
            "2026-12-03"
        );
    }
}
