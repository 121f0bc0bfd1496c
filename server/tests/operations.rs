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

use serde_json::Value as Json;
use support::TestApp;
pub(crate) use support::PATIENCE;

/// Asks for the session's report as its tutor and waits until its job has
/// finished; returns the final status.
pub(crate) async fn report(app: &TestApp, session: &chat_support::Session) -> Json {
    let (code, body) = chat_support::ask_report(app, &session.id, &session.tutor_token, "").await;
    assert!((200..300).contains(&code), "{code}: {body}");
    chat_support::finished_report(app, &session.id, &session.tutor_token).await
}
