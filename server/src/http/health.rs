//! Health checks for a load balancer or an autoscaler.

use axum::{extract::State, http::StatusCode};

use super::AppState;

/// The process is up and answering.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Redis answers and the shared subscription is connected: the instance
/// can do its work. Without the subscription, messages posted on other
/// instances would not reach this one's sockets and its worker would not be
/// woken for new jobs, so it is not ready either.
///
/// Each call costs one Redis command, so a probe every ten seconds costs
/// 8,640 commands a day against a hosted plan's budget; point frequent
/// liveness probes at `/healthz` and keep this one for readiness.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let mut conn = state.redis.clone();
    if let Err(err) = redis::cmd("PING").query_async::<String>(&mut conn).await {
        tracing::warn!(cause = %err, "not ready: Redis does not answer");
        return (StatusCode::SERVICE_UNAVAILABLE, "redis unreachable");
    }
    if !state.subscriber.is_live() {
        tracing::warn!("not ready: the Redis subscription is not connected yet");
        return (StatusCode::SERVICE_UNAVAILABLE, "redis subscription down");
    }
    (StatusCode::OK, "ready")
}
