//! The queue's types as the dashboard's views: the page's crate never sees
//! the queue, so everything it shows is converted here.

use app::admin::types::{JobDetail, JobRow, MinuteCount, QueueState, StateCounts, Step};

use crate::queue::{Counts, Job, JobState, JobSummary, MinuteStats};

pub fn state_view(state: JobState) -> QueueState {
    match state {
        JobState::Waiting => QueueState::Waiting,
        JobState::Active => QueueState::Active,
        JobState::Delayed => QueueState::Delayed,
        JobState::Completed => QueueState::Completed,
        JobState::Failed => QueueState::Failed,
    }
}

pub fn queue_state(state: QueueState) -> JobState {
    match state {
        QueueState::Waiting => JobState::Waiting,
        QueueState::Active => JobState::Active,
        QueueState::Delayed => JobState::Delayed,
        QueueState::Completed => JobState::Completed,
        QueueState::Failed => JobState::Failed,
    }
}

pub fn counts_view(counts: &Counts) -> StateCounts {
    StateCounts {
        waiting: counts.waiting,
        active: counts.active,
        delayed: counts.delayed,
        completed: counts.completed,
        failed: counts.failed,
        paused: counts.paused,
    }
}

pub fn minute_view(minute: &MinuteStats) -> MinuteCount {
    MinuteCount {
        minute_ms: minute.minute,
        completed: minute.completed,
        failed: minute.failed,
    }
}

pub fn row_view(job: JobSummary) -> JobRow {
    JobRow {
        id: job.id,
        state: state_view(job.state),
        progress: job.progress.min(100),
        message: job.message,
        attempts: job.attempts,
        max_attempts: job.max_attempts,
        created_at: job.created_at,
        started_at: job.started_at,
        finished_at: job.finished_at,
        due_at: job.due_at,
        error: job.error,
        instance: job.instance,
    }
}

/// A job in full, its timeline opened by its creation.
pub fn detail_view(job: Job) -> JobDetail {
    let pretty = |value: &serde_json::Value| {
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    };
    let mut timeline = vec![Step {
        at: job.summary.created_at,
        kind: "created".into(),
        attempt: None,
        instance: None,
        error: None,
    }];
    timeline.extend(job.timeline.into_iter().map(|entry| Step {
        at: entry.at,
        kind: entry.kind,
        attempt: entry.attempt,
        instance: entry.instance,
        error: entry.error,
    }));
    JobDetail {
        payload: pretty(&job.payload),
        result: job.result.as_ref().map(pretty),
        failures: job.failures,
        stalls: job.stalls,
        max_stalls: job.max_stalls,
        backoff_ms: job.backoff_ms,
        timeline,
        row: row_view(job.summary),
    }
}
