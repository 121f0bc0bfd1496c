//! What the server's integration tests share: an instance of the server
//! running in the test process on port 0, against a Redis the test started,
//! and the server binary run as a process of its own.

#![allow(dead_code)]

use std::{
    collections::HashMap,
    io::Read,
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use app::api::RedisRoundTrip;
use leptos::server_fn::ServerFn;
use server::{
    config::{Config, REPORT_QUEUE},
    queue::{Queue, QueueOptions},
    redis_client::{self, RedisUrl, Subscriber},
    startup::Application,
    testkit::free_port,
};
use tokio_util::sync::CancellationToken;

/// How long a test waits for something that should happen soon: a status,
/// a finished report.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A running instance; it stops when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    /// Its serve loop; `None` once [`TestApp::stop`] has waited for it.
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// Starts an instance against `redis_url`, with `extra` variables on top
    /// of the defaults.
    pub async fn spawn(redis_url: &str, extra: &[(&str, &str)]) -> TestApp {
        let mut vars: HashMap<String, String> = HashMap::from([
            ("REDIS_URL".into(), redis_url.into()),
            ("LISTEN_ADDR".into(), "127.0.0.1:0".into()),
            ("INSTANCE_ID".into(), "test-instance".into()),
        ]);
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_vars(&vars).expect("test configuration is valid");

        let shutdown = CancellationToken::new();
        let app = Application::build(config, shutdown.clone())
            .await
            .expect("instance starts");
        let addr = app.local_addr();
        TestApp {
            addr,
            http: reqwest::Client::new(),
            shutdown,
            task: Some(tokio::spawn(app.run())),
        }
    }

    /// Cancels it, as SIGTERM does, and waits until it has stopped.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let task = self.task.take().expect("an instance stops once");
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("the instance stops within its deadline")
            .unwrap()
            .unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The answer to a plain GET of `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("the server answers")
    }

    /// The answer to a GET of `path` that shows the `cookie` pair.
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("the server answers")
    }

    /// Sends `note` through the first page's server function, which writes
    /// it to Redis and reads it back; the answer as it came.
    pub async fn round_trip(&self, note: &str) -> reqwest::Response {
        self.http
            .post(self.url(RedisRoundTrip::PATH))
            .form(&[("note", note)])
            .send()
            .await
            .expect("the server answers")
    }

    /// The body of a plain GET of `path`, as text.
    pub async fn text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("a text body")
    }

    /// The status a plain GET of `path` answers with.
    pub async fn status(&self, path: &str) -> u16 {
        self.get(path).await.status().as_u16()
    }

    /// Polls `path` until it answers `status`, or fails the test.
    pub async fn wait_for_status(&self, path: &str, status: u16) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let now = self.status(path).await;
            if now == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{path} answered {now}, not {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Signs in to the dashboard with the admin `token`; returns the
    /// `name=value` pair to send as a cookie.
    pub async fn sign_in(&self, token: &str) -> String {
        let response = self
            .http
            .post(self.url("/api/admin/login"))
            .json(&serde_json::json!({ "token": token }))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), 200);
        let set_cookie = response
            .headers()
            .get("set-cookie")
            .expect("a session cookie is set")
            .to_str()
            .unwrap()
            .to_string();
        set_cookie.split(';').next().unwrap().to_string()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A handle on the report queue the instances run, on a connection of the
/// test's own, for the reads and admin calls a test makes.
pub fn report_queue(redis_url: &str) -> Queue {
    let url: RedisUrl = redis_url.parse().expect("a valid Redis URL");
    let connection = redis_client::connect(&url).expect("a Redis connection");
    let subscriber = Subscriber::spawn(
        redis_client::client(&url).expect("a Redis client"),
        CancellationToken::new(),
    );
    let options = QueueOptions::new(REPORT_QUEUE, "test-observer");
    Queue::new(&connection, subscriber, options).expect("valid queue options")
}

/// The server binary, run in a folder of its own (so no project `.env` is
/// read) with exactly `vars`, listening on a free port unless `vars` say
/// otherwise; killed when dropped.
pub struct Binary {
    child: Child,
    dir: PathBuf,
    pub addr: SocketAddr,
}

impl Binary {
    pub fn start(vars: &[(&str, &str)]) -> Binary {
        Binary::start_with(vars, None)
    }

    /// The same, in a folder whose `.env` holds `dotenv` when given.
    pub fn start_with(vars: &[(&str, &str)], dotenv: Option<&str>) -> Binary {
        // The test's HTTP client, like the server, takes its TLS provider
        // from the process; a test run on its own has none installed yet.
        redis_client::init_tls();
        let dir = std::env::temp_dir().join(format!("tutoring-bin-{}", free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(text) = dotenv {
            std::fs::write(dir.join(".env"), text).unwrap();
        }
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let child = Command::new(env!("CARGO_BIN_EXE_server"))
            .current_dir(&dir)
            .env_clear()
            .env("LISTEN_ADDR", addr.to_string())
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary starts");
        Binary { child, dir, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Waits until it answers `/healthz`.
    pub async fn wait_until_up(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + PATIENCE;
        while http.get(self.url("/healthz")).send().await.is_err() {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the server exited early"
            );
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills it with SIGKILL, as a crash would: nothing is cleaned up.
    pub fn kill(&mut self) {
        self.child.kill().expect("the process can be killed");
        let _ = self.child.wait();
    }

    /// Stops it with SIGTERM, as an orchestrator would, and returns all it
    /// printed.
    pub fn stop(mut self) -> String {
        // SAFETY: signalling our own child by its process id.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        self.output_within(PATIENCE).1
    }

    /// Lets it run until it exits or `for_how_long` has passed, then kills
    /// it; returns its exit code (none when killed) and all it printed.
    pub fn run_for(mut self, for_how_long: Duration) -> (Option<i32>, String) {
        self.output_within(for_how_long)
    }

    fn output_within(&mut self, limit: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + limit;
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let status = self.child.wait().unwrap();
        let mut text = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_string(&mut text).unwrap();
        }
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_string(&mut text).unwrap();
        }
        (status.code(), text)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
