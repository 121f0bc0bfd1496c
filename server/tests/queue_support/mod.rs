//! What the queue's integration tests share: a real Redis per test, queues
//! with short timings, workers that stop when the test ends, and ways to wait
//! for events instead of sleeping.

#![allow(dead_code)]

use std::{
    future::Future,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use server::{
    queue::{Event, Events, Handler, Job, JobFollow, JobState, Queue, QueueOptions, Worker},
    redis_client::{self, Redis, RedisUrl, Subscriber},
    testkit::RedisServer,
};
use tokio_util::sync::CancellationToken;

/// How long any awaited event may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A Redis server with the process's shared connection and subscription on
/// it, as an instance has them.
pub struct Harness {
    pub server: RedisServer,
    pub url: RedisUrl,
    pub redis: Redis,
    pub subscriber: Subscriber,
    /// Stops the subscription (and every worker started with `worker`).
    pub shutdown: CancellationToken,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(&[]).await
    }

    pub async fn start_with(args: &[&str]) -> Harness {
        let server = RedisServer::start_with(args);
        let url: RedisUrl = server.url().parse().expect("a test Redis URL");
        let redis = redis_client::connect(&url).expect("a Redis client");
        let shutdown = CancellationToken::new();
        let subscriber = Subscriber::spawn(redis_client::client(&url).unwrap(), shutdown.clone());
        Harness {
            server,
            url,
            redis,
            subscriber,
            shutdown,
        }
    }

    /// A queue with timings short enough for tests, run by a fresh instance.
    pub fn options(&self, name: &str) -> QueueOptions {
        let mut options = QueueOptions::new(name, &next_instance());
        options.backoff = Duration::from_millis(50);
        options.lease = Duration::from_secs(2);
        options.rate_limit = None;
        options.shutdown_grace = Duration::from_secs(2);
        options
    }

    pub fn queue(&self, options: QueueOptions) -> Queue {
        Queue::new(&self.redis, self.subscriber.clone(), options).expect("valid test options")
    }

    /// A second instance of a queue: same name, its own instance id.
    pub fn instance_of(&self, queue: &Queue) -> Queue {
        let mut options = queue.options().clone();
        options.instance_id = next_instance();
        self.queue(options)
    }

    /// Starts a worker that stops when the harness does.
    pub async fn worker<H: Handler>(&self, queue: &Queue, handler: H) -> Worker {
        Worker::spawn(queue.clone(), handler, self.shutdown.child_token()).await
    }

    /// A plain connection for looking at Redis from outside the queue.
    pub async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis_client::client(&self.url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("a raw connection")
    }
}

/// Commands Redis itself processed so far (an independent count), asked on
/// `raw`: a connection the caller keeps, so that asking again adds only this
/// one INFO to the count and no handshake of a new connection.
pub async fn processed_commands(raw: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(raw)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO stats has total_commands_processed")
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A unique instance id within the test process.
pub fn next_instance() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!(
        "test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Awaits `future`, failing the test after [`PATIENCE`].
pub async fn patiently<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The next event that `matches`, skipping others.
pub async fn next_event(
    events: &mut Events,
    what: &str,
    matches: impl Fn(&Event) -> bool,
) -> Event {
    patiently(what, async {
        loop {
            match events.recv().await {
                Ok(event) if matches(&event) => return event,
                Ok(_) => {}
                Err(gap) => panic!("event gap while waiting for {what}: {gap}"),
            }
        }
    })
    .await
}

/// Follows a job until it is finished; returns it in full.
pub async fn finished(queue: &Queue, id: &str) -> Job {
    let mut follow: JobFollow = queue.follow(id).await.expect("the job exists");
    patiently(&format!("job {id} to finish"), async {
        while let Some(update) = follow.next().await {
            if update.expect("follow works").state.is_finished() {
                break;
            }
        }
    })
    .await;
    queue.get(id).await.expect("the finished job is kept")
}

/// Follows a job until it reaches `state`.
pub async fn reaches(queue: &Queue, id: &str, state: JobState) {
    let mut follow = queue.follow(id).await.expect("the job exists");
    patiently(&format!("job {id} to be {state}"), async {
        while let Some(update) = follow.next().await {
            if update.expect("follow works").state == state {
                return;
            }
        }
        panic!("job {id} ended without being {state}");
    })
    .await;
}

/// Waits until `check` holds, looking again after each event of the queue.
pub async fn until<F, Fut>(queue: &Queue, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut events = queue.events().await;
    patiently(what, async {
        while !check().await {
            // Any event (or a gap) is a reason to look again; the timeout
            // covers states reached without one.
            let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        }
    })
    .await;
}
