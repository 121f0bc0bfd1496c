//! Health checks for a load balancer or an autoscaler.

use axum::{extract::State, http::StatusCode};

use super::AppState;

/// The process is up and answering.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Redis answers: the instance can do its work.
///
/// Each call costs one Redis command, so a probe every ten seconds costs
/// 8,640 commands a day against a hosted plan's budget; point frequent
/// liveness probes at `/healthz` and keep this one for readiness.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let mut conn = state.redis.clone();
    match redis::cmd("PING").query_async::<String>(&mut conn).await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(err) => {
            tracing::warn!(cause = %err, "not ready: Redis does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "redis unreachable")
        }
    }
}
