//! Runs jobs on this instance: the wake-up loop, free slots, timers and the
//! shutdown path. Each job runs in a slot task (see `slot`), which after
//! finishing claims the next job itself.
//!
//! The loop sends a command only when there may be work for a free slot: a
//! wake-up on the instance's own channel (an enqueue found it idle), its one
//! timer (the earliest deadline the scripts announced, a rate-limit window
//! opening, a retry after an error), or a reconnect of the subscription,
//! after which wake-ups may have been missed. Otherwise it sleeps.

mod calls;
mod handler;
mod slot;

pub use handler::{from_fn, FnHandler, Handler, JobContext, Outcome};

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tokio::{
    sync::{broadcast, watch, Notify},
    task::JoinHandle,
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use self::calls::{ClaimReply, Claimed};
use crate::{
    metrics::{Histogram, HistogramSnapshot},
    queue::Queue,
    redis_client::Message,
};

/// Timers of several instances aimed at one deadline are spread over this
/// much, so one does the upkeep and the rest hear the next deadline first.
const JITTER_MS: u64 = 200;
/// Wake-ups and deadline announcements the loop may fall behind on; a lag
/// costs nothing but a claim, which reads the state afresh.
const SIGNAL_CAPACITY: usize = 16;
/// Uncounted commands (a subscription made while idle) are reported at
/// least this often.
const REPORT_EVERY: Duration = Duration::from_secs(3600);
/// How long handed-back jobs may take to reach Redis on shutdown.
const HAND_BACK_TIMEOUT: Duration = Duration::from_secs(5);

/// A running worker; stops when its shutdown token is cancelled.
pub struct Worker {
    task: JoinHandle<()>,
    counters: Arc<Counters>,
}

/// What this instance's worker did so far, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    pub completed: u64,
    /// Failed attempts, retried or not.
    pub failed: u64,
    /// Failed attempts that had attempts left, so the job was retried. An
    /// attempt whose lease ran out counts as a start but not as a failure,
    /// so after a stall a job may be retried once more than this instance
    /// can tell from the attempt number; it then counts as failed for good.
    pub retried: u64,
    /// Outcomes dropped because another attempt owned the job by then.
    pub lease_lost: u64,
    /// Claims the rate limit held back.
    pub rate_limited: u64,
    /// Jobs handed back to waiting on shutdown.
    pub handed_back: u64,
}

struct Counters {
    completed: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    lease_lost: AtomicU64,
    rate_limited: AtomicU64,
    handed_back: AtomicU64,
    /// How long completed jobs ran on this instance, from claim to outcome.
    processing: Histogram,
}

/// Bucket edges of the processing time, in seconds: a report takes from a
/// few milliseconds (no model) to the model's timeout of minutes.
const PROCESSING_BUCKETS: &[f64] = &[
    0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

impl Counters {
    /// The counts so far.
    fn stats(&self) -> WorkerStats {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        WorkerStats {
            completed: get(&self.completed),
            failed: get(&self.failed),
            retried: get(&self.retried),
            lease_lost: get(&self.lease_lost),
            rate_limited: get(&self.rate_limited),
            handed_back: get(&self.handed_back),
        }
    }
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            completed: AtomicU64::default(),
            failed: AtomicU64::default(),
            retried: AtomicU64::default(),
            lease_lost: AtomicU64::default(),
            rate_limited: AtomicU64::default(),
            handed_back: AtomicU64::default(),
            processing: Histogram::new(PROCESSING_BUCKETS),
        }
    }
}

/// A handle on a worker's counters: metrics read it while the [`Worker`]
/// itself belongs to the serve loop, which joins it on shutdown.
#[derive(Clone)]
pub struct WorkerMetrics {
    counters: Arc<Counters>,
}

impl WorkerMetrics {
    /// What the worker did so far.
    pub fn stats(&self) -> WorkerStats {
        self.counters.stats()
    }

    /// How long completed jobs ran on this instance.
    pub fn processing_times(&self) -> HistogramSnapshot {
        self.counters.processing.snapshot()
    }
}

/// What the loop and the slot tasks share.
struct Shared<H> {
    queue: Queue,
    handler: H,
    /// Slots neither running a job nor reserved by a claim in flight. A claim
    /// takes all of them and gives back what it did not fill, so two claims
    /// never count the same slot.
    free: AtomicUsize,
    /// Slot tasks alive; shutdown waits for zero.
    running: watch::Sender<usize>,
    timers: Mutex<Timers>,
    /// Tells the loop that slots freed up or timers moved.
    poke: Notify,
    /// A claim was due while every slot was taken or reserved (a finish in
    /// flight may just have put this instance in the idle set, and the
    /// wake-up that took it out came meanwhile): the next freed slot
    /// claims instead of waiting for a wake-up that will not come again.
    claim_pending: AtomicBool,
    /// Cancelled on shutdown: no more claims.
    shutdown: CancellationToken,
    /// Cancelled when the grace period is over: slots hand their jobs back.
    hard_stop: CancellationToken,
    counters: Arc<Counters>,
}

/// The moments the loop may claim at; only armed while a slot is free.
#[derive(Default)]
struct Timers {
    /// The earliest deadline of the queue, plus this instance's jitter.
    due: Option<Instant>,
    /// Redis's clock (ms) when `due` was read. Claim replies and schedule
    /// announcements come over different connections and may arrive out of
    /// order; the older of two never replaces the newer.
    due_read_at: i64,
    /// When the rate-limit window allows another start.
    limited: Option<Instant>,
    /// When to try again after a claim failed.
    retry: Option<Instant>,
    retry_backoff: Duration,
    /// When uncounted commands were first seen.
    unreported_since: Option<Instant>,
}

impl Timers {
    /// Takes the deadline `due`, read at `read_at` by Redis's clock, unless
    /// newer news is already in. Of two read in the same millisecond the
    /// earlier deadline is kept: at worst that costs one claim too many.
    fn learn_due(&mut self, due: Option<Instant>, read_at: i64) {
        match read_at.cmp(&self.due_read_at) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Greater => {
                self.due = due;
                self.due_read_at = read_at;
            }
            std::cmp::Ordering::Equal => {
                self.due = match (self.due, due) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }
}

impl Worker {
    /// Starts a worker for `queue` with `handler`. Returns once it listens for
    /// wake-ups and has claimed what was already waiting.
    pub async fn spawn<H: Handler>(
        queue: Queue,
        handler: H,
        shutdown: CancellationToken,
    ) -> Worker {
        let options = queue.options().clone();
        let subscriber = queue.subscriber().clone();
        let counter = queue.command_counter().clone();

        // Subscribed before the first claim: that claim may register this
        // instance as idle, and the wake-up of the next enqueue must arrive.
        let wake_channel = queue.keys().wake_channel(&options.instance_id);
        let wake = subscriber
            .subscribe(&wake_channel, &counter, SIGNAL_CAPACITY)
            .await;
        let schedule = subscriber
            .subscribe(&queue.keys().schedule_channel(), &counter, SIGNAL_CAPACITY)
            .await;
        let mut epoch = subscriber.epoch();
        epoch.borrow_and_update();

        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            queue,
            handler,
            free: AtomicUsize::new(options.concurrency),
            running: watch::Sender::new(0),
            timers: Mutex::default(),
            poke: Notify::new(),
            claim_pending: AtomicBool::new(false),
            shutdown,
            hard_stop: CancellationToken::new(),
            counters: counters.clone(),
        });
        shared.claim_free().await;
        tracing::info!(
            queue = %options.name,
            instance = %options.instance_id,
            concurrency = options.concurrency,
            "queue worker started"
        );
        let task = tokio::spawn(run(shared, Some(wake), Some(schedule), Some(epoch)));
        Worker { task, counters }
    }

    /// What the worker did so far.
    pub fn stats(&self) -> WorkerStats {
        self.counters.stats()
    }

    /// A handle for metrics on what the worker does.
    pub fn metrics(&self) -> WorkerMetrics {
        WorkerMetrics {
            counters: self.counters.clone(),
        }
    }

    /// Waits until the worker stopped (after its shutdown token was
    /// cancelled, active jobs finished or were handed back); returns what it
    /// did.
    pub async fn join(self) -> WorkerStats {
        if let Err(err) = self.task.await {
            tracing::error!(cause = %err, "queue worker task failed");
        }
        self.counters.stats()
    }
}

/// What woke the loop up.
enum Action {
    Claim,
    Report,
    Nothing,
}

async fn run<H: Handler>(
    shared: Arc<Shared<H>>,
    mut wake: Option<broadcast::Receiver<Message>>,
    mut schedule: Option<broadcast::Receiver<Message>>,
    mut epoch: Option<watch::Receiver<u64>>,
) {
    loop {
        let (deadline, report_at) = shared.next_deadline();
        let action = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            message = recv(&mut wake) => match message {
                // A lagging receiver may have missed a wake-up: claim anyway.
                Some(_) => Action::Claim,
                None => Action::Nothing,
            },
            message = recv(&mut schedule) => match message {
                Some(Ok(message)) => {
                    shared.on_schedule(&message.payload);
                    Action::Nothing
                }
                // Missed announcements: a claim reads the deadline again.
                Some(Err(_)) => Action::Claim,
                None => Action::Nothing,
            },
            changed = changed(&mut epoch) => if changed {
                // A new connection may be to a Redis with another clock.
                shared.timers.lock().expect("timers lock poisoned").due_read_at = i64::MIN;
                Action::Claim
            } else {
                Action::Nothing
            },
            _ = sleep_until(deadline) => {
                shared.timers_fired();
                Action::Claim
            }
            _ = tokio::time::sleep_until(report_at) => Action::Report,
            _ = shared.poke.notified() => {
                if shared.claim_pending.swap(false, Ordering::AcqRel) {
                    Action::Claim
                } else {
                    Action::Nothing
                }
            }
        };
        match action {
            Action::Claim => shared.claim_free().await,
            Action::Report => shared.report_commands().await,
            Action::Nothing => {}
        }
    }
    shared.drain(wake, schedule).await;
}

/// The next message, `Some(Err)` after a lag; pends forever once closed.
async fn recv(
    receiver: &mut Option<broadcast::Receiver<Message>>,
) -> Option<Result<Message, broadcast::error::RecvError>> {
    let Some(rx) = receiver.as_mut() else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Err(broadcast::error::RecvError::Closed) => {
            *receiver = None;
            None
        }
        other => Some(other),
    }
}

/// Whether the subscription reconnected; pends forever once it is gone.
async fn changed(epoch: &mut Option<watch::Receiver<u64>>) -> bool {
    let Some(rx) = epoch.as_mut() else {
        return std::future::pending().await;
    };
    if rx.changed().await.is_err() {
        *epoch = None;
        return false;
    }
    true
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn jitter() -> Duration {
    Duration::from_millis(fastrand::u64(0..=JITTER_MS))
}

impl<H: Handler> Shared<H> {
    /// Claims jobs for every free slot; one command, none when no slot is
    /// free.
    async fn claim_free(self: &Arc<Self>) {
        // Marked before the slots are counted: a slot freed after the count
        // then sees the mark and claims.
        self.claim_pending.store(true, Ordering::Release);
        let want = self.free.swap(0, Ordering::AcqRel);
        if want == 0 {
            return;
        }
        self.claim_pending.store(false, Ordering::Release);
        match self.queue.claim(want).await {
            Ok(reply) => {
                self.timers
                    .lock()
                    .expect("timers lock poisoned")
                    .retry_backoff = Duration::ZERO;
                self.take(reply, want);
            }
            Err(err) => {
                self.release(want);
                let mut timers = self.timers.lock().expect("timers lock poisoned");
                timers.retry_backoff = (timers.retry_backoff * 2)
                    .clamp(Duration::from_millis(200), Duration::from_secs(5));
                timers.retry = Some(Instant::now() + timers.retry_backoff);
                tracing::warn!(cause = %err, retry_in = ?timers.retry_backoff, "queue claim failed");
            }
        }
    }

    /// Starts the claimed jobs in the `reserved` slots, gives back the
    /// slots left over, and notes the timers the reply set.
    fn take(self: &Arc<Self>, reply: ClaimReply, reserved: usize) {
        self.note_timers(&reply);
        self.start(reply.jobs.into_iter(), reserved);
    }

    /// Starts up to `reserved` jobs, each in a slot task of its own, and
    /// gives back the reserved slots left over.
    fn start(self: &Arc<Self>, jobs: impl Iterator<Item = Claimed>, reserved: usize) {
        let mut started = 0;
        for job in jobs.take(reserved) {
            slot::spawn(self.clone(), job);
            started += 1;
        }
        self.release(reserved - started);
    }

    fn note_timers(&self, reply: &ClaimReply) {
        let now = Instant::now();
        let mut timers = self.timers.lock().expect("timers lock poisoned");
        // A claim the rate limit did not hold back ends any wait for it.
        timers.limited = reply.limited.map(|wait| {
            self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            now + wait + jitter()
        });
        let due = reply
            .due_in_ms
            .map(|ms| now + Duration::from_millis(ms.max(0) as u64) + jitter());
        timers.learn_due(due, reply.redis_now);
        drop(timers);
        self.poke.notify_one();
    }

    /// A deadline announced on the schedule channel: `<due> <now>` in Redis
    /// milliseconds, or `- <now>` when none is left.
    fn on_schedule(&self, payload: &[u8]) {
        let text = String::from_utf8_lossy(payload);
        let mut parts = text.split(' ');
        let (due, now) = (
            parts.next(),
            parts.next().and_then(|n| n.parse::<i64>().ok()),
        );
        let Some(now) = now else {
            return;
        };
        let due = due.and_then(|d| d.parse::<i64>().ok()).map(|due| {
            Instant::now() + Duration::from_millis((due - now).max(0) as u64) + jitter()
        });
        self.timers
            .lock()
            .expect("timers lock poisoned")
            .learn_due(due, now);
    }

    fn release(&self, slots: usize) {
        if slots > 0 {
            self.free.fetch_add(slots, Ordering::AcqRel);
            self.poke.notify_one();
        }
    }

    /// The next moment to claim at (only while a slot is free), and when to
    /// report uncounted commands.
    fn next_deadline(&self) -> (Option<Instant>, Instant) {
        let now = Instant::now();
        let mut timers = self.timers.lock().expect("timers lock poisoned");
        if self.queue.unreported() == 0 {
            timers.unreported_since = None;
        } else if timers.unreported_since.is_none() {
            timers.unreported_since = Some(now);
        }
        let report_at = timers.unreported_since.unwrap_or(now) + REPORT_EVERY;
        if self.free.load(Ordering::Acquire) == 0 {
            return (None, report_at);
        }
        let next = [timers.due, timers.limited, timers.retry]
            .into_iter()
            .flatten()
            .min();
        (next, report_at)
    }

    /// Clears the timers that fired; the claim that follows sets the next.
    fn timers_fired(&self) {
        let now = Instant::now();
        let mut guard = self.timers.lock().expect("timers lock poisoned");
        let timers = &mut *guard;
        for timer in [&mut timers.due, &mut timers.limited, &mut timers.retry] {
            if timer.is_some_and(|at| at <= now) {
                *timer = None;
            }
        }
    }

    async fn report_commands(&self) {
        if self.queue.unreported() > 0 {
            if let Err(err) = self.queue.housekeeping("flush").await {
                tracing::debug!(cause = %err, "command count not reported; will retry");
            }
        }
        self.timers
            .lock()
            .expect("timers lock poisoned")
            .unreported_since = None;
    }

    /// The shutdown path: no more wake-ups, active jobs get the grace period,
    /// the rest go back to waiting.
    async fn drain(
        &self,
        wake: Option<broadcast::Receiver<Message>>,
        schedule: Option<broadcast::Receiver<Message>>,
    ) {
        let options = self.queue.options();
        if let Err(err) = self.queue.housekeeping("resign").await {
            tracing::warn!(cause = %err, "could not leave the idle set; a wake-up may be lost");
        }
        drop((wake, schedule));
        let subscriber = self.queue.subscriber();
        subscriber.release(&self.queue.keys().wake_channel(&options.instance_id));
        subscriber.release(&self.queue.keys().schedule_channel());
        // The UNSUBSCRIBE of the instance's own channel.
        self.queue.command_counter().add(1);

        let mut running = self.running.subscribe();
        let idle = |n: &usize| *n == 0;
        if tokio::time::timeout(options.shutdown_grace, running.wait_for(idle))
            .await
            .is_err()
        {
            let left = *running.borrow();
            tracing::warn!(
                left,
                "shutdown grace period over; handing unfinished jobs back"
            );
            self.hard_stop.cancel();
            let _ = tokio::time::timeout(HAND_BACK_TIMEOUT, running.wait_for(idle)).await;
        }
        if self.queue.unreported() > 0 {
            let _ = self.queue.housekeeping("flush").await;
        }
        tracing::info!(
            queue = %options.name,
            handed_back = self.counters.handed_back.load(Ordering::Relaxed),
            "queue worker stopped"
        );
    }
}
