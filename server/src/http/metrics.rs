//! `/metrics`: what an operator scrapes, in the Prometheus text format.
//!
//! Two kinds of figures sit side by side. Jobs per state and the model's
//! tokens today are read from Redis, so every instance reports the same
//! cluster-wide numbers (aggregate them with `max`, not `sum`). Everything
//! else is this instance's own since it started: its worker's outcomes and
//! processing times, its sockets and messages, the Redis commands it sent
//! (aggregate those with `sum`).
//!
//! A scrape costs two Redis commands (the counts script and one HMGET). When
//! Redis does not answer, the page still carries the instance's own figures
//! and says so in `tutoring_redis_up`.

use std::time::SystemTime;

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use super::AppState;
use crate::{
    admin::auth::AdminAuth,
    metrics::{Exposition, Kind, CONTENT_TYPE},
    queue::JobState,
    reports::{store, ReportStore},
};

/// Whether a request with `headers` may read the page: anyone where the
/// dashboard is open; elsewhere a request that shows the admin token as a
/// bearer token (how a Prometheus scrape job authenticates) or the
/// dashboard's sign-in cookie (so a signed-in admin can open it in the
/// browser). Without a token configured nobody may, rather than everybody.
fn allowed(auth: &AdminAuth, headers: &HeaderMap, now: SystemTime) -> bool {
    super::bearer(headers).is_some_and(|shown| auth.is_token(shown))
        || auth.access(headers, now).allows_use()
}

/// Serves the page, or 401 to a request that is not [`allowed`].
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !allowed(&state.dashboard.auth, &headers, SystemTime::now()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "the metrics need the admin login",
        )
            .into_response();
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&state).await).into_response()
}

/// Writes every family; the Redis reads run at once.
async fn render(state: &AppState) -> String {
    let usage_store = ReportStore::new(state.redis.clone());
    let today = store::today();
    let admin = state.queue.admin();
    let (counts, usage) = tokio::join!(admin.counts(), usage_store.usage(&today));
    let queue_name = state.queue.options().name.clone();
    let queue = [("queue", queue_name.as_str())];
    let mut page = Exposition::new();

    // Cluster-wide figures, read from Redis.
    let redis_up = counts.is_ok() && usage.is_ok();
    match &counts {
        Ok(counts) => {
            page.family(
                "tutoring_queue_jobs",
                Kind::Gauge,
                "Jobs per state, across every instance.",
            );
            for job_state in JobState::ALL {
                let labels = [
                    ("queue", queue_name.as_str()),
                    ("state", job_state.as_str()),
                ];
                page.sample("tutoring_queue_jobs", &labels, counts.of(job_state) as f64);
            }
            page.family(
                "tutoring_queue_paused",
                Kind::Gauge,
                "1 while the queue is paused from the dashboard.",
            )
            .sample(
                "tutoring_queue_paused",
                &queue,
                f64::from(u8::from(counts.paused)),
            );
        }
        Err(err) => tracing::warn!(cause = %err, "metrics: the job counts could not be read"),
    }
    match &usage {
        Ok(usage) => {
            page.family(
                "tutoring_model_tokens_today",
                Kind::Gauge,
                "Model tokens spent on reports today (UTC), across every instance.",
            )
            .sample(
                "tutoring_model_tokens_today",
                &[("kind", "prompt")],
                usage.prompt_tokens as f64,
            )
            .sample(
                "tutoring_model_tokens_today",
                &[("kind", "completion")],
                usage.completion_tokens as f64,
            );
            page.single(
                "tutoring_reports_written_today",
                Kind::Gauge,
                "Reports stored today (UTC), across every instance.",
                usage.reports as f64,
            );
        }
        Err(err) => tracing::warn!(cause = %err, "metrics: the token usage could not be read"),
    }
    page.single(
        "tutoring_redis_up",
        Kind::Gauge,
        "1 when this scrape's Redis reads succeeded.",
        f64::from(u8::from(redis_up)),
    );
    page.single(
        "tutoring_redis_subscription_up",
        Kind::Gauge,
        "1 while this instance's shared Redis subscription is connected.",
        f64::from(u8::from(state.subscriber.is_live())),
    );

    // This instance's own figures.
    let other_commands = state.redis.counter().get();
    page.family(
        "tutoring_redis_commands_total",
        Kind::Counter,
        "Redis commands this instance sent, by the part that sent them.",
    )
    .sample(
        "tutoring_redis_commands_total",
        &[("engine", "queue")],
        state.queue.commands_sent() as f64,
    )
    .sample(
        "tutoring_redis_commands_total",
        &[("engine", "chat")],
        state.chat.commands_sent() as f64,
    )
    .sample(
        "tutoring_redis_commands_total",
        &[("engine", "other")],
        other_commands as f64,
    );

    if let Some(worker) = &state.worker {
        write_worker(&mut page, &queue, worker);
    }
    write_chat(&mut page, state);
    page.finish()
}

/// The worker's outcomes and processing times on this instance.
fn write_worker(
    page: &mut Exposition,
    queue: &[(&str, &str)],
    worker: &crate::queue::WorkerMetrics,
) {
    let stats = worker.stats();
    let counters = [
        (
            "tutoring_queue_jobs_completed_total",
            "Jobs this instance completed.",
            stats.completed,
        ),
        (
            "tutoring_queue_jobs_failed_total",
            "Jobs that failed for good on this instance (no attempt left, or a fatal error).",
            stats.failed.saturating_sub(stats.retried),
        ),
        (
            "tutoring_queue_jobs_retried_total",
            "Failed attempts on this instance that were put back for a retry.",
            stats.retried,
        ),
        (
            "tutoring_queue_rate_limit_waits_total",
            "Claims of this instance that the queue's rate limit held back.",
            stats.rate_limited,
        ),
        (
            "tutoring_queue_leases_lost_total",
            "Outcomes dropped because the job's lease had passed to another attempt.",
            stats.lease_lost,
        ),
        (
            "tutoring_queue_jobs_handed_back_total",
            "Unfinished jobs this instance handed back on shutdown.",
            stats.handed_back,
        ),
    ];
    for (name, help, value) in counters {
        page.family(name, Kind::Counter, help)
            .sample(name, queue, value as f64);
    }
    page.family(
        "tutoring_queue_processing_seconds",
        Kind::Histogram,
        "How long completed jobs ran on this instance, from claim to outcome.",
    )
    .histogram(
        "tutoring_queue_processing_seconds",
        queue,
        &worker.processing_times(),
    );
}

/// The chat's sockets, messages and delivery lag on this instance.
fn write_chat(page: &mut Exposition, state: &AppState) {
    let chat = state.chat.metrics();
    page.single(
        "tutoring_chat_open_sockets",
        Kind::Gauge,
        "Chat sockets open on this instance.",
        chat.open_sockets as f64,
    );
    page.single(
        "tutoring_chat_open_rooms",
        Kind::Gauge,
        "Sessions with a member on this instance.",
        state.chat.open_rooms() as f64,
    );
    page.single(
        "tutoring_chat_messages_received_total",
        Kind::Counter,
        "Chat messages clients of this instance posted and the chat stored.",
        chat.messages_in as f64,
    );
    page.single(
        "tutoring_chat_messages_sent_total",
        Kind::Counter,
        "Chat message frames this instance wrote to its sockets.",
        chat.messages_out as f64,
    );
    page.single(
        "tutoring_chat_connection_errors_total",
        Kind::Counter,
        "Chat sockets of this instance that ended on an error rather than a close.",
        chat.connection_errors as f64,
    );
    page.family(
        "tutoring_chat_delivery_lag_seconds",
        Kind::Summary,
        "Time from storing a message to this instance's room receiving it.",
    )
    .sample(
        "tutoring_chat_delivery_lag_seconds_sum",
        &[],
        chat.lag_ms_sum as f64 / 1000.0,
    )
    .sample(
        "tutoring_chat_delivery_lag_seconds_count",
        &[],
        chat.lag_count as f64,
    );
    page.single(
        "tutoring_chat_delivery_lag_max_seconds",
        Kind::Gauge,
        "The longest delivery lag this instance has seen since it started.",
        chat.lag_ms_max as f64 / 1000.0,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::auth::for_vars as auth;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    fn allows(auth: &AdminAuth, headers: &HeaderMap) -> bool {
        allowed(auth, headers, SystemTime::now())
    }

    #[test]
    fn outside_production_anyone_may_read_the_metrics() {
        assert!(allows(&auth(&[]), &HeaderMap::new()));
    }

    #[test]
    fn in_production_only_the_admin_token_opens_the_metrics() {
        let access = auth(&[
            ("APP_ENV", "production"),
            ("ADMIN_TOKEN", "s3cret-token-of-some-length"),
        ]);
        assert!(allows(
            &access,
            &with_auth("Bearer s3cret-token-of-some-length")
        ));
        assert!(!allows(
            &access,
            &with_auth("Bearer s3cret-token-of-some-lengtx")
        ));
        assert!(!allows(&access, &with_auth("s3cret-token-of-some-length")));
        assert!(!allows(&access, &HeaderMap::new()));
    }

    #[test]
    fn in_production_without_a_token_nobody_may_read_the_metrics() {
        let access = auth(&[("APP_ENV", "production")]);
        assert!(!allows(&access, &with_auth("Bearer ")));
        assert!(!allows(&access, &HeaderMap::new()));
    }
}
