//! What the server's integration tests share: an instance of the server
//! running in the test process on port 0, against a Redis the test started.

#![allow(dead_code)]

use std::{
    collections::HashMap,
    net::SocketAddr,
    time::{Duration, Instant},
};

use server::{
    config::{Config, REPORT_QUEUE},
    queue::{Queue, QueueOptions},
    redis_client::{self, RedisUrl, Subscriber},
    startup::Application,
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
        tokio::spawn(app.run());
        TestApp {
            addr,
            http: reqwest::Client::new(),
            shutdown,
        }
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
