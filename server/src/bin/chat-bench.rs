//! The chat's benchmark: starts a `redis-server` and two server instances
//! (this binary again, as child processes) and prints one figure per line:
//!
//! - `cross_instance_p50_ms`, `cross_instance_p99_ms`: from a client on
//!   instance A sending to 100 clients on instance B receiving, at 1,000
//!   messages a second into that one room (ten senders a millisecond apart,
//!   each sending every 10 ms); every socket is a student of its own, since
//!   one participant may hold only a few connections;
//! - `deliveries_per_s`: messages delivered to those clients per second, and
//!   `delivered_fraction`: the share of the expected deliveries that came;
//! - `idle_sockets`: how many idle joined sockets instance B then holds
//!   (20,000, unless the open-file limit is lower and cannot be raised);
//! - `bytes_per_idle_connection`: how much instance B's resident memory
//!   grows per idle joined socket, ten to a session (its tutor and nine
//!   students).
//!
//! Run it with `cargo run --release -p server --bin chat-bench`. The clients
//! run on the same two cores as the servers, so the figures include their
//! cost: the active ones in this process, the idle ones in child processes
//! of 5,000 sockets each, so that no process needs 20,000 descriptors.

use std::{
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
use tokio_tungstenite::{
    tungstenite::{protocol::WebSocketConfig, Message},
    MaybeTlsStream, WebSocketStream,
};
use tokio_util::sync::CancellationToken;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const RECEIVERS: usize = 100;
const SENDERS: usize = 10;
const RATE_PER_S: u64 = 1000;
const SEND_SECONDS: u64 = 5;
const IDLE_SOCKETS: usize = 20_000;
const IDLE_PER_SESSION: usize = 10;
/// Idle sockets each holder process opens.
const SOCKETS_PER_HOLDER: usize = 5_000;
/// Joins a holder has in flight at once.
const JOINS_IN_FLIGHT: usize = 250;
/// Descriptors an instance needs besides its sockets.
const SERVER_DESCRIPTORS: u64 = 64;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        eprintln!("cannot start the runtime");
        return ExitCode::FAILURE;
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--serve") => runtime.block_on(serve()),
        Some("--hold") => match args.get(1).and_then(|a| a.parse().ok()) {
            Some(addr) => runtime.block_on(hold(addr)),
            None => {
                eprintln!("--hold needs the instance's address");
                ExitCode::FAILURE
            }
        },
        _ => runtime.block_on(bench()),
    }
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

/// Raises this process's open-file limit as far as it may go (the instances
/// it starts inherit it) and returns it.
fn open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write a valid, initialised
    // struct that outlives both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        let wanted = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
            limit = wanted;
        }
    }
    limit.rlim_cur
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
    // Raised first, so that the instances inherit it.
    let limit = open_file_limit();
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
    match idle(&engine, &b, limit).await {
        Ok((sockets, bytes)) => {
            println_figure("idle_sockets", sockets as f64);
            println_figure("bytes_per_idle_connection", bytes);
        }
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
    // The default 128 KiB read buffer is zeroed on every read, which costs
    // this process more than the frames themselves; chat frames are small.
    // Nagle's algorithm is off, as browsers turn it off.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/ws"), Some(config), true)
            .await?;
    let join = ClientFrame::Join {
        v: PROTOCOL_VERSION,
        session: session.into(),
        token: token.into(),
        after: None,
    };
    socket
        .send(Message::text(serde_json::to_string(&join)?))
        .await?;
    // Joined, then history; anything else is a refusal.
    let first = socket.next().await.ok_or("closed during join")??;
    if !first
        .to_text()
        .is_ok_and(|t| t.contains("\"type\":\"joined\""))
    {
        return Err(format!("the join was refused: {first}").into());
    }
    socket.next().await.ok_or("closed during join")??;
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
    // Everyone is a participant of their own, as in a class: one person
    // may hold only a few connections.
    let session = engine.create_session("bench", "Tutor").await?;
    let mut students = Vec::with_capacity(RECEIVERS + SENDERS);
    for n in 0..RECEIVERS + SENDERS {
        let (_, token) = engine
            .admit(
                &session.session_id,
                &session.invite,
                &format!("Student {n}"),
            )
            .await?;
        students.push(token);
    }
    let (receiving, sending) = students.split_at(RECEIVERS);
    let expected = (RATE_PER_S * SEND_SECONDS) as usize;
    let start = Instant::now();

    // 100 receivers on B, each counting the messages it got and their lag.
    let samples = Arc::new(Mutex::new(Vec::with_capacity(expected * RECEIVERS)));
    let mut receivers = Vec::new();
    for token in receiving {
        let mut socket = open(b.addr, &session.session_id, token).await?;
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

    // 10 senders on A, 100 messages a second each, their acks drained. Their
    // clocks are a millisecond apart, so together they send one message
    // every millisecond rather than ten at once.
    let mut sinks = Vec::new();
    for token in sending {
        let socket = open(a.addr, &session.session_id, token).await?;
        let (sink, mut stream) = socket.split();
        tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
        sinks.push(sink);
    }
    let per_sender = RATE_PER_S / SENDERS as u64;
    let period = Duration::from_micros(1_000_000 / per_sender);
    let gap = Duration::from_micros(1_000_000 / RATE_PER_S);
    let begin = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut senders = Vec::new();
    for (s, mut sink) in sinks.into_iter().enumerate() {
        let mut tick = tokio::time::interval_at(begin + gap * s as u32, period);
        senders.push(tokio::spawn(async move {
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

/// One child process holding idle sockets on an instance: several of them
/// keep the 20,000 client ends within every process's open-file limit.
struct Holder {
    child: tokio::process::Child,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Holder {
    /// Starts a holder and hands it the sockets to open, one
    /// `session token` line each; it keeps them open until dropped.
    async fn start(addr: SocketAddr, targets: &[(String, String)]) -> BenchResult<Holder> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("--hold")
            .arg(addr.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        let mut lines = String::new();
        for (session, token) in targets {
            lines.push_str(&format!("{session} {token}\n"));
        }
        lines.push('\n');
        stdin.write_all(lines.as_bytes()).await?;
        // Kept open: the holder lets go of its sockets when it closes.
        child.stdin = Some(stdin);
        let stdout = child.stdout.take().ok_or("no stdout")?;
        Ok(Holder {
            child,
            stdout: tokio::io::BufReader::new(stdout).lines(),
        })
    }

    /// Waits until every socket has joined; returns how many.
    async fn opened(&mut self) -> BenchResult<usize> {
        let line = self.stdout.next_line().await?.unwrap_or_default();
        match line.strip_prefix("opened ") {
            Some(n) => Ok(n.parse()?),
            None => Err(format!("a holder failed: {line}").into()),
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A holder's life: open the sockets read from stdin, say so, and keep them
/// until stdin closes.
async fn hold(addr: SocketAddr) -> ExitCode {
    let Ok(targets) = tokio::task::spawn_blocking(read_targets).await else {
        return ExitCode::FAILURE;
    };
    let mut sockets = Vec::with_capacity(targets.len());
    for batch in targets.chunks(JOINS_IN_FLIGHT) {
        let opened = futures::future::join_all(batch.iter().map(|(s, t)| open(addr, s, t))).await;
        for socket in opened {
            match socket {
                Ok(socket) => sockets.push(socket),
                Err(err) => {
                    println!("failed {err}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    println!("opened {}", sockets.len());
    let _ =
        tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
            .await;
    drop(sockets);
    ExitCode::SUCCESS
}

/// The `session token` lines on stdin, up to the first blank one.
fn read_targets() -> Vec<(String, String)> {
    std::io::stdin()
        .lines()
        .map_while(Result::ok)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| {
            let (session, token) = line.split_once(' ')?;
            Some((session.to_string(), token.to_string()))
        })
        .collect()
}

/// How many idle sockets instance B holds, and its memory growth per socket.
async fn idle(engine: &ChatEngine, b: &Instance, limit: u64) -> BenchResult<(usize, f64)> {
    // The instance needs a few descriptors besides its sockets (listener,
    // Redis, epoll); where the limit is tight, it holds fewer sockets and the
    // figure says how many.
    let count = IDLE_SOCKETS.min(limit.saturating_sub(SERVER_DESCRIPTORS) as usize);
    if count < IDLE_SOCKETS {
        eprintln!(
            "the open-file limit here is {limit} and cannot be raised, so instance B \
             holds {count} idle sockets rather than {IDLE_SOCKETS}"
        );
    }

    // Each session has its tutor and nine students, each on one socket.
    let mut targets = Vec::with_capacity(count);
    while targets.len() < count {
        let created = engine.create_session("idle", "Tutor").await?;
        let session = created.session_id;
        targets.push((session.clone(), created.tutor_token));
        for n in 1..IDLE_PER_SESSION.min(count - targets.len() + 1) {
            let (_, token) = engine
                .admit(&session, &created.invite, &format!("Student {n}"))
                .await?;
            targets.push((session.clone(), token));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_bytes(b.child.id())?;

    let mut holders = Vec::new();
    for chunk in targets.chunks(SOCKETS_PER_HOLDER) {
        holders.push(Holder::start(b.addr, chunk).await?);
    }
    let mut opened = 0;
    for holder in &mut holders {
        opened += holder.opened().await?;
    }
    // Let the presence announcements of the joins settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_bytes(b.child.id())?;
    drop(holders);
    Ok((opened, (after - before) / opened.max(1) as f64))
}
