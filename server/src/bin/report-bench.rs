//! How fast `POST /api/reports/session/{id}` answers under load: the call
//! that once took 30 seconds now only enqueues a job.
//!
//! ```text
//! cargo run --release -p server --bin report-bench -- [--clients N] [--requests N]
//! ```
//!
//! It starts a `redis-server` of its own and one instance with `ROLE=web`
//! (so no worker competes with the requests), makes one session per request,
//! then sends the requests from N concurrent clients (100 by default), each
//! for another session, so every one enqueues a new job. It prints one
//! figure per line, `name value`:
//!
//! - `post_p50_ms`, `post_p99_ms`: from sending a request to reading the
//!   whole 202 answer, over every request after a warm-up of 500;
//! - `posts_per_s`: requests answered per second over the timed run.
//!
//! The clients run in this process, on the same cores as the instance and
//! Redis, so the figures include their cost.

use std::{
    collections::HashMap,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{stream, StreamExt};
use server::{
    chat::ChatEngine,
    config::{ChatSettings, Config},
    redis_client::{self, RedisUrl, Subscriber},
    startup::Application,
    testkit::RedisServer,
};
use tokio_util::sync::CancellationToken;

const WARM_UP: usize = 500;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One session to ask a report of, with its tutor's token.
struct Target {
    session: String,
    token: String,
}

fn main() -> ExitCode {
    let (clients, requests) = match arguments() {
        Ok(numbers) => numbers,
        Err(message) => {
            eprintln!("{message}\nusage: report-bench [--clients N] [--requests N]");
            return ExitCode::from(2);
        }
    };
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        eprintln!("cannot start the runtime");
        return ExitCode::FAILURE;
    };
    match runtime.block_on(bench(clients, requests)) {
        Ok(figures) => {
            for (name, value) in figures {
                println!("{name} {value:.3}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("report-bench failed: {err}");
            ExitCode::FAILURE
        }
    }
}

fn arguments() -> Result<(usize, usize), String> {
    let (mut clients, mut requests) = (100, 10_000);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let target = match flag.as_str() {
            "--clients" => &mut clients,
            "--requests" => &mut requests,
            other => return Err(format!("unknown argument {other}")),
        };
        *target = args
            .next()
            .and_then(|v| v.parse().ok())
            .filter(|n: &usize| *n > 0)
            .ok_or(format!("{flag} needs a positive whole number"))?;
    }
    Ok((clients, requests))
}

async fn bench(clients: usize, requests: usize) -> BenchResult<Vec<(&'static str, f64)>> {
    let redis = RedisServer::start();
    let vars = HashMap::from([
        ("REDIS_URL".to_string(), redis.url()),
        ("LISTEN_ADDR".to_string(), "127.0.0.1:0".to_string()),
        ("INSTANCE_ID".to_string(), "report-bench".to_string()),
        ("ROLE".to_string(), "web".to_string()),
        ("RUST_LOG".to_string(), "warn".to_string()),
    ]);
    let shutdown = CancellationToken::new();
    let app = Application::build(Config::from_vars(&vars)?, shutdown.clone()).await?;
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run());

    let targets = sessions(&redis.url(), WARM_UP + requests, shutdown.clone()).await?;
    let (warm_up, timed) = targets.split_at(WARM_UP);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;

    post_all(&http, &base, warm_up, clients).await?;
    let started = Instant::now();
    let mut latencies = post_all(&http, &base, timed, clients).await?;
    let elapsed = started.elapsed();
    shutdown.cancel();

    latencies.sort_unstable();
    Ok(vec![
        ("post_p50_ms", millis(percentile(&latencies, 0.50))),
        ("post_p99_ms", millis(percentile(&latencies, 0.99))),
        ("posts_per_s", timed.len() as f64 / elapsed.as_secs_f64()),
    ])
}

/// Makes `count` sessions straight through the chat engine, as the server
/// functions do.
async fn sessions(
    redis_url: &str,
    count: usize,
    shutdown: CancellationToken,
) -> BenchResult<Vec<Target>> {
    let url: RedisUrl = redis_url.parse()?;
    let connection = redis_client::connect(&url)?;
    let subscriber = Subscriber::spawn(redis_client::client(&url)?, shutdown.clone());
    let engine = ChatEngine::start(
        &connection,
        subscriber,
        ChatSettings::default(),
        "report-bench",
        shutdown,
    );
    let engine = Arc::new(engine);
    let made: Vec<BenchResult<Target>> = stream::iter(0..count)
        .map(|i| {
            let engine = engine.clone();
            async move {
                let made = engine
                    .create_session(&format!("Session {i}"), "Tess")
                    .await?;
                Ok(Target {
                    session: made.session_id,
                    token: made.tutor_token,
                })
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    made.into_iter().collect()
}

/// Posts one report request per target, `clients` at a time; the latency of
/// each, in the order they finished.
async fn post_all(
    http: &reqwest::Client,
    base: &str,
    targets: &[Target],
    clients: usize,
) -> BenchResult<Vec<Duration>> {
    let answers: Vec<BenchResult<Duration>> = stream::iter(targets)
        .map(|target| async move {
            let sent = Instant::now();
            let answer = http
                .post(format!("{base}/api/reports/session/{}", target.session))
                .bearer_auth(&target.token)
                .send()
                .await?;
            let status = answer.status();
            answer.bytes().await?;
            let took = sent.elapsed();
            if status != reqwest::StatusCode::ACCEPTED {
                return Err(format!("a request was answered {status}, not 202").into());
            }
            Ok(took)
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    answers.into_iter().collect()
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}
