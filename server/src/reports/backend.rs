//! The report panel's server functions, served by [`Reports`].

use app::{
    api::{AppError, ReportView},
    backend::{self, StatusStream},
};
use async_trait::async_trait;

use super::{ReportError, Reports, Requested};

impl From<ReportError> for AppError {
    fn from(err: ReportError) -> Self {
        let message = err.to_string();
        match err {
            ReportError::BadRequest(_) => AppError::BadRequest(message),
            ReportError::TooSoon(_) => AppError::TooManyRequests(message),
            ReportError::UnknownSession | ReportError::NoReport => AppError::NotFound(message),
            ReportError::MissingToken | ReportError::Forbidden => AppError::Forbidden(message),
            ReportError::Unavailable => AppError::Unavailable(message),
        }
    }
}

#[async_trait]
impl backend::Reports for Reports {
    async fn request(
        &self,
        session: &str,
        token: &str,
        regenerate: bool,
    ) -> Result<ReportView, AppError> {
        Ok(
            match Reports::request(self, session, Some(token), regenerate).await? {
                Requested::Queued(status) => ReportView {
                    status: Some(status),
                    report: None,
                },
                Requested::Existing(report) => ReportView {
                    status: None,
                    report: Some(report),
                },
            },
        )
    }

    async fn view(&self, session: &str, token: &str) -> Result<ReportView, AppError> {
        self.authorize(session, Some(token)).await?;
        let (status, report) = self.current(session).await?;
        Ok(ReportView { status, report })
    }

    async fn follow(&self, session: &str, token: &str) -> Result<StatusStream, AppError> {
        self.authorize(session, Some(token)).await?;
        Ok(Box::pin(Reports::follow(self, session).await?))
    }
}
