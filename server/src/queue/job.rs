//! What a job looks like from outside: its state, a summary for lists, the
//! full record with its timeline, and how they are read from the job columns.
//!
//! Times are milliseconds since the Unix epoch by Redis's clock, the one clock
//! all instances share.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{scripts::Reply, QueueError};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Ready to run, in line for a free slot.
    Waiting,
    /// Running on an instance that holds its lease.
    Active,
    /// Waiting out a retry backoff (or a delay asked at enqueue).
    Delayed,
    /// Done, with a result.
    Completed,
    /// Out of attempts, failed permanently, or stalled too often.
    Failed,
}

impl JobState {
    /// Every state, in the order a dashboard shows them.
    pub const ALL: [JobState; 5] = [
        JobState::Waiting,
        JobState::Active,
        JobState::Delayed,
        JobState::Completed,
        JobState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Waiting => "waiting",
            JobState::Active => "active",
            JobState::Delayed => "delayed",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
        }
    }

    /// Whether the job will not change again by itself.
    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Completed | JobState::Failed)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = QueueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| QueueError::Reply(format!("unknown job state {s:?}")))
    }
}

/// A job as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: String,
    pub state: JobState,
    /// 0 to 100; a completed job shows 100.
    pub progress: u8,
    /// The message of the latest progress update.
    pub message: String,
    /// Attempts started so far (a stalled attempt counts).
    pub attempts: u32,
    pub max_attempts: u32,
    pub created_at: u64,
    /// When the latest attempt started.
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    /// When a delayed job is due.
    pub due_at: Option<u64>,
    /// The error of the latest failed attempt.
    pub error: Option<String>,
    /// The instance that ran the latest attempt.
    pub instance: Option<String>,
}

/// A job in full, as the job page of the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    #[serde(flatten)]
    pub summary: JobSummary,
    pub payload: Value,
    pub result: Option<Value>,
    /// Failed attempts that count against `max_attempts`.
    pub failures: u32,
    /// Times the job lost its lease.
    pub stalls: u32,
    /// The backoff base of this job, in milliseconds.
    pub backoff_ms: u64,
    pub max_stalls: u32,
    /// Every start, failure, stall and hand-over, oldest first.
    pub timeline: Vec<TimelineEntry>,
}

/// One step in a job's life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: u64,
    /// `started`, `failed`, `stalled`, `completed`, `handed_back`, `retried`
    /// or `promoted`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `state|starts|fails|stalls|token|instance|started|finished|attempts`
pub(crate) struct RunRecord {
    pub state: JobState,
    pub starts: u32,
    pub fails: u32,
    pub stalls: u32,
    pub instance: Option<String>,
    pub started: Option<u64>,
    pub finished: Option<u64>,
}

impl RunRecord {
    pub fn parse(s: &str) -> Result<Self, QueueError> {
        let parts: Vec<&str> = s.split('|').collect();
        let [state, starts, fails, stalls, _token, instance, started, finished, _attempts] =
            parts[..]
        else {
            return Err(QueueError::Reply(format!("malformed job record {s:?}")));
        };
        let num = |v: &str| v.parse::<u32>().unwrap_or(0);
        let time = |v: &str| v.parse::<u64>().ok();
        Ok(RunRecord {
            state: state.parse()?,
            starts: num(starts),
            fails: num(fails),
            stalls: num(stalls),
            instance: Some(instance).filter(|i| !i.is_empty()).map(str::to_string),
            started: time(started),
            finished: time(finished),
        })
    }
}

/// `created|attempts|backoff_ms|max_stalls`
pub(crate) struct OptsRecord {
    pub created: u64,
    pub attempts: u32,
    pub backoff_ms: u64,
    pub max_stalls: u32,
}

impl OptsRecord {
    pub fn parse(s: Option<&str>) -> Self {
        let mut parts = s
            .unwrap_or_default()
            .split('|')
            .map(|p| p.parse::<u64>().unwrap_or(0));
        let mut next = || parts.next().unwrap_or(0);
        OptsRecord {
            created: next(),
            attempts: u32::try_from(next()).unwrap_or(u32::MAX),
            backoff_ms: next(),
            max_stalls: u32::try_from(next()).unwrap_or(u32::MAX),
        }
    }
}

#[derive(Deserialize)]
struct ProgressRecord {
    progress: f64,
    message: String,
}

/// Builds a summary from the job's columns.
pub(crate) fn summary(
    id: String,
    run: &str,
    opts: Option<&str>,
    progress: Option<&str>,
    error: Option<String>,
    due_at: Option<u64>,
) -> Result<JobSummary, QueueError> {
    Ok(summary_of(
        id,
        &RunRecord::parse(run)?,
        &OptsRecord::parse(opts),
        progress,
        error,
        due_at,
    ))
}

/// Builds a summary from the job's parsed records.
fn summary_of(
    id: String,
    run: &RunRecord,
    opts: &OptsRecord,
    progress: Option<&str>,
    error: Option<String>,
    due_at: Option<u64>,
) -> JobSummary {
    let recorded = progress.and_then(|p| serde_json::from_str::<ProgressRecord>(p).ok());
    let (mut percent, message) = match recorded {
        Some(p) => (p.progress.clamp(0.0, 100.0) as u8, p.message),
        None => (0, String::new()),
    };
    if run.state == JobState::Completed {
        percent = 100;
    }
    JobSummary {
        id,
        state: run.state,
        progress: percent,
        message,
        attempts: run.starts,
        max_attempts: opts.attempts,
        created_at: opts.created,
        started_at: run.started,
        finished_at: run.finished,
        due_at: due_at.filter(|_| run.state == JobState::Delayed),
        error,
        instance: run.instance.clone(),
    }
}

/// Builds a full job from the reply of the `get` read (empty when missing).
pub(crate) fn full(id: &str, reply: &Reply) -> Result<Option<Job>, QueueError> {
    if reply.is_empty() {
        return Ok(None);
    }
    let run_text = reply.string(0)?;
    let opts_text = reply.opt_string(1)?;
    let run = RunRecord::parse(&run_text)?;
    let opts = OptsRecord::parse(opts_text.as_deref());
    let json = |i: usize| -> Result<Option<Value>, QueueError> {
        reply
            .opt_string(i)?
            .map(|s| serde_json::from_str(&s).map_err(|e| QueueError::Reply(e.to_string())))
            .transpose()
    };
    let due_at = reply.opt_int(7)?.map(|d| d.max(0) as u64);
    let progress = reply.opt_string(3)?;
    let summary = summary_of(
        id.to_string(),
        &run,
        &opts,
        progress.as_deref(),
        reply.opt_string(6)?,
        due_at,
    );
    Ok(Some(Job {
        // A payload that is not JSON is kept as the text it was.
        payload: match reply.opt_string(2)? {
            Some(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
            None => Value::Null,
        },
        result: json(5)?,
        failures: run.fails,
        stalls: run.stalls,
        backoff_ms: opts.backoff_ms,
        max_stalls: opts.max_stalls,
        timeline: timeline(json(4)?, &run, summary.error.as_deref())?,
        summary,
    }))
}

/// The stored timeline, completed with what the run record holds: the start
/// of an attempt that is running or succeeded, its completion (the scripts
/// write those only for attempts that end otherwise), and the end of a job
/// that failed without a failed attempt (it stalled too often), with
/// `error`, the job's last.
fn timeline(
    stored: Option<Value>,
    run: &RunRecord,
    error: Option<&str>,
) -> Result<Vec<TimelineEntry>, QueueError> {
    let mut entries: Vec<TimelineEntry> = stored
        .map(|v| serde_json::from_value(v).map_err(|e| QueueError::Reply(e.to_string())))
        .transpose()?
        .unwrap_or_default();
    let entry = |at: u64, kind: &str, instance: Option<String>| TimelineEntry {
        at,
        kind: kind.to_string(),
        attempt: Some(run.starts),
        instance,
        error: None,
    };
    if matches!(run.state, JobState::Active | JobState::Completed) {
        if let Some(started) = run.started {
            entries.push(entry(started, "started", run.instance.clone()));
        }
    }
    match (run.state, run.finished) {
        (JobState::Completed, Some(finished)) => {
            entries.push(entry(finished, "completed", None));
        }
        (JobState::Failed, Some(finished))
            if !entries
                .iter()
                .any(|e| e.kind == "failed" && e.at == finished) =>
        {
            entries.push(TimelineEntry {
                error: error.map(str::to_string),
                ..entry(finished, "failed", run.instance.clone())
            });
        }
        _ => {}
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_records_are_read_field_by_field() {
        let run = RunRecord::parse("active|2|1|0|17|web-1|1700000000123||3").unwrap();
        assert_eq!(run.state, JobState::Active);
        assert_eq!((run.starts, run.fails, run.stalls), (2, 1, 0));
        assert_eq!(run.instance.as_deref(), Some("web-1"));
        assert_eq!(run.started, Some(1_700_000_000_123));
        assert_eq!(run.finished, None);
        assert!(RunRecord::parse("active|2").is_err());
    }

    #[test]
    fn a_completed_job_shows_full_progress() {
        let s = summary(
            "j".into(),
            "completed|1|0|0||w|1|2|3",
            Some("1|3|10|1"),
            Some(r#"{"progress":40,"message":"half"}"#),
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            (s.progress, s.message.as_str(), s.max_attempts),
            (100, "half", 3)
        );
    }
}
