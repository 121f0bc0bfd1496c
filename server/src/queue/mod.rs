//! The job queue: jobs on Redis, run by every instance, cheap on commands.
//!
//! It owns jobs and their states (waiting, active, delayed, completed,
//! failed), retries with backoff, the global rate limit, leases, events, the
//! admin operations and the per-day command count. It knows nothing of what
//! a job does: a [`Handler`] is plugged into a [`Worker`].
//!
//! - [`Queue`]: enqueue, read a job, follow events; [`Admin`]: what the
//!   dashboard calls.
//! - [`Worker`]: runs jobs on this instance with a [`Handler`].
//! - `keys`: every key; `scripts`: the Lua that changes them atomically.
//!
//! # What it costs on Redis
//!
//! A job's life is three commands as the client sends them: enqueue (one
//! script), claim (one), complete (one script that also claims the next job
//! for the slot it frees, so in a busy queue the claim is already paid). A
//! progress update is one more and renews the lease; a job silent for half
//! its lease costs one renewal.
//!
//! An idle instance sends nothing. A worker that finds no work registers in
//! an idle set inside its claim script; an enqueue pops one idle instance and
//! publishes a wake-up on that instance's own channel (PUBLISH answers how
//! many listened, so a dead instance is skipped with no heartbeat). Deadlines
//! (a delayed job due, a lease running out) live in sorted sets; the scripts
//! announce the earliest on a schedule channel every worker follows, and each
//! worker keeps a single timer from it, with a random offset so that one of
//! them does the upkeep and the others see the next deadline announced before
//! their own timer fires. After a reconnect a worker claims once to catch up.
//!
//! Each script call also carries the number of commands the client sent
//! since its previous call, which the script adds to a per-day counter in
//! Redis; counting costs no command of its own (a worker with uncounted
//! commands and nothing to do reports them within the hour).

mod admin;
mod error;
mod events;
mod job;
mod keys;
mod metrics;
mod options;
mod scripts;
mod worker;

pub use admin::{Admin, Counts, JobPage};
pub use error::QueueError;
pub use events::{Event, EventGap, Events, JobFollow};
pub use job::{Job, JobState, JobSummary, TimelineEntry};
pub use metrics::{CommandUsage, Metrics, MinuteStats};
pub(crate) use options::is_name;
pub use options::{EnqueueOptions, QueueOptions, RateLimit, Retention};
pub use worker::{
    from_fn, FnHandler, Handler, JobContext, Outcome, Worker, WorkerMetrics, WorkerStats,
};

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use redis::{Script, ScriptInvocation, Value};
use serde::Serialize;

use crate::redis_client::{CommandCounter, Redis, Subscriber};
use keys::Keys;
use options::{check_job_id, millis};
use scripts::{Reply, SCRIPTS};

/// A handle on one queue; cheap to clone, shared by the web side (enqueue,
/// read) and the worker.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

struct Inner {
    /// The process's multiplexed connection, counting into `counter`.
    redis: Redis,
    /// Every command this queue sends, subscriptions included.
    counter: Arc<CommandCounter>,
    /// The instance's one pub/sub connection, shared with the chat.
    subscriber: Subscriber,
    keys: Keys,
    options: QueueOptions,
    /// The arguments every script takes after the command count (instance,
    /// lease, retention, rate limit), formatted once.
    config_args: Vec<String>,
    /// How much of `counter` has been added to the per-day total in Redis.
    reported: AtomicU64,
}

/// What an enqueue did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    pub id: String,
    /// `Waiting` or `Delayed` for a new job; the existing job's state when
    /// one with the same id was still unfinished.
    pub state: JobState,
    /// False when an unfinished job with the same id was returned instead.
    pub created: bool,
}

impl Queue {
    /// A queue on the shared connection and subscription. Commands are
    /// counted into the queue's own counter, whatever `redis` counts into.
    pub fn new(
        redis: &Redis,
        subscriber: Subscriber,
        options: QueueOptions,
    ) -> Result<Self, QueueError> {
        options.validate()?;
        let counter = Arc::new(CommandCounter::default());
        let (rate_max, rate_window) = match options.rate_limit {
            Some(limit) => (u64::from(limit.max), millis(limit.window)),
            None => (0, 1),
        };
        let config_args = vec![
            options.instance_id.clone(),
            millis(options.lease).to_string(),
            options.keep_completed.count.to_string(),
            millis(options.keep_completed.age).to_string(),
            options.keep_failed.count.to_string(),
            millis(options.keep_failed.age).to_string(),
            rate_max.to_string(),
            rate_window.to_string(),
        ];
        Ok(Queue {
            inner: Arc::new(Inner {
                redis: redis.counted(counter.clone()),
                counter,
                subscriber,
                keys: Keys::new(&options.name),
                options,
                config_args,
                reported: AtomicU64::new(0),
            }),
        })
    }

    /// Adds a job with a generated id and the queue's defaults.
    pub async fn enqueue<T: Serialize>(&self, payload: &T) -> Result<Enqueued, QueueError> {
        self.enqueue_with(payload, EnqueueOptions::default()).await
    }

    /// Adds a job; one command. With a caller-given id, an unfinished job of
    /// that id is returned instead of a duplicate.
    pub async fn enqueue_with<T: Serialize>(
        &self,
        payload: &T,
        options: EnqueueOptions,
    ) -> Result<Enqueued, QueueError> {
        let id = match options.id {
            Some(id) => {
                check_job_id(&id)?;
                id
            }
            None => format!("j{:016x}", fastrand::u64(..)),
        };
        let payload = serde_json::to_string(payload)?;
        let defaults = &self.inner.options;
        let opts = format!(
            "{}|{}|{}",
            options.attempts.unwrap_or(defaults.attempts).max(1),
            millis(options.backoff.unwrap_or(defaults.backoff)),
            defaults.max_stalls,
        );
        let delay = options.delay.map(millis).unwrap_or(0);
        let reply = self
            .call(&SCRIPTS.enqueue, |s| {
                s.arg(&id).arg(&payload).arg(&opts).arg(delay);
            })
            .await?;
        Ok(Enqueued {
            id,
            state: reply.string(1)?.parse()?,
            created: reply.int(0)? == 1,
        })
    }

    /// One job in full; one command.
    pub async fn get(&self, id: &str) -> Result<Job, QueueError> {
        let reply = self.call(&SCRIPTS.read, |s| {
            s.arg("get").arg(id);
        });
        job::full(id, &reply.await?)?.ok_or_else(|| QueueError::NotFound(id.to_string()))
    }

    /// The admin operations the dashboard calls.
    pub fn admin(&self) -> Admin {
        Admin::new(self.clone())
    }

    /// Commands this queue has sent since it was made, as a client sends
    /// them (a script call is one; SUBSCRIBE and UNSUBSCRIBE included).
    pub fn commands_sent(&self) -> u64 {
        self.inner.counter.get()
    }

    /// The counter behind [`Queue::commands_sent`], for metrics.
    pub fn command_counter(&self) -> &Arc<CommandCounter> {
        &self.inner.counter
    }

    pub fn options(&self) -> &QueueOptions {
        &self.inner.options
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub(crate) fn subscriber(&self) -> &Subscriber {
        &self.inner.subscriber
    }

    /// Commands sent but not yet added to the per-day total.
    pub(crate) fn unreported(&self) -> u64 {
        let inner = &self.inner;
        inner
            .counter
            .get()
            .saturating_sub(inner.reported.load(Ordering::Relaxed))
    }

    /// Calls `script` with every key, the shared arguments, then the ones
    /// `args` adds; one command (three when Redis lost its script cache).
    pub(crate) async fn call(
        &self,
        script: &Script,
        args: impl FnOnce(&mut ScriptInvocation<'_>),
    ) -> Result<Reply, QueueError> {
        let inner = &self.inner;
        let mut invocation = script.prepare_invoke();
        for key in inner.keys.all() {
            invocation.key(key);
        }

        // This call counts itself: the counter moves when it is sent.
        let total = inner.counter.get() + 1;
        let before = inner.reported.fetch_max(total, Ordering::Relaxed);
        invocation
            .arg(inner.keys.channel_prefix())
            .arg(total.saturating_sub(before));
        for arg in &inner.config_args {
            invocation.arg(arg);
        }
        args(&mut invocation);

        let mut conn = inner.redis.clone();
        let value: Value = invocation.invoke_async(&mut conn).await?;
        Reply::new(value)
    }
}
