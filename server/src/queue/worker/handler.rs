//! What a job's code implements ([`Handler`]), what it gets ([`JobContext`])
//! and what it answers ([`Outcome`]).

use std::{
    future::Future,
    marker::PhantomData,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::queue::{Queue, QueueError};

/// The code that runs one kind of job.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The job's input. A payload that does not deserialize into it fails
    /// the job at once, with the reason, and stays stored for inspection.
    type Payload: DeserializeOwned + Send + 'static;

    /// Runs one attempt. A panic counts as a failed attempt.
    async fn handle(&self, job: JobContext<Self::Payload>) -> Outcome;
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done; the value is stored as the job's result.
    Completed(Value),
    /// Failed; tried again after the job's backoff while attempts remain.
    Failed(String),
    /// Failed; tried again after `delay` (a provider's Retry-After) while
    /// attempts remain.
    RetryAfter { error: String, delay: Duration },
    /// Failed for good, whatever attempts remain (bad input, refused
    /// credentials).
    FailedPermanently(String),
}

impl Outcome {
    /// Completed with `result` as JSON.
    pub fn completed<T: Serialize>(result: &T) -> Outcome {
        match serde_json::to_value(result) {
            Ok(value) => Outcome::Completed(value),
            Err(err) => Outcome::FailedPermanently(format!("the result cannot be stored: {err}")),
        }
    }
}

/// One attempt of one job, as its handler sees it.
pub struct JobContext<P> {
    pub id: String,
    pub payload: P,
    /// This attempt's number, from 1 (a stalled attempt counts).
    pub attempt: u32,
    pub max_attempts: u32,
    lease: Arc<Lease>,
    queue: Queue,
    shutdown: CancellationToken,
}

impl<P> JobContext<P> {
    pub(crate) fn new(
        id: String,
        payload: P,
        attempt: u32,
        max_attempts: u32,
        lease: Arc<Lease>,
        queue: Queue,
        shutdown: CancellationToken,
    ) -> Self {
        JobContext {
            id,
            payload,
            attempt,
            max_attempts,
            lease,
            queue,
            shutdown,
        }
    }

    /// Stores and publishes progress (0 to 100, with a short message) and
    /// renews the lease; one command, none when nothing changed since the
    /// last call. Fails with [`QueueError::LeaseLost`] when another attempt
    /// owns the job now: the handler may stop, its outcome will be ignored.
    pub async fn progress(&self, percent: u8, message: &str) -> Result<(), QueueError> {
        let percent = percent.min(100);
        if self.lease.is_lost() {
            return Err(QueueError::LeaseLost(self.id.clone()));
        }
        if self.lease.same_progress(percent, message) {
            return Ok(());
        }
        if self
            .queue
            .touch(&self.id, &self.lease.token, Some((percent, message)))
            .await?
        {
            self.lease.renewed(Some((percent, message)));
            Ok(())
        } else {
            self.lease.lose();
            Err(QueueError::LeaseLost(self.id.clone()))
        }
    }

    /// Whether the instance is shutting down; a long job may stop early and
    /// return [`Outcome::RetryAfter`] so another instance picks it up.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}

/// What the worker and the handler share about one attempt's lease.
pub(crate) struct Lease {
    pub token: String,
    /// When Redis last heard from this attempt; a renewal is due half a lease
    /// later.
    renewed_at: Mutex<Instant>,
    /// The latest progress sent, so a repeat costs no command.
    last_progress: Mutex<Option<(u8, String)>>,
    /// Set once Redis answered that the lease belongs to another attempt.
    lost: AtomicBool,
}

impl Lease {
    pub fn new(token: String) -> Self {
        Lease {
            token,
            renewed_at: Mutex::new(Instant::now()),
            last_progress: Mutex::new(None),
            lost: AtomicBool::new(false),
        }
    }

    pub fn renewed_at(&self) -> Instant {
        *self.renewed_at.lock().expect("lease lock poisoned")
    }

    /// Records a renewal (and the progress it carried).
    pub fn renewed(&self, progress: Option<(u8, &str)>) {
        *self.renewed_at.lock().expect("lease lock poisoned") = Instant::now();
        if let Some((percent, message)) = progress {
            *self.last_progress.lock().expect("lease lock poisoned") =
                Some((percent, message.to_string()));
        }
    }

    /// Moves the next renewal to `delay` from now, after one that failed.
    pub fn retry_in(&self, delay: Duration, half_lease: Duration) {
        let next = Instant::now() + delay;
        *self.renewed_at.lock().expect("lease lock poisoned") =
            next.checked_sub(half_lease).unwrap_or(next);
    }

    fn same_progress(&self, percent: u8, message: &str) -> bool {
        let last = self.last_progress.lock().expect("lease lock poisoned");
        last.as_ref()
            .is_some_and(|(p, m)| *p == percent && m == message)
    }

    pub fn lose(&self) {
        self.lost.store(true, Ordering::Relaxed);
    }

    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }
}

/// A handler made of an async closure, for small jobs, tests and benchmarks.
pub fn from_fn<P, F, Fut>(f: F) -> FnHandler<P, F>
where
    P: DeserializeOwned + Send + 'static,
    F: Fn(JobContext<P>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    FnHandler {
        f,
        payload: PhantomData,
    }
}

/// See [`from_fn`].
pub struct FnHandler<P, F> {
    f: F,
    payload: PhantomData<fn() -> P>,
}

#[async_trait]
impl<P, F, Fut> Handler for FnHandler<P, F>
where
    P: DeserializeOwned + Send + 'static,
    F: Fn(JobContext<P>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    type Payload = P;

    async fn handle(&self, job: JobContext<P>) -> Outcome {
        (self.f)(job).await
    }
}
