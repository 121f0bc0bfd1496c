//! The queue's benchmark: latency and throughput of enqueueing, throughput of
//! processing, and what both cost in Redis commands.
//!
//! ```text
//! cargo run --release -p server --bin queue-bench -- [--redis-url URL]
//!     [--jobs N] [--idle-seconds S]
//! ```
//!
//! Without a URL it starts a redis-server of its own (persistence off). It
//! prints one figure per line, `name value`:
//!
//! - `enqueue_p50_ms`, `enqueue_p99_ms`: one enqueue at a time (5,000 timed
//!   after 500 to warm up), from the call to its reply.
//! - `enqueue_per_s`: N enqueues with 64 in flight on the one multiplexed
//!   connection.
//! - `process_per_s`: N no-op jobs, each reporting progress once, enqueued
//!   beforehand; one worker with concurrency 50 and no rate limit, timed from
//!   its start until nothing is waiting or active.
//! - `client_commands_per_job`: the commands the producer and the worker
//!   counted for those N jobs (enqueue to completion, the worker's start-up
//!   included), divided by N.
//! - `idle_commands_per_hour`: the commands one started instance with no
//!   work sends over S seconds (60 by default), scaled to an hour.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use futures::{stream, StreamExt};
use serde_json::{json, Value};
use server::{
    queue::{from_fn, JobContext, Outcome, Queue, QueueOptions, Worker},
    redis_client::{self, Redis, RedisUrl, Subscriber},
    testkit::RedisServer,
};
use tokio_util::sync::CancellationToken;

struct Bench {
    redis: Redis,
    subscriber: Subscriber,
    shutdown: CancellationToken,
}

impl Bench {
    fn queue(&self, name: &str, instance: &str) -> Queue {
        let mut options = QueueOptions::new(name, instance);
        options.rate_limit = None;
        options.concurrency = 50;
        Queue::new(&self.redis, self.subscriber.clone(), options).expect("valid bench options")
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

async fn enqueue_many(queue: &Queue, n: u64) {
    stream::iter(0..n)
        .map(|i| {
            let queue = queue.clone();
            async move { queue.enqueue(&json!({ "n": i })).await.expect("enqueue") }
        })
        .buffer_unordered(64)
        .for_each(|_| async {})
        .await;
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let jobs: u64 = flag(&args, "--jobs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let idle_seconds: u64 = flag(&args, "--idle-seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let own_server = flag(&args, "--redis-url")
        .is_none()
        .then(RedisServer::start);
    let raw_url = flag(&args, "--redis-url").unwrap_or_else(|| own_server.as_ref().unwrap().url());
    let url: RedisUrl = match raw_url.parse() {
        Ok(url) => url,
        Err(err) => {
            eprintln!("queue-bench: --redis-url: {err}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    let bench = Bench {
        redis: redis_client::connect(&url).expect("a Redis client"),
        subscriber: Subscriber::spawn(
            redis_client::client(&url).expect("a Redis client"),
            shutdown.clone(),
        ),
        shutdown,
    };
    let run = format!("{:x}", fastrand::u32(..));

    // One enqueue at a time.
    let producer = bench.queue(&format!("bench-latency-{run}"), "bench-producer");
    for i in 0..500 {
        producer
            .enqueue(&json!({ "warm": i }))
            .await
            .expect("enqueue");
    }
    let mut latencies = Vec::with_capacity(5000);
    for i in 0..5000 {
        let started = Instant::now();
        producer.enqueue(&json!({ "n": i })).await.expect("enqueue");
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    println!("enqueue_p50_ms {:.3}", percentile(&latencies, 0.50));
    println!("enqueue_p99_ms {:.3}", percentile(&latencies, 0.99));

    // 64 in flight.
    let producer = bench.queue(&format!("bench-burst-{run}"), "bench-producer");
    let started = Instant::now();
    enqueue_many(&producer, jobs).await;
    println!(
        "enqueue_per_s {:.0}",
        jobs as f64 / started.elapsed().as_secs_f64()
    );

    // Processing: the jobs wait, then one worker drains them.
    let name = format!("bench-process-{run}");
    let producer = bench.queue(&name, "bench-producer");
    let observer = bench.queue(&name, "bench-observer").admin();
    enqueue_many(&producer, jobs).await;
    let worker_queue = bench.queue(&name, "bench-worker");
    let handler = from_fn(|job: JobContext<Value>| async move {
        match job.progress(50, "halfway").await {
            Ok(()) => Outcome::Completed(Value::Null),
            Err(err) => Outcome::Failed(err.to_string()),
        }
    });
    let started = Instant::now();
    let worker = Worker::spawn(worker_queue.clone(), handler, bench.shutdown.child_token()).await;
    loop {
        let counts = observer.counts().await.expect("counts");
        if counts.waiting + counts.active == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    println!("process_per_s {:.0}", jobs as f64 / elapsed.as_secs_f64());
    let commands = producer.commands_sent() + worker_queue.commands_sent();
    println!(
        "client_commands_per_job {:.3}",
        commands as f64 / jobs as f64
    );
    let stats = worker.stats();
    if stats.completed != jobs {
        eprintln!("queue-bench: {} of {jobs} jobs completed", stats.completed);
    }

    // One instance with nothing to do.
    let idle_queue = bench.queue(&format!("bench-idle-{run}"), "bench-idle");
    let idle_worker = Worker::spawn(
        idle_queue.clone(),
        from_fn(|_: JobContext<Value>| async { Outcome::Completed(Value::Null) }),
        bench.shutdown.child_token(),
    )
    .await;
    let before = idle_queue.commands_sent();
    tokio::time::sleep(Duration::from_secs(idle_seconds)).await;
    let idle = idle_queue.commands_sent() - before;
    println!(
        "idle_commands_per_hour {:.1}",
        idle as f64 * 3600.0 / idle_seconds as f64
    );

    bench.shutdown.cancel();
    let _ = tokio::join!(worker.join(), idle_worker.join());
    drop(own_server);
    ExitCode::SUCCESS
}
