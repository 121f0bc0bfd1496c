//! The HTTP surface: the Leptos pages and server functions, health checks,
//! `/metrics` and the static files, behind one request span each.

mod health;
mod metrics;
mod reports;
mod server_fns;

use std::{sync::Arc, time::Duration};

use axum::{
    extract::FromRef,
    http::{header, HeaderMap, Request},
    response::Response,
    routing::{get, post},
    Router,
};
use leptos::prelude::{provide_context, LeptosOptions};
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{limit::RequestBodyLimitLayer, trace::TraceLayer};
use tracing::{field::Empty, Span};

use app::{
    backend::{ChatSessions, QueueDashboard, Reports as ReportsBackend, SystemCheck},
    shell, App,
};

use crate::{
    admin::{self, Dashboard},
    chat::{self, ChatEngine},
    config::Role,
    queue::{Queue, WorkerMetrics},
    redis_client::{Redis, Subscriber},
    reports::Reports,
};

/// What the request handlers share.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    /// For health checks; the engines hold their own counted handles.
    pub redis: Redis,
    /// The instance's shared Redis subscription.
    pub subscriber: Subscriber,
    pub system_check: Arc<dyn SystemCheck>,
    /// What this instance serves.
    pub role: Role,
    /// The report queue, for the dashboard and metrics.
    pub queue: Queue,
    /// Reports as the API and the pages ask for them.
    pub reports: Reports,
    /// The chat engine: the `/ws` endpoint and the sessions' server
    /// functions share it, so both apply the same access rule.
    pub chat: ChatEngine,
    /// This instance's worker's counters for `/metrics`; `None` when its
    /// role runs no jobs.
    pub worker: Option<WorkerMetrics>,
    /// The queue dashboard: its access rule, the queue's admin side and
    /// the live feed its pages share.
    pub dashboard: Dashboard,
}

impl FromRef<AppState> for ChatEngine {
    fn from_ref(state: &AppState) -> Self {
        state.chat.clone()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The token a request shows as `Authorization: Bearer <token>`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The largest request body an instance reads: a chat message travels on
/// the socket, so the largest body is a form of a few fields.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole router of one instance.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);

    // Server functions find their backends here, as trait objects, so the
    // app crate never names a server type.
    let context = {
        let system_check = state.system_check.clone();
        let dashboard: Arc<dyn QueueDashboard> = Arc::new(state.dashboard.clone());
        let chat_sessions: Arc<dyn ChatSessions> = Arc::new(state.chat.clone());
        let reports: Arc<dyn ReportsBackend> = Arc::new(state.reports.clone());
        move || {
            provide_context(system_check.clone());
            provide_context(chat_sessions.clone());
            provide_context(dashboard.clone());
            provide_context(reports.clone());
        }
    };
    let shell_options = state.leptos_options.clone();

    let health = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics));
    // A worker-only instance answers its health checks and metrics and
    // nothing else.
    let app = if state.role.serves_web() {
        health
            .route("/ws", get(chat::upgrade))
            .route(
                "/api/reports/session/{id}",
                post(reports::request).get(reports::report),
            )
            .route("/api/reports/session/{id}/status", get(reports::status))
            .leptos_routes_with_context(&state, routes, context, move || {
                shell(shell_options.clone())
            })
            .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
            .layer(axum::middleware::from_fn(
                server_fns::arguments_errors_as_400,
            ))
            // Every dashboard route, server functions included, passes here.
            .layer(axum::middleware::from_fn_with_state(
                state.dashboard.auth.clone(),
                admin::auth::guard,
            ))
            // Nothing a page or a client sends comes near this; without a
            // bound, a server function would read any body whole.
            .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
    } else {
        health
    };

    app.layer(
        TraceLayer::new_for_http()
            .make_span_with(request_span)
            .on_request(())
            .on_response(record_response),
    )
    .with_state(state)
}

/// One span per request. The query string is left out on purpose: links to
/// sessions carry access tokens there.
fn request_span<B>(request: &Request<B>) -> Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        status = Empty,
        latency_ms = Empty,
    )
}

/// Records the status and latency on the request span, and logs a line per
/// request: at debug level (`RUST_LOG=info,server::http=debug` shows them),
/// since `info` is kept for lifecycle events, and as a warning for a server
/// error, which someone should look at.
fn record_response<B>(response: &Response<B>, latency: Duration, span: &Span) {
    let status = response.status().as_u16();
    span.record("status", status);
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    if status >= 500 {
        tracing::warn!(status, "request failed");
    } else {
        tracing::debug!(status, "request finished");
    }
}
