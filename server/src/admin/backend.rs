//! The dashboard's server functions, served by the queue's admin operations.

use std::time::{Instant, SystemTime};

use app::{
    admin::types::{Access, ActionOutcome, AdminAction, JobDetail, JobList, Overview, QueueState},
    api::AppError,
    backend::{LiveStream, QueueDashboard},
    words::plural,
};
use async_trait::async_trait;
use futures::StreamExt;

use super::{
    auth,
    convert::{counts_view, detail_view, minute_view, queue_state, row_view},
    Dashboard,
};
use crate::{queue::QueueError, reports::store};

/// Job ids longer than this are refused before Redis is asked.
const MAX_ID_CHARS: usize = 256;
/// The shortest part of the day a projection is made from, so the first
/// minutes after midnight do not project a burst onto the whole day.
const MIN_ELAPSED_MS: u64 = 10 * 60_000;
const DAY_MS: u64 = 86_400_000;

/// The queue's refusals as the page shows them; the detail of the server's
/// own failures goes to the log.
fn app_error(err: QueueError) -> AppError {
    match &err {
        QueueError::NotFound(_) => AppError::NotFound(err.public_message()),
        QueueError::WrongState { .. } | QueueError::InvalidId(_) => {
            AppError::BadRequest(err.public_message())
        }
        _ => {
            tracing::warn!(cause = %err, "queue dashboard call failed");
            AppError::Unavailable(err.public_message())
        }
    }
}

fn checked_id(id: &str) -> Result<&str, AppError> {
    let id = id.trim();
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
        return Err(AppError::BadRequest(format!(
            "A job id has 1 to {MAX_ID_CHARS} characters."
        )));
    }
    Ok(id)
}

/// Today's command count stretched over the whole day at today's pace.
pub fn projection(today: u64, elapsed_ms: u64) -> u64 {
    let elapsed = elapsed_ms.clamp(MIN_ELAPSED_MS, DAY_MS);
    ((today as f64) * (DAY_MS as f64) / (elapsed as f64)).round() as u64
}

#[async_trait]
impl QueueDashboard for Dashboard {
    fn access(&self, headers: &axum::http::HeaderMap) -> Access {
        self.auth.access(headers, SystemTime::now())
    }

    fn login(&self, token: &str) -> Result<String, AppError> {
        if !matches!(self.auth, auth::AdminAuth::Token { .. }) {
            return Err(AppError::BadRequest(
                "This server has no admin sign-in: the dashboard is open or off.".into(),
            ));
        }
        // Held while the token is compared, so attempts racing each other
        // cannot all slip past an empty bucket.
        let mut sign_ins = self.sign_ins.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(wait) = sign_ins.take(Instant::now()) {
            tracing::warn!("a sign-in to the queue dashboard was refused: too many wrong tokens");
            return Err(AppError::TooManyRequests(format!(
                "Too many wrong admin tokens were tried; try again in {} s.",
                wait.as_secs_f64().ceil().max(1.0)
            )));
        }
        match self.auth.login(token, SystemTime::now()) {
            Some(cookie) => {
                // Only wrong tokens count.
                sign_ins.give_back();
                tracing::info!("an admin signed in to the queue dashboard");
                Ok(cookie)
            }
            None => {
                tracing::warn!("a sign-in to the queue dashboard with a wrong token was refused");
                Err(AppError::Forbidden("That is not the admin token.".into()))
            }
        }
    }

    fn logout_cookie(&self) -> String {
        auth::logout_cookie()
    }

    async fn overview(&self) -> Result<Overview, AppError> {
        let admin = self.queue.admin();
        let today = store::today();
        let (counts, metrics, usage, tokens) = tokio::join!(
            admin.counts(),
            admin.metrics(),
            admin.command_usage(),
            self.reports.usage(&today),
        );
        let (counts, metrics, usage) = (
            counts.map_err(app_error)?,
            metrics.map_err(app_error)?,
            usage.map_err(app_error)?,
        );
        let tokens = tokens.map_err(|err| {
            tracing::warn!(cause = %err, "queue dashboard could not read today's token usage");
            AppError::Unavailable("The token usage is unavailable right now.".into())
        })?;
        let finished = metrics.completed + metrics.failed;
        Ok(Overview {
            counts: counts_view(&counts),
            minutes: metrics.minutes.iter().map(minute_view).collect(),
            avg_ms: metrics.avg_ms,
            p95_ms: metrics.p95_ms,
            failure_rate: (finished > 0).then(|| metrics.failed as f64 / finished as f64),
            commands_today: usage.today,
            command_budget: self.daily_budget,
            projected_today: projection(usage.today, usage.elapsed_today_ms),
            tokens_today: tokens.prompt_tokens + tokens.completion_tokens,
            reports_today: tokens.reports,
        })
    }

    async fn jobs(
        &self,
        state: QueueState,
        page: u32,
        per_page: u32,
        filter: &str,
    ) -> Result<JobList, AppError> {
        let offset = page as usize * per_page as usize;
        let filter = Some(filter.trim()).filter(|f| !f.is_empty());
        let listed = self
            .queue
            .admin()
            .jobs(queue_state(state), offset, per_page as usize, filter)
            .await
            .map_err(app_error)?;
        Ok(JobList {
            state,
            jobs: listed.jobs.into_iter().map(row_view).collect(),
            total: listed.total,
            page,
            per_page,
        })
    }

    async fn job(&self, id: &str) -> Result<JobDetail, AppError> {
        let id = checked_id(id)?;
        Ok(detail_view(
            self.queue.admin().job(id).await.map_err(app_error)?,
        ))
    }

    async fn act(&self, action: AdminAction) -> Result<ActionOutcome, AppError> {
        let admin = self.queue.admin();
        let message = match &action {
            AdminAction::Retry { id } => {
                admin.retry(checked_id(id)?).await.map_err(app_error)?;
                format!("Job {id} is back in line with a fresh set of attempts.")
            }
            AdminAction::RetryAllFailed => {
                let n = admin.retry_all_failed().await.map_err(app_error)?;
                format!("{n} failed job{} back in line.", plural(n))
            }
            AdminAction::Remove { id } => {
                admin.remove(checked_id(id)?).await.map_err(app_error)?;
                format!("Job {id} removed.")
            }
            AdminAction::Promote { id } => {
                admin.promote(checked_id(id)?).await.map_err(app_error)?;
                format!("Job {id} moved to the front of the line.")
            }
            AdminAction::Clean {
                state,
                older_than_secs,
            } => {
                if !state.is_finished() {
                    return Err(AppError::BadRequest(
                        "Only completed or failed jobs can be cleaned.".into(),
                    ));
                }
                let age = std::time::Duration::from_secs(*older_than_secs);
                let n = admin
                    .clean(queue_state(*state), age)
                    .await
                    .map_err(app_error)?;
                format!("{n} {} job{} deleted.", state.as_str(), plural(n))
            }
            AdminAction::Pause => {
                admin.pause().await.map_err(app_error)?;
                "Queue paused: active jobs finish, no new ones start.".into()
            }
            AdminAction::Resume => {
                admin.resume().await.map_err(app_error)?;
                "Queue resumed: waiting jobs start again.".into()
            }
        };
        tracing::info!(?action, "queue dashboard action done");
        Ok(ActionOutcome { message })
    }

    async fn live(&self, headers: &axum::http::HeaderMap) -> Result<LiveStream, AppError> {
        let updates = self.live.subscribe().await.map_err(app_error)?;
        let now = SystemTime::now();
        Ok(match self.auth.session_end(headers, now) {
            Some(end) => {
                let left = end.duration_since(now).unwrap_or_default();
                Box::pin(updates.take_until(tokio::time::sleep(left)))
            }
            None => Box::pin(updates),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projection_stretches_todays_pace_over_the_day() {
        assert_eq!(projection(500, DAY_MS / 2), 1_000);
        // Just after midnight the pace is taken over ten minutes at least.
        assert_eq!(projection(10, 1_000), 1_440);
    }

    #[test]
    fn overlong_or_empty_job_ids_are_refused_before_redis_is_asked() {
        assert!(checked_id("").is_err());
        assert!(checked_id(&"x".repeat(300)).is_err());
        assert_eq!(checked_id(" report-abc ").unwrap(), "report-abc");
    }
}
