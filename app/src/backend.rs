//! What the server functions need from the server, as traits. The server
//! implements them and puts an `Arc<dyn Trait>` of each in the Leptos context,
//! so this crate never names a Redis type and tests can hand in their own.

use std::sync::Arc;

use async_trait::async_trait;
use leptos::prelude::use_context;

use crate::{
    api::{AppError, CreatedSession, ReportView, RoundTrip, SessionView},
    chat::protocol::Participant,
    reports::ReportStatus,
};

/// The Redis round trip of the system check.
#[async_trait]
pub trait SystemCheck: Send + Sync {
    /// Stores `note` and reads it back.
    async fn round_trip(&self, note: &str) -> Result<RoundTrip, AppError>;
}

/// The backend of type `T` that the server provided, or an error the page can
/// show when the server was started without it.
pub fn get<T: ?Sized + Send + Sync + 'static>() -> Result<Arc<T>, AppError> {
    use_context::<Arc<T>>().ok_or_else(|| {
        AppError::Unavailable("This part of the service is not running here.".into())
    })
}

/// Tutoring sessions and who may enter them, served by the chat engine.
///
/// Every method that takes a `token` refuses with [`AppError::Forbidden`]
/// when it is not a valid token for that session.
#[async_trait]
pub trait ChatSessions: Send + Sync {
    /// Creates a session led by a tutor called `tutor_name`.
    async fn create(&self, title: &str, tutor_name: &str) -> Result<CreatedSession, AppError>;
    /// Admits a student with the session's invite; returns their own link.
    async fn join(&self, session: &str, invite: &str, name: &str) -> Result<String, AppError>;
    /// The session as the holder of `token` sees it.
    async fn view(&self, session: &str, token: &str) -> Result<SessionView, AppError>;
    /// Who is online now, across every instance.
    async fn online(&self, session: &str, token: &str) -> Result<Vec<Participant>, AppError>;
    /// Ends the session; the tutor's token alone may.
    async fn end(&self, session: &str, token: &str) -> Result<(), AppError>;
}

/// Session reports, served by the report generator through the queue.
///
/// Every method refuses with [`AppError::Forbidden`] unless `token` gives
/// access to the session, exactly as the chat decides.
#[async_trait]
pub trait Reports: Send + Sync {
    /// Asks for a report; joins a job under way, and returns an existing
    /// report unless `regenerate`.
    async fn request(
        &self,
        session: &str,
        token: &str,
        regenerate: bool,
    ) -> Result<ReportView, AppError>;
    /// The job's state and the newest report.
    async fn view(&self, session: &str, token: &str) -> Result<ReportView, AppError>;
    /// The job's status, first as it is, then at every change until it ends.
    async fn follow(&self, session: &str, token: &str) -> Result<StatusStream, AppError>;
}

/// Updates of one report job.
pub type StatusStream = std::pin::Pin<Box<dyn futures::Stream<Item = ReportStatus> + Send>>;

/// The queue dashboard, served by the queue's admin operations.
///
/// The server functions call [`QueueDashboard::access`] first and refuse
/// everything else unless it allows use.
#[async_trait]
pub trait QueueDashboard: Send + Sync {
    /// Who may use the dashboard, from the request's headers (its cookie).
    fn access(&self, headers: &http::HeaderMap) -> crate::admin::types::Access;
    /// Checks the admin token; returns the `Set-Cookie` value of a new
    /// session, or [`AppError::Forbidden`].
    fn login(&self, token: &str) -> Result<String, AppError>;
    /// A `Set-Cookie` value that makes the browser forget its session.
    fn logout_cookie(&self) -> String;
    async fn overview(&self) -> Result<crate::admin::types::Overview, AppError>;
    async fn jobs(
        &self,
        state: crate::admin::types::QueueState,
        page: u32,
        per_page: u32,
        filter: &str,
    ) -> Result<crate::admin::types::JobList, AppError>;
    async fn job(&self, id: &str) -> Result<crate::admin::types::JobDetail, AppError>;
    async fn act(
        &self,
        action: crate::admin::types::AdminAction,
    ) -> Result<crate::admin::types::ActionOutcome, AppError>;
    /// Counts now, then every change, from the instance's shared feed,
    /// until the sign-in of the request with `headers` runs out.
    async fn live(&self, headers: &http::HeaderMap) -> Result<LiveStream, AppError>;
}

/// The dashboard's live updates.
pub type LiveStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = crate::admin::types::LiveUpdate> + Send>>;
