//! The report API the platform's existing clients call:
//!
//! - `POST /api/reports/session/{id}`: ask for a report (202 while a job
//!   writes it; 200 with the report when one exists, unless `?regenerate=true`)
//! - `GET /api/reports/session/{id}/status`: where the job stands
//! - `GET /api/reports/session/{id}`: the report (`?version=N` for an earlier
//!   one), or the status while there is none
//!
//! Every call needs the caller's session token, as `Authorization: Bearer
//! <token>` or `?token=`: whoever may chat in a session may ask for its report.

use axum::{
    extract::{Path, Query, State},
    http::{header::RETRY_AFTER, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use app::reports::{Report, ReportStatus};

use super::AppState;
use crate::reports::{ReportError, Reports, Requested};

#[derive(Debug, Deserialize, Default)]
pub struct Params {
    token: Option<String>,
    regenerate: Option<String>,
    version: Option<String>,
}

impl IntoResponse for ReportError {
    fn into_response(self) -> Response {
        let status = match self {
            ReportError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ReportError::UnknownSession | ReportError::NoReport => StatusCode::NOT_FOUND,
            ReportError::MissingToken => StatusCode::UNAUTHORIZED,
            ReportError::Forbidden => StatusCode::FORBIDDEN,
            ReportError::TooSoon(_) => StatusCode::TOO_MANY_REQUESTS,
            ReportError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        let body = Json(json!({ "success": false, "message": self.to_string() }));
        match self {
            ReportError::TooSoon(secs) => {
                (status, [(RETRY_AFTER, secs.to_string())], body).into_response()
            }
            _ => (status, body).into_response(),
        }
    }
}

fn token<'a>(headers: &'a HeaderMap, params: &'a Params) -> Option<&'a str> {
    super::bearer(headers).or(params.token.as_deref())
}

fn flag(value: Option<&str>) -> Result<bool, ReportError> {
    match value {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") | Some("") => Ok(true),
        Some(_) => Err(ReportError::BadRequest(
            "regenerate is true or false.".into(),
        )),
    }
}

/// `POST /api/reports/session/{id}`
pub async fn request(
    State(state): State<AppState>,
    Path(session): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ReportError> {
    let regenerate = flag(params.regenerate.as_deref())?;
    let reports = &state.reports;
    let token = token(&headers, &params);
    Ok(match reports.request(&session, token, regenerate).await? {
        Requested::Queued(status) => (
            StatusCode::ACCEPTED,
            Json(json!({
                "success": true,
                "status": "queued",
                "jobId": status.job_id,
                "message": "Report generation started. Check back in 30-60 seconds.",
                "statusUrl": format!("/api/reports/session/{session}/status"),
            })),
        )
            .into_response(),
        Requested::Existing(report) => {
            (StatusCode::OK, Json(report_body(&session, &report))).into_response()
        }
    })
}

/// `GET /api/reports/session/{id}/status`
pub async fn status(
    State(state): State<AppState>,
    Path(session): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Json<Value>, ReportError> {
    let reports = &state.reports;
    reports
        .authorize(&session, token(&headers, &params))
        .await?;
    Ok(Json(status_body(&reports.status(&session).await?)))
}

/// `GET /api/reports/session/{id}`
pub async fn report(
    State(state): State<AppState>,
    Path(session): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Json<Value>, ReportError> {
    let version = match params.version.as_deref() {
        None => None,
        Some(v) => Some(v.parse::<u32>().ok().filter(|v| *v > 0).ok_or_else(|| {
            ReportError::BadRequest("version is a report number: 1, 2, …".into())
        })?),
    };
    let reports = &state.reports;
    reports
        .authorize(&session, token(&headers, &params))
        .await?;

    let report = match version {
        Some(version) => reports
            .report(&session, Some(version))
            .await?
            .ok_or_else(|| ReportError::BadRequest("There is no report of that version.".into()))?,
        None => {
            // While a job runs, its status tells more than an older report
            // would.
            let (status, latest) = reports.current(&session).await?;
            if let Some(status) = status.filter(|s| s.status != "completed") {
                return Ok(Json(status_body(&status)));
            }
            latest.ok_or(ReportError::NoReport)?
        }
    };
    Ok(Json(report_body(&session, &report)))
}

fn status_body(status: &ReportStatus) -> Value {
    let mut body = json!({
        "success": true,
        "status": status.status,
        "progress": status.progress,
        "jobId": status.job_id,
        "step": status.step,
    });
    if status.status == "failed" {
        body["reason"] = json!(status.reason);
        body["attempts"] = json!(status.attempts);
    }
    body
}

fn report_body(session: &str, report: &Report) -> Value {
    json!({
        "success": true,
        "status": "completed",
        "jobId": Reports::job_id(session),
        "report": report,
    })
}
