//! A process that runs one queue worker against a Redis, for the tests that
//! need workers in separate processes (the rate limit across processes, a
//! worker killed with SIGKILL mid-job).
//!
//! Its jobs take `{"sleep_ms": N}`: they report progress, sleep N ms and
//! complete with the instance's name. It prints `ready` on stdout once it
//! listens for work, and stops gracefully on SIGTERM or SIGINT.
//!
//! ```text
//! queue-worker --redis-url URL --queue NAME --instance ID
//!              [--concurrency N] [--lease-ms MS] [--max-stalls N]
//!              [--rate MAX/WINDOW_MS]
//! ```

use std::{io::Write, process::ExitCode, time::Duration};

use serde::Deserialize;
use serde_json::json;
use server::{
    queue::{from_fn, JobContext, Outcome, Queue, QueueOptions, RateLimit, Worker},
    redis_client::{self, RedisUrl, Subscriber},
    shutdown, telemetry,
};
use tokio_util::sync::CancellationToken;

#[derive(Deserialize)]
struct Sleep {
    sleep_ms: u64,
}

fn parse(args: &[String]) -> Result<(RedisUrl, QueueOptions), String> {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let url: RedisUrl = value("--redis-url")
        .ok_or("--redis-url is required")?
        .parse()?;
    let name = value("--queue").ok_or("--queue is required")?;
    let instance = value("--instance").ok_or("--instance is required")?;
    let number = |flag: &str| -> Result<Option<u64>, String> {
        value(flag)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("{flag} takes a number"))
            })
            .transpose()
    };

    let mut options = QueueOptions::new(name, instance);
    options.rate_limit = None;
    options.backoff = Duration::from_millis(100);
    if let Some(n) = number("--concurrency")? {
        options.concurrency = n as usize;
    }
    if let Some(ms) = number("--lease-ms")? {
        options.lease = Duration::from_millis(ms);
    }
    if let Some(n) = number("--max-stalls")? {
        options.max_stalls = n as u32;
    }
    if let Some(rate) = value("--rate") {
        let (max, window) = rate.split_once('/').ok_or("--rate takes MAX/WINDOW_MS")?;
        let max = max.parse().map_err(|_| "--rate: MAX is a number")?;
        let window = window
            .parse()
            .map_err(|_| "--rate: WINDOW_MS is a number")?;
        options.rate_limit = Some(RateLimit {
            max,
            window: Duration::from_millis(window),
        });
    }
    options.validate().map_err(|e| e.to_string())?;
    Ok((url, options))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, options) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(err) => {
            eprintln!("queue-worker: {err}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(telemetry::LogFormat::Text);

    let token = CancellationToken::new();
    shutdown::cancel_on_signal(token.clone());
    let (redis, client) = match (redis_client::connect(&url), redis_client::client(&url)) {
        (Ok(redis), Ok(client)) => (redis, client),
        (Err(err), _) | (_, Err(err)) => {
            eprintln!("queue-worker: {err}");
            return ExitCode::FAILURE;
        }
    };
    let subscriber = Subscriber::spawn(client, token.clone());
    let instance = options.instance_id.clone();
    let queue = match Queue::new(&redis, subscriber, options) {
        Ok(queue) => queue,
        Err(err) => {
            eprintln!("queue-worker: {err}");
            return ExitCode::FAILURE;
        }
    };

    let handler = from_fn(move |job: JobContext<Sleep>| {
        let instance = instance.clone();
        async move {
            if let Err(err) = job.progress(10, "started").await {
                return Outcome::Failed(err.to_string());
            }
            tokio::time::sleep(Duration::from_millis(job.payload.sleep_ms)).await;
            Outcome::Completed(json!({ "instance": instance }))
        }
    });
    let worker = Worker::spawn(queue, handler, token).await;
    println!("ready");
    let _ = std::io::stdout().flush();
    worker.join().await;
    ExitCode::SUCCESS
}
