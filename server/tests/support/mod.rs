//! What the server's integration tests share: an instance of the server
//! running in the test process on port 0, against a Redis the test started.

#![allow(dead_code)]

use std::{collections::HashMap, net::SocketAddr};

use server::{
    config::{Config, REPORT_QUEUE},
    queue::{Queue, QueueOptions},
    redis_client::{self, RedisUrl, Subscriber},
    startup::Application,
};
use tokio_util::sync::CancellationToken;

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
