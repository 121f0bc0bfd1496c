//! One slot: runs a job under its lease, records the outcome, and goes on
//! with the job that the same call claimed, until none is left.

use std::{any::Any, panic::AssertUnwindSafe, sync::Arc, time::Duration};

use futures::FutureExt;
use tracing::Instrument;

use super::{
    calls::{ClaimReply, Claimed, Finish},
    handler::{JobContext, Lease},
    Handler, Outcome, Shared,
};
use crate::queue::QueueError;

/// How soon a renewal that failed (Redis unreachable) is tried again.
const RENEW_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between tries to record an outcome while Redis is away.
const FINISH_RETRY_MAX: Duration = Duration::from_secs(2);

/// Runs `job` in a new slot task. The slot it takes was reserved by the
/// claim that returned the job; it is given back when the task ends.
pub(super) fn spawn<H: Handler>(shared: Arc<Shared<H>>, job: Claimed) {
    shared.running.send_modify(|n| *n += 1);
    tokio::spawn(async move {
        let guard = SlotGuard(shared.clone());
        run(&shared, job).await;
        drop(guard);
    });
}

/// Gives the slot back when the task ends, however it ends.
struct SlotGuard<H: Handler>(Arc<Shared<H>>);

impl<H: Handler> Drop for SlotGuard<H> {
    fn drop(&mut self) {
        self.0.running.send_modify(|n| *n -= 1);
        self.0.release(1);
    }
}

async fn run<H: Handler>(shared: &Arc<Shared<H>>, mut job: Claimed) {
    loop {
        let started = tokio::time::Instant::now();
        let finish = attempt(shared, &job).await;
        let took = started.elapsed();

        // Claim for this slot and every other free one in the same call,
        // unless the instance is stopping.
        let stopping = shared.shutdown.is_cancelled() || matches!(finish, Finish::HandBack);
        let extra = if stopping {
            0
        } else {
            shared.free.swap(0, std::sync::atomic::Ordering::AcqRel)
        };
        let want = if stopping { 0 } else { 1 + extra };

        let Some(reply) = record(shared, &job, &finish, took, want).await else {
            shared.release(extra);
            return;
        };
        shared.note_timers(&reply);
        let mut jobs = reply.jobs.into_iter();
        let Some(next) = jobs.next() else {
            shared.release(extra);
            return;
        };
        shared.start(jobs, extra);
        job = next;
    }
}

/// Runs one attempt in its span: decodes the payload, runs the handler,
/// renews the lease while the handler is silent, and stops at the hard stop.
async fn attempt<H: Handler>(shared: &Arc<Shared<H>>, job: &Claimed) -> Finish {
    let span = tracing::info_span!(
        "job",
        queue = %shared.queue.options().name,
        job = %job.id,
        attempt = job.attempt,
    );
    run_handler(shared, job).instrument(span).await
}

async fn run_handler<H: Handler>(shared: &Arc<Shared<H>>, job: &Claimed) -> Finish {
    let payload = match serde_json::from_str::<H::Payload>(&job.payload) {
        Ok(payload) => payload,
        Err(err) => {
            tracing::warn!(cause = %err, "payload does not match the job type; failing the job");
            return Finish::Fatal(format!("the payload does not match the job type: {err}"));
        }
    };
    let lease = Arc::new(Lease::new(job.token.clone()));
    let context = JobContext::new(
        job.id.clone(),
        payload,
        job.attempt,
        job.max_attempts,
        lease.clone(),
        shared.queue.clone(),
        shared.shutdown.clone(),
    );
    let work = AssertUnwindSafe(shared.handler.handle(context)).catch_unwind();
    tokio::pin!(work);

    let half_lease = shared.queue.options().lease / 2;
    loop {
        let renew_at = lease.renewed_at() + half_lease;
        tokio::select! {
            result = &mut work => {
                return match result {
                    Ok(outcome) => outcome_to_finish(outcome),
                    Err(panic) => {
                        let message = panic_message(panic.as_ref());
                        tracing::warn!(panic = %message, "job handler panicked");
                        Finish::Failed { error: format!("the handler panicked: {message}"), retry_after: None }
                    }
                };
            }
            _ = tokio::time::sleep_until(renew_at), if !lease.is_lost() => {
                renew(shared, job, &lease, half_lease).await;
            }
            _ = shared.hard_stop.cancelled() => return Finish::HandBack,
        }
    }
}

async fn renew<H: Handler>(shared: &Shared<H>, job: &Claimed, lease: &Lease, half_lease: Duration) {
    match shared.queue.touch(&job.id, &job.token, None).await {
        Ok(true) => lease.renewed(None),
        Ok(false) => {
            tracing::warn!(
                "lease lost; another attempt owns the job and this one's outcome will be dropped"
            );
            lease.lose();
        }
        Err(err) => {
            tracing::warn!(cause = %err, "lease renewal failed; retrying");
            lease.retry_in(RENEW_RETRY.min(half_lease), half_lease);
        }
    }
}

fn outcome_to_finish(outcome: Outcome) -> Finish {
    match outcome {
        Outcome::Completed(value) => Finish::Completed(value.to_string()),
        Outcome::Failed(error) => Finish::Failed {
            error,
            retry_after: None,
        },
        Outcome::RetryAfter { error, delay } => Finish::Failed {
            error,
            retry_after: Some(delay),
        },
        Outcome::FailedPermanently(error) => Finish::Fatal(error),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "no message".to_string()
    }
}

/// Records the outcome, retrying while Redis is unreachable, until it is
/// recorded or the hard stop. Without a record the lease runs out and the job
/// runs again elsewhere: a job runs at least once and completes at most once.
async fn record<H: Handler>(
    shared: &Shared<H>,
    job: &Claimed,
    finish: &Finish,
    took: Duration,
    want: usize,
) -> Option<ClaimReply> {
    let mut wait = Duration::from_millis(100);
    loop {
        match shared.queue.finish(&job.id, &job.token, finish, want).await {
            Ok(reply) => {
                count(shared, job, finish, took, &reply);
                return Some(reply);
            }
            Err(err @ QueueError::Redis(_)) => {
                tracing::warn!(job = %job.id, cause = %err, "outcome not recorded yet; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shared.hard_stop.cancelled() => return None,
                }
                wait = (wait * 2).min(FINISH_RETRY_MAX);
            }
            Err(err) => {
                tracing::error!(job = %job.id, cause = %err, "outcome could not be recorded");
                return None;
            }
        }
    }
}

/// Counts a recorded outcome for metrics; `took` is how long the attempt
/// ran, from its claim to its outcome.
fn count<H: Handler>(
    shared: &Shared<H>,
    job: &Claimed,
    finish: &Finish,
    took: Duration,
    reply: &ClaimReply,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let counters = &shared.counters;
    if reply.lost {
        tracing::warn!(job = %job.id, "outcome dropped: the lease had passed to another attempt");
        counters.lease_lost.fetch_add(1, Relaxed);
        return;
    }
    match finish {
        Finish::Completed(_) => {
            counters.processing.observe(took);
            counters.completed.fetch_add(1, Relaxed)
        }
        Finish::Failed { .. } => {
            // The finishing script retries while attempts are left.
            if job.attempt < job.max_attempts {
                counters.retried.fetch_add(1, Relaxed);
            }
            counters.failed.fetch_add(1, Relaxed)
        }
        Finish::Fatal(_) => counters.failed.fetch_add(1, Relaxed),
        Finish::HandBack => counters.handed_back.fetch_add(1, Relaxed),
    };
}
