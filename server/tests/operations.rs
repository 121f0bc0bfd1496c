//! What an operator relies on, against real Redis servers and real
//! instances: `/metrics` in the Prometheus text format and behind the admin
//! login in production, request lines without secrets, readiness that
//! follows Redis, Redis over TLS with a certificate authority of the test's
//! own, and a rolling restart that loses nothing.

mod chat_support;
mod model_support;
mod support;

#[path = "operations/logs.rs"]
mod logs;
#[path = "operations/metrics.rs"]
mod metrics;
#[path = "operations/readiness.rs"]
mod readiness;
#[path = "operations/roles.rs"]
mod roles;
#[path = "operations/rolling_restart.rs"]
mod rolling_restart;
#[path = "operations/tls.rs"]
mod tls;

use std::time::{Duration, Instant};

use serde_json::Value as Json;
use support::TestApp;

/// How long a test waits for something that should happen soon.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// A session with four messages in it, its sockets closed again.
pub(crate) async fn lesson(app: &TestApp) -> chat_support::Session {
    let session = chat_support::session(app).await;
    let (mut tutor, _) =
        chat_support::Client::join(app.addr, &session.id, &session.tutor_token, None).await;
    let (mut student, _) =
        chat_support::Client::join(app.addr, &session.id, &session.student_token, None).await;
    tutor.post("t1", "What is a half of a half?").await;
    student.post("s1", "A quarter").await;
    tutor.post("t2", "How do you know?").await;
    student.post("s2", "Two halves of it make the half").await;
    session
}

/// Asks for the session's report and waits until its job has finished;
/// returns the final status.
pub(crate) async fn report(app: &TestApp, session: &chat_support::Session) -> Json {
    let url = app.url(&format!("/api/reports/session/{}", session.id));
    let response = app
        .http
        .post(&url)
        .bearer_auth(&session.tutor_token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());

    let deadline = Instant::now() + PATIENCE;
    loop {
        let status: Json = app
            .http
            .get(format!("{url}/status"))
            .bearer_auth(&session.tutor_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] == "completed" || status["status"] == "failed" {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the report did not finish: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn status_of(app: &TestApp, path: &str) -> u16 {
    app.http
        .get(app.url(path))
        .send()
        .await
        .expect("the server answers")
        .status()
        .as_u16()
}

/// Polls `path` until it answers `status`, or fails the test.
pub(crate) async fn wait_for_status(app: &TestApp, path: &str, status: u16) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = status_of(app, path).await;
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
