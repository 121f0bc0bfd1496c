//! The server functions of the report panel: ask for a report, read it, and
//! follow its job live. Each one checks the caller's session token with the
//! chat's own rule, on the server.

use leptos::prelude::*;
use leptos::server_fn::codec::{StreamingText, TextStream};
use serde::{Deserialize, Serialize};

use super::AppError;
use crate::reports::{Report, ReportStatus};

/// What the panel shows: the job's state if there is a job, and the newest
/// report if there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ReportView {
    pub status: Option<ReportStatus>,
    pub report: Option<Report>,
}

/// Asks for a report; with `regenerate`, a new one even when one exists.
#[server]
pub async fn request_report(
    session: String,
    token: String,
    regenerate: bool,
) -> Result<ReportView, AppError> {
    let backend = crate::backend::get::<dyn crate::backend::Reports>()?;
    super::with_status(backend.request(&session, &token, regenerate).await)
}

/// The newest report and the state of its job.
#[server]
pub async fn load_report(session: String, token: String) -> Result<ReportView, AppError> {
    let backend = crate::backend::get::<dyn crate::backend::Reports>()?;
    super::with_status(backend.view(&session, &token).await)
}

/// The report job's status as it changes, one JSON document per line, until
/// the job ends; whichever instance runs it.
#[server(output = StreamingText)]
pub async fn follow_report(
    session: String,
    token: String,
) -> Result<TextStream<AppError>, AppError> {
    let backend = crate::backend::get::<dyn crate::backend::Reports>()?;
    let updates = super::with_status(backend.follow(&session, &token).await)?;
    Ok(super::lines::encode(updates))
}
