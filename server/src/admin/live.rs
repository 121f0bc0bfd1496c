//! The dashboard's live feed: one task per instance turns the queue's events
//! into updates for every open dashboard page.
//!
//! Pages never ask Redis for changes. The task follows the events through
//! the instance's shared subscription, passes each job change on at once,
//! and re-reads the counts (one command) at most once per
//! [`COUNTS_INTERVAL`] while events arrive and somebody is watching; with
//! no page open it reads nothing. It starts with the first page opened on
//! the instance, and each page reads the counts once when it connects.

use std::{sync::Arc, time::Duration};

use app::admin::types::{JobChange, LiveUpdate};
use futures::{Stream, StreamExt};
use tokio::{
    sync::{broadcast, Mutex},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use super::convert::{counts_view, state_view};
use crate::queue::{Event, EventGap, Events, JobState, Queue, QueueError};

/// The shortest time between two reads of the counts.
pub const COUNTS_INTERVAL: Duration = Duration::from_millis(500);
/// Updates a slow page may fall behind before it skips some.
const BACKLOG: usize = 1024;

/// The feed of one instance; cheap to clone.
#[derive(Clone)]
pub struct LiveFeed {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Queue,
    /// Every open page holds a receiver; the task sends.
    updates: broadcast::Sender<LiveUpdate>,
    /// Whether the task runs; a lock so two first pages start one task.
    started: Mutex<bool>,
    shutdown: CancellationToken,
}

impl LiveFeed {
    pub fn new(queue: Queue, shutdown: CancellationToken) -> Self {
        let (updates, _) = broadcast::channel(BACKLOG);
        LiveFeed {
            inner: Arc::new(Inner {
                queue,
                updates,
                started: Mutex::new(false),
                shutdown,
            }),
        }
    }

    /// A page's updates: the counts now, then every change, until the page
    /// goes away or the instance shuts down.
    pub async fn subscribe(
        &self,
    ) -> Result<impl Stream<Item = LiveUpdate> + Send + 'static, QueueError> {
        self.start().await;
        // Joining before the read means no change falls in between.
        let receiver = self.inner.updates.subscribe();
        let counts = counts_view(&self.inner.queue.admin().counts().await?);
        let first = futures::stream::once(async move { LiveUpdate::Counts { counts } });
        let rest = futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(update) => return Some((update, receiver)),
                    // The next counts put the page right again; skipped job
                    // changes show on its next load.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        // A stream that never ends would hold the graceful shutdown open.
        let shutdown = self.inner.shutdown.clone().cancelled_owned();
        Ok(first.chain(rest).take_until(shutdown))
    }

    async fn start(&self) {
        let mut started = self.inner.started.lock().await;
        if *started {
            return;
        }
        // Subscribed before the first page reads its counts.
        let events = self.inner.queue.events().await;
        let inner = self.inner.clone();
        tokio::spawn(async move {
            run(&inner.queue, events, &inner.updates, &inner.shutdown).await;
        });
        *started = true;
    }
}

async fn run(
    queue: &Queue,
    mut events: Events,
    updates: &broadcast::Sender<LiveUpdate>,
    shutdown: &CancellationToken,
) {
    tracing::debug!("queue dashboard feed started");
    let admin = queue.admin();
    let mut stale = false;
    let mut next_read = Instant::now();
    loop {
        let watched = updates.receiver_count() > 0;
        tokio::select! {
            _ = shutdown.cancelled() => {
                tracing::debug!("queue dashboard feed stopped: shutting down");
                return;
            }
            event = events.recv() => match event {
                Ok(event) => {
                    stale |= moves_counts(&event);
                    if let Some(update) = update_of(event) {
                        let _ = updates.send(update);
                    }
                }
                Err(EventGap::Closed) => {
                    tracing::warn!("queue dashboard feed stopped: the event subscription closed");
                    return;
                }
                Err(gap) => {
                    tracing::debug!(cause = %gap, "queue dashboard feed missed events; re-reading counts");
                    stale = true;
                }
            },
            _ = tokio::time::sleep_until(next_read), if stale && watched => {
                match admin.counts().await {
                    Ok(counts) => {
                        let _ = updates.send(LiveUpdate::Counts { counts: counts_view(&counts) });
                    }
                    Err(err) => tracing::warn!(cause = %err, "queue dashboard feed could not read the counts"),
                }
                stale = false;
                next_read = Instant::now() + COUNTS_INTERVAL;
            }
        }
    }
}

/// Whether `event` changes a count or the paused flag.
fn moves_counts(event: &Event) -> bool {
    event.transition().is_some()
        || matches!(
            event,
            Event::Paused | Event::Resumed | Event::Cleaned { .. }
        )
}

/// What a page needs to know of `event`.
pub fn update_of(event: Event) -> Option<LiveUpdate> {
    let change = |id: String, kind: &str, state: Option<JobState>| JobChange {
        id,
        kind: kind.into(),
        state: state.map(state_view),
        progress: None,
        message: None,
        attempt: None,
        error: None,
        instance: None,
    };
    let change = match event {
        Event::Added { job, state } => change(job, "added", Some(state)),
        Event::Active {
            job,
            attempt,
            instance,
        } => JobChange {
            attempt: Some(attempt),
            instance: Some(instance),
            progress: Some(0),
            ..change(job, "active", Some(JobState::Active))
        },
        Event::Progress {
            job,
            progress,
            message,
        } => JobChange {
            progress: Some(progress.min(100)),
            message: Some(message),
            ..change(job, "progress", None)
        },
        Event::Completed { job, .. } => JobChange {
            progress: Some(100),
            ..change(job, "completed", Some(JobState::Completed))
        },
        Event::Retrying {
            job,
            attempt,
            error,
            state,
            ..
        } => JobChange {
            attempt: Some(attempt),
            error: Some(error),
            ..change(job, "retrying", Some(state))
        },
        Event::Failed {
            job,
            attempts,
            error,
        } => JobChange {
            attempt: Some(attempts),
            error: Some(error),
            ..change(job, "failed", Some(JobState::Failed))
        },
        Event::Stalled { job, attempt } => JobChange {
            attempt: Some(attempt),
            ..change(job, "stalled", Some(JobState::Waiting))
        },
        Event::Waiting { job, .. } => change(job, "waiting", Some(JobState::Waiting)),
        Event::Removed { job, .. } => change(job, "removed", None),
        Event::Cleaned { state, count } => {
            return Some(LiveUpdate::Cleaned {
                state: state_view(state),
                count,
            })
        }
        Event::Paused | Event::Resumed => return None,
    };
    Some(LiveUpdate::Job { change })
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::admin::types::QueueState;

    #[test]
    fn progress_events_become_job_changes_without_a_state() {
        let update = update_of(Event::Progress {
            job: "j1".into(),
            progress: 140,
            message: "Model writing".into(),
        });
        let Some(LiveUpdate::Job { change }) = update else {
            panic!("a job change")
        };
        assert_eq!((change.state, change.progress), (None, Some(100)));
        assert_eq!(change.message.as_deref(), Some("Model writing"));
    }

    #[test]
    fn a_failure_carries_its_error_and_the_failed_state() {
        let update = update_of(Event::Failed {
            job: "j1".into(),
            attempts: 3,
            error: "model refused".into(),
        });
        let Some(LiveUpdate::Job { change }) = update else {
            panic!("a job change")
        };
        assert_eq!(change.state, Some(QueueState::Failed));
        assert_eq!(change.error.as_deref(), Some("model refused"));
    }

    #[test]
    fn pausing_changes_counts_but_sends_no_job_change() {
        assert!(moves_counts(&Event::Paused));
        assert!(update_of(Event::Paused).is_none());
        assert!(!moves_counts(&Event::Progress {
            job: "j".into(),
            progress: 1,
            message: String::new()
        }));
    }
}
