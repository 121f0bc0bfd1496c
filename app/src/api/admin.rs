//! The queue dashboard's server functions, all under `/api/admin/`.
//!
//! Each one asks the backend whether this request may use the dashboard
//! before it does anything: the server's own route guard refuses the same
//! requests earlier, and this check also covers the page as it is rendered on
//! the server, which calls these functions without an HTTP request of their
//! own. Actions and the sign-in take JSON, so a plain HTML form on another
//! site cannot send them.

use leptos::prelude::*;
use leptos::server_fn::codec::{Json, StreamingText, TextStream};

use super::AppError;
use crate::admin::types::{
    Access, ActionOutcome, AdminAction, JobDetail, JobList, Overview, QueueState,
};

/// The largest page of jobs the dashboard asks for.
pub const MAX_PER_PAGE: u32 = 100;
/// The longest session-id filter accepted.
pub const MAX_FILTER_CHARS: usize = 100;

/// The dashboard's backend, when this request may use it.
#[cfg(feature = "ssr")]
fn dashboard() -> Result<std::sync::Arc<dyn crate::backend::QueueDashboard>, AppError> {
    let backend = crate::backend::get::<dyn crate::backend::QueueDashboard>()?;
    backend
        .access(&request_headers())
        .refusal()
        .map_or(Ok(backend), Err)
}

#[cfg(feature = "ssr")]
fn request_headers() -> http::HeaderMap {
    use_context::<http::request::Parts>()
        .map(|parts| parts.headers)
        .unwrap_or_default()
}

/// Whether this request may use the dashboard; needs no sign-in.
#[server(prefix = "/api/admin", endpoint = "access")]
pub async fn dashboard_access() -> Result<Access, AppError> {
    let backend = crate::backend::get::<dyn crate::backend::QueueDashboard>()?;
    Ok(backend.access(&request_headers()))
}

/// Exchanges the admin token for a session cookie.
#[server(prefix = "/api/admin", endpoint = "login", input = Json)]
pub async fn dashboard_login(token: String) -> Result<Access, AppError> {
    let backend = crate::backend::get::<dyn crate::backend::QueueDashboard>()?;
    let cookie = super::with_status(backend.login(&token))?;
    set_cookie(&cookie)?;
    Ok(Access::SignedIn)
}

/// Ends the session: the browser drops its cookie.
#[server(prefix = "/api/admin", endpoint = "logout", input = Json)]
pub async fn dashboard_logout() -> Result<Access, AppError> {
    let backend = crate::backend::get::<dyn crate::backend::QueueDashboard>()?;
    set_cookie(&backend.logout_cookie())?;
    Ok(Access::SignInRequired)
}

#[cfg(feature = "ssr")]
fn set_cookie(cookie: &str) -> Result<(), AppError> {
    let value = http::HeaderValue::from_str(cookie)
        .map_err(|_| AppError::Unavailable("The session cookie could not be made.".into()))?;
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.append_header(http::header::SET_COOKIE, value);
    }
    Ok(())
}

/// Counts, throughput, processing times, command usage and token spend.
#[server(prefix = "/api/admin", endpoint = "overview")]
pub async fn queue_overview() -> Result<Overview, AppError> {
    let backend = super::with_status(dashboard())?;
    super::with_status(backend.overview().await)
}

/// One page of `state`'s jobs, newest first; `filter` keeps the jobs whose id
/// contains it (a report job's id contains its session id).
#[server(prefix = "/api/admin", endpoint = "jobs")]
pub async fn queue_jobs(
    state: QueueState,
    page: u32,
    per_page: u32,
    filter: String,
) -> Result<JobList, AppError> {
    let backend = super::with_status(dashboard())?;
    let filter = filter.trim();
    if filter.chars().count() > MAX_FILTER_CHARS {
        return super::with_status(Err(AppError::BadRequest(format!(
            "The filter may be at most {MAX_FILTER_CHARS} characters long."
        ))));
    }
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return super::with_status(Err(AppError::BadRequest(format!(
            "A page holds from 1 to {MAX_PER_PAGE} jobs."
        ))));
    }
    super::with_status(backend.jobs(state, page, per_page, filter).await)
}

/// One job in full.
#[server(prefix = "/api/admin", endpoint = "job")]
pub async fn queue_job(id: String) -> Result<JobDetail, AppError> {
    let backend = super::with_status(dashboard())?;
    super::with_status(backend.job(&id).await)
}

/// Runs one admin action and says what it did.
#[server(prefix = "/api/admin", endpoint = "action", input = Json)]
pub async fn queue_action(action: AdminAction) -> Result<ActionOutcome, AppError> {
    let backend = super::with_status(dashboard())?;
    super::with_status(backend.act(action).await)
}

/// The live feed of this page: counts first, then every change, one JSON
/// [`LiveUpdate`](crate::admin::types::LiveUpdate) per line. Every open page
/// shares the instance's one subscription to the queue's events.
///
/// A feed opened with a sign-in ends when the sign-in does; the page's next
/// attempt to open one is then refused.
#[server(prefix = "/api/admin", endpoint = "live", output = StreamingText)]
pub async fn queue_live() -> Result<TextStream<AppError>, AppError> {
    let backend = super::with_status(dashboard())?;
    let updates = super::with_status(backend.live(&request_headers()).await)?;
    Ok(super::lines::encode(updates))
}
