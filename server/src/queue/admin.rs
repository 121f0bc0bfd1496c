//! The admin operations the dashboard calls, each one command.
//!
//! Reading: counts per state, pages of jobs newest first, one job, metrics
//! and command usage. Steering: retry, remove, promote, clean, pause, resume.
//! Every change is published as an event, so other open dashboards follow
//! without asking Redis.

use std::time::Duration;

use redis::ScriptInvocation;

use serde::{Deserialize, Serialize};

use super::{
    job,
    metrics::{parse_metrics, parse_usage},
    options::millis,
    scripts::{Reply, SCRIPTS},
    CommandUsage, Job, JobState, JobSummary, Metrics, Queue, QueueError,
};

/// The admin side of a queue; cheap to clone.
#[derive(Clone)]
pub struct Admin {
    queue: Queue,
}

/// How many jobs are in each state, and whether the queue is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub waiting: u64,
    pub active: u64,
    pub delayed: u64,
    pub completed: u64,
    pub failed: u64,
    pub paused: bool,
}

impl Counts {
    pub fn of(&self, state: JobState) -> u64 {
        match state {
            JobState::Waiting => self.waiting,
            JobState::Active => self.active,
            JobState::Delayed => self.delayed,
            JobState::Completed => self.completed,
            JobState::Failed => self.failed,
        }
    }
}

/// One page of a state's jobs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPage {
    pub jobs: Vec<JobSummary>,
    /// Jobs in the state (matching the filter, when there is one).
    pub total: u64,
}

/// The largest page a listing returns.
pub const MAX_PAGE: usize = 200;

impl Admin {
    pub(crate) fn new(queue: Queue) -> Self {
        Admin { queue }
    }

    /// Jobs per state and the paused flag. Also drops finished jobs past
    /// their retention age, so counts never include them.
    pub async fn counts(&self) -> Result<Counts, QueueError> {
        let reply = self
            .read(|s| {
                s.arg("counts");
            })
            .await?;
        let n = |i| reply.int(i).map(|v| v.max(0) as u64);
        Ok(Counts {
            waiting: n(0)?,
            active: n(1)?,
            delayed: n(2)?,
            completed: n(3)?,
            failed: n(4)?,
            paused: n(5)? == 1,
        })
    }

    /// A page of `state`'s jobs, newest first (waiting: last in line first;
    /// active: latest lease renewal first; delayed: latest due first;
    /// finished: latest finish first). With a `filter`, only ids containing
    /// it, among the newest 10,000 of the state.
    pub async fn jobs(
        &self,
        state: JobState,
        offset: usize,
        limit: usize,
        filter: Option<&str>,
    ) -> Result<JobPage, QueueError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let reply = self
            .read(|s| {
                s.arg("list")
                    .arg(state.as_str())
                    .arg(offset)
                    .arg(limit)
                    .arg(filter.unwrap_or(""));
            })
            .await?;
        let total = reply.int(0)?.max(0) as u64;
        let ids = reply.array(1)?.strings()?;
        let (runs, opts) = (reply.array(2)?.strings()?, reply.array(3)?.strings()?);
        let (progress, errors) = (reply.array(4)?.strings()?, reply.array(5)?.strings()?);
        let scores = reply.array(6)?;

        let mut jobs = Vec::with_capacity(ids.len());
        for (i, id) in ids.into_iter().enumerate() {
            // A job removed between the listing and the read is skipped.
            let (Some(id), Some(Some(run))) = (id, runs.get(i)) else {
                continue;
            };
            let due_at = scores.opt_int(i)?.map(|d| d.max(0) as u64);
            jobs.push(job::summary(
                id,
                run,
                opts.get(i).and_then(Option::as_deref),
                progress.get(i).and_then(Option::as_deref),
                errors.get(i).cloned().flatten(),
                due_at,
            )?);
        }
        Ok(JobPage { jobs, total })
    }

    /// One job in full.
    pub async fn job(&self, id: &str) -> Result<Job, QueueError> {
        self.queue.get(id).await
    }

    /// Puts a failed job back in line with a fresh set of attempts.
    pub async fn retry(&self, id: &str) -> Result<(), QueueError> {
        self.change(id, "failed", |s| {
            s.arg("retry").arg(id);
        })
        .await
        .map(drop)
    }

    /// Retries every failed job; returns how many.
    pub async fn retry_all_failed(&self) -> Result<u64, QueueError> {
        self.change("", "failed", |s| {
            s.arg("retry_all");
        })
        .await
    }

    /// Deletes a job that is not active (an active one belongs to its
    /// worker until it finishes).
    pub async fn remove(&self, id: &str) -> Result<(), QueueError> {
        self.change(id, "waiting, delayed or finished", |s| {
            s.arg("remove").arg(id);
        })
        .await
        .map(drop)
    }

    /// Moves a delayed job to the front of the line now.
    pub async fn promote(&self, id: &str) -> Result<(), QueueError> {
        self.change(id, "delayed", |s| {
            s.arg("promote").arg(id);
        })
        .await
        .map(drop)
    }

    /// Deletes completed or failed jobs finished more than `older_than` ago;
    /// returns how many.
    pub async fn clean(&self, state: JobState, older_than: Duration) -> Result<u64, QueueError> {
        if !state.is_finished() {
            return Err(QueueError::WrongState {
                id: String::new(),
                state,
                expected: "completed or failed",
            });
        }
        self.change("", "completed or failed", |s| {
            s.arg("clean").arg(state.as_str()).arg(millis(older_than));
        })
        .await
    }

    /// Stops every instance from starting jobs; active ones finish.
    pub async fn pause(&self) -> Result<(), QueueError> {
        self.change("", "", |s| {
            s.arg("pause");
        })
        .await
        .map(drop)
    }

    /// Lets instances start jobs again and wakes the idle ones.
    pub async fn resume(&self) -> Result<(), QueueError> {
        self.change("", "", |s| {
            s.arg("resume");
        })
        .await
        .map(drop)
    }

    /// Per-minute counts and processing times over the last hour.
    pub async fn metrics(&self) -> Result<Metrics, QueueError> {
        parse_metrics(
            &self
                .read(|s| {
                    s.arg("metrics");
                })
                .await?,
        )
    }

    /// The queue's commands per day, as every client reported them.
    pub async fn command_usage(&self) -> Result<CommandUsage, QueueError> {
        parse_usage(
            &self
                .read(|s| {
                    s.arg("usage");
                })
                .await?,
        )
    }

    async fn read(
        &self,
        args: impl FnOnce(&mut ScriptInvocation<'_>),
    ) -> Result<Reply, QueueError> {
        self.queue.call(&SCRIPTS.read, args).await
    }

    /// Runs an admin operation and turns its refusals into errors.
    async fn change(
        &self,
        id: &str,
        expected: &'static str,
        args: impl FnOnce(&mut ScriptInvocation<'_>),
    ) -> Result<u64, QueueError> {
        let reply = self.queue.call(&SCRIPTS.admin, args).await?;
        match reply.string(0)?.as_str() {
            "ok" => Ok(reply.int(1)?.max(0) as u64),
            "missing" => Err(QueueError::NotFound(id.to_string())),
            "state" => Err(QueueError::WrongState {
                id: id.to_string(),
                state: reply.string(1)?.parse()?,
                expected,
            }),
            other => Err(QueueError::Reply(format!(
                "admin operation answered {other:?}"
            ))),
        }
    }
}
