//! The chat's benchmark: starts a `redis-server` and two server instances
//! (this binary again, as child processes) and prints one figure per line:
//!
//! - `cross_instance_p50_ms`, `cross_instance_p99_ms`: from a client on
//!   instance A sending to 100 clients on instance B receiving, at 1,000
//!   messages a second into that one room;
//! - `deliveries_per_s`: messages delivered to those clients per second;
//! - `bytes_per_idle_connection`: how much instance B's resident memory
//!   grows per idle joined socket, over 20,000 of them.
//!
//! Run it with `cargo run --release -p server --bin chat-bench`. The clients
//! run in this process, on the same two cores as the servers, so the figures
//! include their cost.

use std::{
    collections::HashMap,
    net::SocketAddr,
    process::{Child, Command, ExitCode, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use app::chat::protocol::{ClientFrame, PROTOCOL_VERSION};
use futures::{SinkExt, StreamExt};
use server::{
    chat::ChatEngine,
    config::{ChatSettings, Config},
    redis_client::{self, RedisUrl},
    startup::Application,
    testkit::{free_port, RedisServer},
};
use tokio::{net::TcpStream, sync::Mutex};
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const RECEIVERS: usize = 100;
const SENDERS: usize = 10;
const RATE_PER_S: u64 = 1000;
const SEND_SECONDS: u64 = 5;
const IDLE_SOCKETS: usize = 20_000;
const IDLE_PER_SESSION: usize = 10;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        eprintln!("cannot start the runtime");
        return ExitCode::FAILURE;
    };
    if std::env::args().nth(1).as_deref() == Some("--serve") {
        return runtime.block_on(serve());
    }
    raise_fd_limit(65_536);
    runtime.block_on(bench())
}

/// The child's life: one server instance configured from the environment.
async fn serve() -> ExitCode {
    let Ok(config) = Config::from_env() else {
        return ExitCode::FAILURE;
    };
    let shutdown = CancellationToken::new();
    server::shutdown::cancel_on_signal(shutdown.clone());
    match Application::build(config, shutdown).await {
        Ok(app) => match app.run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        },
        Err(_) => ExitCode::FAILURE,
    }
}

/// Lets this process (and the instances it starts) hold 20,000 sockets
/// each, when the limits allow it.
fn raise_fd_limit(wanted: u64) {
    let limit = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: wanted,
    };
    // SAFETY: setrlimit reads a valid, initialised struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        eprintln!("could not raise the open-file limit; 20,000 sockets may not fit");
    }
}

struct Instance {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_instance(redis_url: &str, name: &str) -> std::io::Result<Instance> {
    let port = free_port();
    let child = Command::new(std::env::current_exe()?)
        .arg("--serve")
        .env("REDIS_URL", redis_url)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("INSTANCE_ID", name)
        .env("RUST_LOG", "warn")
        .env("CHAT_MESSAGES_PER_SECOND", "100000")
        .env("CHAT_MAX_CONNECTIONS_PER_SESSION", "100000")
        .env("CHAT_HISTORY_LEN", "100000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let instance = Instance {
        child,
        addr: ([127, 0, 0, 1], port).into(),
    };
    for _ in 0..200 {
        if TcpStream::connect(instance.addr).await.is_ok() {
            return Ok(instance);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(std::io::Error::other(format!(
        "instance {name} did not listen"
    )))
}

async fn bench() -> ExitCode {
    let redis = RedisServer::start();
    let url: RedisUrl = match redis.url().parse() {
        Ok(url) => url,
        Err(_) => return ExitCode::FAILURE,
    };
    let (a, b) = match (
        start_instance(&redis.url(), "bench-a").await,
        start_instance(&redis.url(), "bench-b").await,
    ) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            eprintln!("the server instances did not start");
            return ExitCode::FAILURE;
        }
    };

    // Sessions are made straight through the engine, as the server functions do.
    let shutdown = CancellationToken::new();
    let Ok(connection) = redis_client::connect(&url) else {
        return ExitCode::FAILURE;
    };
    let Ok(client) = redis_client::client(&url) else {
        return ExitCode::FAILURE;
    };
    let subscriber = redis_client::Subscriber::spawn(client, shutdown.clone());
    let engine = ChatEngine::start(
        &connection,
        subscriber,
        ChatSettings::default(),
        "bench",
        shutdown.clone(),
    );

    let figures = match latency(&engine, &a, &b).await {
        Ok(figures) => figures,
        Err(err) => {
            eprintln!("latency run failed: {err}");
            return ExitCode::FAILURE;
        }
    };
    for (name, value) in figures {
        println_figure(name, value);
    }
    match idle(&engine, &b).await {
        Ok(bytes) => println_figure("bytes_per_idle_connection", bytes),
        Err(err) => {
            eprintln!("idle run failed: {err}");
            return ExitCode::FAILURE;
        }
    }
    shutdown.cancel();
    ExitCode::SUCCESS
}

/// The benchmark's output is its figures, one per line, on stdout.
fn println_figure(name: &str, value: f64) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{name} {value:.3}");
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn open(addr: SocketAddr, session: &str, token: &str) -> BenchResult<Socket> {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
    let join = ClientFrame::Join {
        v: PROTOCOL_VERSION,
        session: session.into(),
        token: token.into(),
        after: None,
    };
    socket
        .send(Message::text(serde_json::to_string(&join)?))
        .await?;
    // Joined, then history.
    for _ in 0..2 {
        socket.next().await.ok_or("closed during join")??;
    }
    Ok(socket)
}

/// The send time a message carries, as `b<micros since start>`.
fn stamp(text: &str) -> Option<u64> {
    let at = text.find("\"text\":\"b")? + 9;
    let digits: &str = &text[at..];
    let end = digits.find('"')?;
    digits[..end].parse().ok()
}

async fn latency(
    engine: &ChatEngine,
    a: &Instance,
    b: &Instance,
) -> BenchResult<Vec<(&'static str, f64)>> {
    let session = engine.create_session("bench", "Tutor").await?;
    let (_, student_token) = engine
        .admit(&session.session_id, &session.invite, "Student")
        .await?;
    let expected = (RATE_PER_S * SEND_SECONDS) as usize;
    let start = Instant::now();

    // 100 receivers on B, each counting the messages it got and their lag.
    let samples = Arc::new(Mutex::new(Vec::with_capacity(expected * RECEIVERS)));
    let mut receivers = Vec::new();
    for _ in 0..RECEIVERS {
        let mut socket = open(b.addr, &session.session_id, &student_token).await?;
        let samples = samples.clone();
        receivers.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(expected);
            let mut last = start.elapsed();
            while mine.len() < expected {
                let next = tokio::time::timeout(Duration::from_secs(10), socket.next()).await;
                let Ok(Some(Ok(Message::Text(text)))) = next else {
                    break;
                };
                if let Some(sent) = stamp(text.as_str()) {
                    let now = start.elapsed().as_micros() as u64;
                    mine.push(now.saturating_sub(sent));
                    last = start.elapsed();
                }
            }
            samples.lock().await.extend(mine);
            last
        }));
    }

    // 10 senders on A, 100 messages a second each, their acks drained.
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let socket = open(a.addr, &session.session_id, &session.tutor_token).await?;
        let (mut sink, mut stream) = socket.split();
        tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
        senders.push(tokio::spawn(async move {
            let per_sender = RATE_PER_S / SENDERS as u64;
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_sender));
            tokio::time::sleep(Duration::from_micros(100 * s as u64)).await;
            for n in 0..per_sender * SEND_SECONDS {
                tick.tick().await;
                let sent = start.elapsed().as_micros();
                let frame = ClientFrame::Send {
                    client_id: format!("s{s}-{n}"),
                    text: format!("b{sent}"),
                };
                let text = serde_json::to_string(&frame).unwrap_or_default();
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
            sink
        }));
    }
    let send_started = start.elapsed();
    let mut keep = Vec::new();
    for sender in senders {
        keep.push(sender.await?);
    }
    let mut finished = send_started;
    for receiver in receivers {
        finished = finished.max(receiver.await?);
    }

    let mut samples = Arc::try_unwrap(samples)
        .map_err(|_| "samples still shared")?
        .into_inner();
    samples.sort_unstable();
    let pick = |q: f64| {
        samples
            .get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let seconds = (finished - send_started).as_secs_f64().max(f64::EPSILON);
    let figures = vec![
        ("cross_instance_p50_ms", pick(0.50)),
        ("cross_instance_p99_ms", pick(0.99)),
        ("deliveries_per_s", samples.len() as f64 / seconds),
        (
            "delivered_fraction",
            samples.len() as f64 / (expected * RECEIVERS) as f64,
        ),
    ];
    drop(keep);
    Ok(figures)
}

/// Resident memory of process `pid`, in bytes, from `/proc`.
fn rss_bytes(pid: u32) -> BenchResult<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmRSS in /proc")?;
    Ok(kib * 1024.0)
}

async fn idle(engine: &ChatEngine, b: &Instance) -> BenchResult<f64> {
    let sessions = IDLE_SOCKETS / IDLE_PER_SESSION;
    let mut tokens: HashMap<String, String> = HashMap::new();
    for _ in 0..sessions {
        let created = engine.create_session("idle", "Tutor").await?;
        tokens.insert(created.session_id, created.tutor_token);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_bytes(b.child.id())?;

    let targets: Vec<(String, String)> = tokens
        .into_iter()
        .flat_map(|(s, t)| std::iter::repeat_n((s, t), IDLE_PER_SESSION))
        .collect();
    let mut sockets = Vec::with_capacity(IDLE_SOCKETS);
    for batch in targets.chunks(250) {
        let opened = futures::future::join_all(batch.iter().map(|(s, t)| open(b.addr, s, t))).await;
        for socket in opened {
            sockets.push(socket?);
        }
    }
    // Let the presence announcements of the joins settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_bytes(b.child.id())?;
    let per_socket = (after - before) / sockets.len() as f64;
    drop(sockets);
    Ok(per_socket)
}
