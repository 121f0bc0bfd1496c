//! Job events as any instance sees them: published by the scripts on the
//! queue's event channel as JSON, received through the instance's shared
//! subscription, typed here.
//!
//! A page follows one job with [`Queue::follow`]; a dashboard follows all with
//! [`Queue::events`] and keeps its counts from [`Event::transition`]. Pub/sub
//! does not replay what was missed, so a receiver that lagged or lived
//! through a reconnect is told ([`EventGap`]) and reads the state again.

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use super::{JobState, JobSummary, Queue, QueueError};
use crate::redis_client::{Message, Subscriber};

/// How many events a follower may fall behind before it is told of a gap. A
/// busy queue publishes a few events per job, thousands a second, so this is
/// generous; there is one such buffer per instance.
const EVENTS_CAPACITY: usize = 1024;

/// Something that happened to a job or to the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A new job, waiting or delayed.
    Added {
        job: String,
        state: JobState,
    },
    /// An attempt started on `instance`.
    Active {
        job: String,
        attempt: u32,
        instance: String,
    },
    /// The handler reported progress.
    Progress {
        job: String,
        progress: u8,
        message: String,
    },
    Completed {
        job: String,
        duration_ms: u64,
    },
    /// An attempt failed and the job will be tried again, now (`waiting`) or
    /// after `delay_ms` (`delayed`).
    Retrying {
        job: String,
        attempt: u32,
        error: String,
        delay_ms: u64,
        state: JobState,
    },
    /// The job failed for good.
    Failed {
        job: String,
        attempts: u32,
        error: String,
    },
    /// The job's lease ran out and it went back to waiting.
    Stalled {
        job: String,
        attempt: u32,
    },
    /// Back to waiting: promoted, retried by an admin, or handed back by a
    /// worker that shut down.
    Waiting {
        job: String,
        from: JobState,
    },
    Removed {
        job: String,
        from: JobState,
    },
    Paused,
    Resumed,
    /// Finished jobs older than an age were removed.
    Cleaned {
        state: JobState,
        count: u64,
    },
}

impl Event {
    /// The job it concerns, if any.
    pub fn job(&self) -> Option<&str> {
        match self {
            Event::Added { job, .. }
            | Event::Active { job, .. }
            | Event::Progress { job, .. }
            | Event::Completed { job, .. }
            | Event::Retrying { job, .. }
            | Event::Failed { job, .. }
            | Event::Stalled { job, .. }
            | Event::Waiting { job, .. }
            | Event::Removed { job, .. } => Some(job),
            Event::Paused | Event::Resumed | Event::Cleaned { .. } => None,
        }
    }

    /// The state one job left and the state it entered, so a dashboard can
    /// keep its counts without asking Redis. A job that failed after too
    /// many stalls left `active` too.
    pub fn transition(&self) -> Option<(Option<JobState>, Option<JobState>)> {
        use JobState::*;
        Some(match self {
            Event::Added { state, .. } => (None, Some(*state)),
            Event::Active { .. } => (Some(Waiting), Some(Active)),
            Event::Completed { .. } => (Some(Active), Some(Completed)),
            Event::Retrying { state, .. } => (Some(Active), Some(*state)),
            Event::Failed { .. } => (Some(Active), Some(Failed)),
            Event::Stalled { .. } => (Some(Active), Some(Waiting)),
            Event::Waiting { from, .. } => (Some(*from), Some(Waiting)),
            Event::Removed { from, .. } => (Some(*from), None),
            Event::Progress { .. } | Event::Paused | Event::Resumed | Event::Cleaned { .. } => {
                return None
            }
        })
    }
}

/// Why some events may have been missed; read the state again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventGap {
    #[error("the receiver fell {0} events behind")]
    Lagged(u64),
    #[error("the subscription reconnected; events in between are gone")]
    Reconnected,
    #[error("the subscription is closed")]
    Closed,
}

/// Every event of one queue, from the moment it was made.
pub struct Events {
    receiver: Option<broadcast::Receiver<Message>>,
    epoch: watch::Receiver<u64>,
    subscriber: Subscriber,
    channel: String,
}

impl Events {
    /// The next event, or a gap after which the caller should re-read.
    pub async fn recv(&mut self) -> Result<Event, EventGap> {
        let Some(receiver) = self.receiver.as_mut() else {
            return Err(EventGap::Closed);
        };
        loop {
            tokio::select! {
                message = receiver.recv() => match message {
                    Ok(message) => match serde_json::from_slice(&message.payload) {
                        Ok(event) => return Ok(event),
                        Err(err) => tracing::debug!(cause = %err, "unreadable queue event skipped"),
                    },
                    Err(broadcast::error::RecvError::Lagged(n)) => return Err(EventGap::Lagged(n)),
                    Err(broadcast::error::RecvError::Closed) => return Err(EventGap::Closed),
                },
                changed = self.epoch.changed() => {
                    if changed.is_err() {
                        return Err(EventGap::Closed);
                    }
                    return Err(EventGap::Reconnected);
                }
            }
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        // The subscription ends when its last receiver is gone.
        drop(self.receiver.take());
        self.subscriber.release(&self.channel);
    }
}

impl Queue {
    /// Every event of the queue from now on. The first receiver on this
    /// instance costs one SUBSCRIBE; the others share it.
    pub async fn events(&self) -> Events {
        let channel = self.keys().events_channel();
        let subscriber = self.subscriber().clone();
        let receiver = subscriber
            .subscribe(&channel, self.command_counter(), EVENTS_CAPACITY)
            .await;
        let mut epoch = subscriber.epoch();
        epoch.borrow_and_update();
        Events {
            receiver: Some(receiver),
            epoch,
            subscriber,
            channel,
        }
    }

    /// Follows one job: its state now, then after each change, until it
    /// completes, fails or is removed. Two commands at most (a SUBSCRIBE the
    /// instance may already have made, and one read), plus a read after each
    /// gap in the events.
    pub async fn follow(&self, id: &str) -> Result<JobFollow, QueueError> {
        // Subscribing before reading means no change falls in between.
        let events = self.events().await;
        let job = self.get(id).await?.summary;
        Ok(JobFollow {
            queue: self.clone(),
            events,
            current: job,
            fresh: true,
            done: false,
        })
    }
}

/// One job's updates; see [`Queue::follow`].
pub struct JobFollow {
    queue: Queue,
    events: Events,
    current: JobSummary,
    /// Whether `current` has not been handed out yet.
    fresh: bool,
    done: bool,
}

impl JobFollow {
    /// The job after its next change (first: as it was when followed), or
    /// `None` after it finished or was removed.
    pub async fn next(&mut self) -> Option<Result<JobSummary, QueueError>> {
        if self.done {
            return None;
        }
        if !self.fresh {
            if let Err(err) = self.wait_for_change().await {
                self.done = true;
                return Some(Err(err));
            }
            if self.done {
                return None;
            }
        }
        self.fresh = false;
        if self.current.state.is_finished() {
            self.done = true;
        }
        Some(Ok(self.current.clone()))
    }

    async fn wait_for_change(&mut self) -> Result<(), QueueError> {
        let id = self.current.id.clone();
        loop {
            let event = match self.events.recv().await {
                Ok(event) => event,
                Err(EventGap::Closed) => {
                    return Err(QueueError::Reply("the event subscription closed".into()))
                }
                Err(_) => {
                    self.current = match self.queue.get(&id).await {
                        Ok(job) => job.summary,
                        Err(QueueError::NotFound(_)) => {
                            self.done = true;
                            return Ok(());
                        }
                        Err(err) => return Err(err),
                    };
                    return Ok(());
                }
            };
            if event.job() != Some(id.as_str()) {
                continue;
            }
            let job = &mut self.current;
            match event {
                Event::Progress {
                    progress, message, ..
                } => {
                    job.progress = progress.min(100);
                    job.message = message;
                }
                Event::Active {
                    attempt, instance, ..
                } => {
                    job.state = JobState::Active;
                    job.attempts = attempt;
                    job.instance = Some(instance);
                }
                Event::Completed { .. } => {
                    job.state = JobState::Completed;
                    job.progress = 100;
                }
                Event::Retrying { error, state, .. } => {
                    job.state = state;
                    job.error = Some(error);
                }
                Event::Failed {
                    error, attempts, ..
                } => {
                    job.state = JobState::Failed;
                    job.error = Some(error);
                    job.attempts = attempts;
                }
                Event::Added { state, .. } => job.state = state,
                Event::Stalled { .. } | Event::Waiting { .. } => job.state = JobState::Waiting,
                Event::Removed { .. } => {
                    self.done = true;
                    return Ok(());
                }
                Event::Paused | Event::Resumed | Event::Cleaned { .. } => continue,
            }
            return Ok(());
        }
    }
}
