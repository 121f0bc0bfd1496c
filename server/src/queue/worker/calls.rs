//! The worker's script calls: claim, finish (which claims too), renew or
//! report progress, and housekeeping; one command each.

use std::time::Duration;

use crate::queue::{
    options::millis,
    scripts::{Reply, SCRIPTS},
    Queue, QueueError,
};

/// A job this instance just started.
#[derive(Debug)]
pub(crate) struct Claimed {
    pub id: String,
    pub payload: String,
    /// The lease token of this attempt; every later call must show it.
    pub token: String,
    pub attempt: u32,
    pub max_attempts: u32,
}

/// What a claiming script answered.
#[derive(Debug)]
pub(crate) struct ClaimReply {
    /// The attempt being finished no longer held its lease; nothing of it
    /// was recorded.
    pub lost: bool,
    /// The rate limit held jobs back; it allows more after this long.
    pub limited: Option<Duration>,
    /// Milliseconds until the queue's earliest deadline (negative when past).
    pub due_in_ms: Option<i64>,
    /// Redis's clock (ms) when the deadline was read.
    pub redis_now: i64,
    pub jobs: Vec<Claimed>,
}

/// How an attempt is recorded.
#[derive(Debug)]
pub(crate) enum Finish {
    /// The result as JSON.
    Completed(String),
    /// Retried after `retry_after`, or after the job's backoff when `None`.
    Failed {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Failed whatever attempts remain.
    Fatal(String),
    /// Not finished: back to the front of the line, for another instance.
    HandBack,
}

impl Queue {
    /// Claims up to `want` jobs.
    pub(crate) async fn claim(&self, want: usize) -> Result<ClaimReply, QueueError> {
        let reply = self.call(&SCRIPTS.claim, |s| {
            s.arg(want);
        });
        parse_claim(reply.await?)
    }

    /// Records an attempt's outcome and claims up to `want` next jobs.
    pub(crate) async fn finish(
        &self,
        id: &str,
        token: &str,
        finish: &Finish,
        want: usize,
    ) -> Result<ClaimReply, QueueError> {
        let (kind, value, retry_ms) = match finish {
            Finish::Completed(result) => ("completed", result.as_str(), -1),
            Finish::Failed { error, retry_after } => (
                "failed",
                error.as_str(),
                retry_after.map_or(-1, |d| millis(d).min(i64::MAX as u64) as i64),
            ),
            Finish::Fatal(error) => ("fatal", error.as_str(), -1),
            Finish::HandBack => ("handback", "", -1),
        };
        let reply = self.call(&SCRIPTS.finish, |s| {
            s.arg(id)
                .arg(token)
                .arg(kind)
                .arg(value)
                .arg(retry_ms)
                .arg(want);
        });
        parse_claim(reply.await?)
    }

    /// Renews the lease, storing progress when given. False when the lease
    /// is no longer this attempt's.
    pub(crate) async fn touch(
        &self,
        id: &str,
        token: &str,
        progress: Option<(u8, &str)>,
    ) -> Result<bool, QueueError> {
        let (percent, message) = match progress {
            Some((percent, message)) => (percent.to_string(), message),
            None => (String::new(), ""),
        };
        let reply = self.call(&SCRIPTS.progress, |s| {
            s.arg(id).arg(token).arg(&percent).arg(message);
        });
        Ok(reply.await?.string(0)? == "ok")
    }

    /// `resign` (stop being woken) or `flush` (report the command count).
    pub(crate) async fn housekeeping(&self, op: &str) -> Result<(), QueueError> {
        self.call(&SCRIPTS.admin, |s| {
            s.arg(op);
        })
        .await
        .map(drop)
    }
}

fn parse_claim(reply: Reply) -> Result<ClaimReply, QueueError> {
    let mut jobs = Vec::with_capacity(reply.len().saturating_sub(4));
    for row in reply.rows_from(4)? {
        jobs.push(Claimed {
            id: row.string(0)?,
            payload: row.string(1)?,
            token: row.string(2)?,
            attempt: u32::try_from(row.int(3)?).unwrap_or(0),
            max_attempts: u32::try_from(row.int(4)?).unwrap_or(0),
        });
    }
    Ok(ClaimReply {
        lost: reply.string(0)? == "lost",
        limited: reply
            .opt_int(1)?
            .map(|ms| Duration::from_millis(ms.max(0) as u64)),
        due_in_ms: reply.opt_int(2)?,
        redis_now: reply.int(3)?,
        jobs,
    })
}
