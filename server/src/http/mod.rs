//! The HTTP surface: the Leptos pages and server functions, health checks and
//! the static files, behind one request span each.

mod health;

use std::{sync::Arc, time::Duration};

use axum::{extract::FromRef, http::Request, response::Response, routing::get, Router};
use leptos::prelude::{provide_context, LeptosOptions};
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::trace::TraceLayer;
use tracing::{field::Empty, Span};

use app::{backend::SystemCheck, shell, App};

use crate::redis_client::{Redis, Subscriber};

/// What the request handlers share.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    /// For health checks; the engines hold their own counted handles.
    pub redis: Redis,
    /// The instance's shared Redis subscription.
    pub subscriber: Subscriber,
    pub system_check: Arc<dyn SystemCheck>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The whole router of one instance.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);

    // Server functions find their backends here, as trait objects, so the
    // app crate never names a server type.
    let context = {
        let system_check = state.system_check.clone();
        move || provide_context(system_check.clone())
    };
    let shell_options = state.leptos_options.clone();

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .leptos_routes_with_context(&state, routes, context, move || {
            shell(shell_options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(
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
