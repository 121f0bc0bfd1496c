//! How fast `POST /api/reports/session/{id}` answers under load: the call
//! that once took 30 seconds now only enqueues a job.
//!
//! ```text
//! cargo run --release -p server --bin report-bench -- [--clients N] [--requests N] [--rate R]
//! ```
//!
//! It starts a `redis-server` of its own and one instance with `ROLE=web`
//! (so no worker competes with the requests), makes one session per request,
//! and sends every request for another session, so each one enqueues a new
//! job. After a warm-up of 500 requests come two runs of N requests each
//! (10,000 by default), from C concurrent clients (100 by default):
//!
//! - paced: the clients together offer R requests a second (2,000 by
//!   default), each client one request every C/R seconds, their clocks
//!   spread evenly.
//! - saturated: each client sends its next request as soon as the previous
//!   one is answered, which finds the most the instance can answer.
//!
//! It prints one figure per line, `name value`:
//!
//! - `post_p50_ms`, `post_p99_ms`: the paced run, from sending a request to
//!   reading the whole 202;
//! - `offered_per_s`: R; `late_starts`: paced requests sent more than 5 ms
//!   after they were due (a client still waiting for its previous answer),
//!   whose wait the latencies above would not show; 0 when the instance
//!   kept up;
//! - `saturated_posts_per_s`: requests answered per second in the saturated
//!   run; `saturated_p50_ms`, `saturated_p99_ms`: its latencies, which are
//!   mostly the wait of C requests in line for two cores.
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
    let load = match arguments() {
        Ok(load) => load,
        Err(message) => {
            eprintln!("{message}\nusage: report-bench [--clients N] [--requests N] [--rate R]");
            return ExitCode::from(2);
        }
    };
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        eprintln!("cannot start the runtime");
        return ExitCode::FAILURE;
    };
    match runtime.block_on(bench(load)) {
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

/// What the command line asked for.
struct Load {
    clients: usize,
    requests: usize,
    rate: usize,
}

fn arguments() -> Result<Load, String> {
    let mut load = Load {
        clients: 100,
        requests: 10_000,
        rate: 2_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let target = match flag.as_str() {
            "--clients" => &mut load.clients,
            "--requests" => &mut load.requests,
            "--rate" => &mut load.rate,
            other => return Err(format!("unknown argument {other}")),
        };
        *target = args
            .next()
            .and_then(|v| v.parse().ok())
            .filter(|n: &usize| *n > 0)
            .ok_or(format!("{flag} needs a positive whole number"))?;
    }
    Ok(load)
}

async fn bench(load: Load) -> BenchResult<Vec<(&'static str, f64)>> {
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

    let targets = sessions(&redis.url(), WARM_UP + 2 * load.requests, shutdown.clone()).await?;
    let (warm_up, rest) = targets.split_at(WARM_UP);
    let (paced, saturated) = rest.split_at(load.requests);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(load.clients)
        .build()?;

    post_all(&http, &base, warm_up, load.clients).await?;
    let (mut paced, late) = post_paced(&http, &base, paced, load.clients, load.rate).await?;
    let started = Instant::now();
    let mut saturated = post_all(&http, &base, saturated, load.clients).await?;
    let elapsed = started.elapsed();
    shutdown.cancel();

    paced.sort_unstable();
    saturated.sort_unstable();
    Ok(vec![
        ("post_p50_ms", millis(percentile(&paced, 0.50))),
        ("post_p99_ms", millis(percentile(&paced, 0.99))),
        ("offered_per_s", load.rate as f64),
        ("late_starts", late as f64),
        (
            "saturated_posts_per_s",
            saturated.len() as f64 / elapsed.as_secs_f64(),
        ),
        ("saturated_p50_ms", millis(percentile(&saturated, 0.50))),
        ("saturated_p99_ms", millis(percentile(&saturated, 0.99))),
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

/// Asks for a report of `target`; how long the 202 took to arrive whole.
async fn post(http: &reqwest::Client, base: &str, target: &Target) -> BenchResult<Instant> {
    let answer = http
        .post(format!("{base}/api/reports/session/{}", target.session))
        .bearer_auth(&target.token)
        .send()
        .await?;
    let status = answer.status();
    answer.bytes().await?;
    let answered = Instant::now();
    if status != reqwest::StatusCode::ACCEPTED {
        return Err(format!("a request was answered {status}, not 202").into());
    }
    Ok(answered)
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
            Ok(post(http, base, target).await? - sent)
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    answers.into_iter().collect()
}

/// How late after its due time a paced request may be sent before it counts
/// as late. The timer wakes up to a millisecond or two after the due time
/// on its own, which is the bench's delay, not the server's.
const LATE: Duration = Duration::from_millis(5);

/// Posts one report request per target at `rate` a second in all, from
/// `clients` clients taking turns. Returns each latency, from sending to
/// the whole answer, and how many requests were sent late: a client still
/// waiting for its previous answer when the next was due would otherwise
/// hide that wait.
async fn post_paced(
    http: &reqwest::Client,
    base: &str,
    targets: &[Target],
    clients: usize,
    rate: usize,
) -> BenchResult<(Vec<Duration>, usize)> {
    let gap = Duration::from_secs(1) / rate as u32;
    let period = gap * clients as u32;
    let begin = tokio::time::Instant::now() + Duration::from_millis(20);
    let runs = (0..clients).map(|client| async move {
        let mut tick = tokio::time::interval_at(begin + gap * client as u32, period);
        let mut latencies = Vec::new();
        let mut late = 0;
        for target in targets.iter().skip(client).step_by(clients) {
            let due = tick.tick().await.into_std();
            let sent = Instant::now();
            if sent - due > LATE {
                late += 1;
            }
            latencies.push(post(http, base, target).await? - sent);
        }
        BenchResult::Ok((latencies, late))
    });
    let mut all = Vec::with_capacity(targets.len());
    let mut late = 0;
    for run in futures::future::join_all(runs).await {
        let (latencies, late_here) = run?;
        all.extend(latencies);
        late += late_here;
    }
    Ok((all, late))
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}
