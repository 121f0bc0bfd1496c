//! Session reports: a queue handler that turns a chat transcript into a
//! report (analytics, and a narrative from a language model), and the service
//! the HTTP API and the pages use to ask for one and follow it.
//!
//! It reads the chat only through [`ChatEngine`] (access checks and the
//! transcript) and runs only through the [`Queue`]; it writes nothing but
//! reports and token counts.
//!
//! - [`analytics`]: the figures; [`narrative`]: prompt, answer check, and the
//!   plain narrative; [`model`]: the OpenAI-compatible client.
//! - [`handler`]: the job; [`store`]: reports and token usage in Redis.

pub mod analytics;
mod backend;
pub mod handler;
pub mod model;
pub mod narrative;
pub mod store;

use app::{
    chat::protocol::Participant,
    reports::{Report, ReportStatus},
};

use crate::{
    chat::{tokens, ChatEngine, ChatError},
    queue::{EnqueueOptions, Job, JobState, Queue, QueueError},
};

pub use handler::{ReportHandler, ReportJob};
pub use store::ReportStore;

/// The steps a report goes through, as the progress bar names them.
pub mod steps {
    pub const QUEUED: &str = "Queued";
    pub const LOADING: &str = "Loading the transcript";
    pub const TRANSCRIPT_LOADED: &str = "Transcript loaded";
    pub const ANALYTICS_DONE: &str = "Analytics done";
    pub const MODEL_WRITING: &str = "Model writing";
    pub const SAVING: &str = "Saving";
    pub const SAVED: &str = "Saved";
}

/// Why a report request was refused; every message is safe to show.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    BadRequest(String),
    #[error("There is no such session.")]
    UnknownSession,
    #[error("No report has been asked for in this session yet.")]
    NoReport,
    #[error("A valid session token is needed: send it as 'Authorization: Bearer <token>'.")]
    MissingToken,
    #[error("This token does not give access to this session.")]
    Forbidden,
    #[error("Reports are unavailable right now; try again shortly.")]
    Unavailable,
    #[error(
        "A report of this session was written moments ago; a new one may be asked for in {0} s."
    )]
    TooSoon(u64),
}

impl From<QueueError> for ReportError {
    fn from(err: QueueError) -> Self {
        tracing::warn!(cause = %err, "report queue call failed");
        ReportError::Unavailable
    }
}

impl From<redis::RedisError> for ReportError {
    fn from(err: redis::RedisError) -> Self {
        tracing::warn!(cause = %err, "report store call failed");
        ReportError::Unavailable
    }
}

impl From<ChatError> for ReportError {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::NotFound => ReportError::UnknownSession,
            ChatError::Unauthorized | ChatError::Forbidden => ReportError::Forbidden,
            _ => ReportError::Unavailable,
        }
    }
}

/// What asking for a report led to.
#[derive(Debug)]
pub enum Requested {
    /// A job is writing one (new, or the one already running).
    Queued(ReportStatus),
    /// A report exists and no new one was asked for.
    Existing(Report),
}

/// Reports, as the HTTP API and the server functions use them.
#[derive(Clone)]
pub struct Reports {
    queue: Queue,
    chat: ChatEngine,
    store: ReportStore,
    /// How long after a report a new one of the session may be asked for.
    regenerate_after: std::time::Duration,
}

impl Reports {
    pub fn new(
        queue: Queue,
        chat: ChatEngine,
        store: ReportStore,
        regenerate_after: std::time::Duration,
    ) -> Self {
        Reports {
            queue,
            chat,
            store,
            regenerate_after,
        }
    }

    /// The job id of `session`'s report: one per session, so a second
    /// request while one runs joins it.
    pub fn job_id(session: &str) -> String {
        format!("report-{session}")
    }

    /// Who `token` is in `session`: the same rule as the chat's. A malformed
    /// id is a 400 and an unknown session a 404, with a token or without;
    /// then a missing token is a 401 and a wrong one a 403.
    ///
    /// A good token costs one Redis command: whether the session exists is
    /// asked only to tell a refusal's reason.
    pub async fn authorize(
        &self,
        session: &str,
        token: Option<&str>,
    ) -> Result<Participant, ReportError> {
        check_id(session)?;
        let refusal = match token.filter(|t| !t.is_empty()) {
            None => ReportError::MissingToken,
            Some(token) => match self.chat.check_token(session, token).await {
                Ok(who) => return Ok(who),
                Err(ChatError::Unauthorized | ChatError::Forbidden) => ReportError::Forbidden,
                Err(err) => return Err(err.into()),
            },
        };
        if self.chat.session_exists(session).await? {
            Err(refusal)
        } else {
            Err(ReportError::UnknownSession)
        }
    }

    /// Asks for a report of `session` for whoever `token` stands for,
    /// refused as [`Reports::authorize`] refuses. Unless `regenerate`, an
    /// existing report is returned as it is; a job already under way is
    /// joined.
    pub async fn request(
        &self,
        session: &str,
        token: Option<&str>,
        regenerate: bool,
    ) -> Result<Requested, ReportError> {
        let job_id = Self::job_id(session);
        check_id(session)?;

        // The token check and the read of the newest report go to Redis
        // together, so a request waits for two round trips rather than
        // three. A refused request has read a report it never shows.
        let (who, latest) =
            tokio::join!(self.authorize(session, token), self.store.latest(session));
        let (asked_by, latest) = (who?, latest?);
        if regenerate {
            let age =
                crate::clock::now_ms().saturating_sub(latest.map_or(0, |r| r.generated_at_ms));
            let wait = (self.regenerate_after.as_millis() as u64).saturating_sub(age);
            if wait > 0 {
                return Err(ReportError::TooSoon(wait.div_ceil(1000)));
            }
        } else if let Some(report) = latest {
            match self.queue.get(&job_id).await {
                Ok(job) if !job.summary.state.is_finished() => {
                    return Ok(Requested::Queued(status_of(&job)))
                }
                Ok(_) | Err(QueueError::NotFound(_)) => return Ok(Requested::Existing(report)),
                Err(err) => return Err(err.into()),
            }
        }
        let payload = ReportJob {
            session_id: session.to_string(),
            requested_by: asked_by.name.clone(),
        };
        let enqueued = self
            .queue
            .enqueue_with(
                &payload,
                EnqueueOptions {
                    id: Some(job_id.clone()),
                    ..Default::default()
                },
            )
            .await?;
        if !enqueued.created {
            return Ok(Requested::Queued(status_of(
                &self.queue.get(&job_id).await?,
            )));
        }
        Ok(Requested::Queued(ReportStatus {
            job_id,
            status: "waiting".into(),
            progress: 0,
            step: steps::QUEUED.into(),
            reason: None,
            attempts: 0,
        }))
    }

    /// Where `session`'s report stands; after the job record is gone (kept
    /// finished jobs are bounded), a stored report still counts as completed.
    pub async fn status(&self, session: &str) -> Result<ReportStatus, ReportError> {
        let job_id = Self::job_id(session);
        match self.queue.get(&job_id).await {
            Ok(job) => Ok(status_of(&job)),
            Err(QueueError::NotFound(_)) => match self.store.latest(session).await? {
                Some(_) => Ok(completed(job_id)),
                None => Err(ReportError::NoReport),
            },
            Err(err) => Err(err.into()),
        }
    }

    /// Where `session`'s report stands (`None` with neither a job nor a
    /// report) and its newest report, each read once.
    pub async fn current(
        &self,
        session: &str,
    ) -> Result<(Option<ReportStatus>, Option<Report>), ReportError> {
        let job_id = Self::job_id(session);
        let job = match self.queue.get(&job_id).await {
            Ok(job) => Some(status_of(&job)),
            Err(QueueError::NotFound(_)) => None,
            Err(err) => return Err(err.into()),
        };
        let latest = self.store.latest(session).await?;
        let status = job.or_else(|| latest.as_ref().map(|_| completed(job_id)));
        Ok((status, latest))
    }

    /// The newest report, or the given version.
    pub async fn report(
        &self,
        session: &str,
        version: Option<u32>,
    ) -> Result<Option<Report>, ReportError> {
        match version {
            None => Ok(self.store.latest(session).await?),
            Some(v) => Ok(self
                .store
                .all(session)
                .await?
                .into_iter()
                .find(|r| r.version == v)),
        }
    }

    /// Follows `session`'s job until it ends: the current status first, then
    /// one per change, pushed by whichever instance runs it.
    pub async fn follow(
        &self,
        session: &str,
    ) -> Result<impl futures::Stream<Item = ReportStatus> + Send + 'static, ReportError> {
        let job_id = Self::job_id(session);
        let follow = match self.queue.follow(&job_id).await {
            Ok(follow) => follow,
            Err(QueueError::NotFound(_)) => return Err(ReportError::NoReport),
            Err(err) => return Err(err.into()),
        };
        Ok(futures::stream::unfold(follow, |mut follow| async move {
            match follow.next().await? {
                Ok(job) => Some((status_of_summary(&job), follow)),
                Err(err) => {
                    tracing::warn!(cause = %err, "lost track of a report job");
                    None
                }
            }
        }))
    }
}

/// A malformed session id is refused before anything is asked of Redis.
fn check_id(session: &str) -> Result<(), ReportError> {
    if tokens::is_session_id(session) {
        Ok(())
    } else {
        Err(ReportError::BadRequest("That is not a session id.".into()))
    }
}

fn completed(job_id: String) -> ReportStatus {
    ReportStatus {
        job_id,
        status: "completed".into(),
        progress: 100,
        step: steps::SAVED.into(),
        reason: None,
        attempts: 0,
    }
}

fn status_of(job: &Job) -> ReportStatus {
    status_of_summary(&job.summary)
}

/// A job's state in the terms of the report API: a job waiting out a retry
/// backoff is `waiting`, with the reason of the failed attempt.
fn status_of_summary(job: &crate::queue::JobSummary) -> ReportStatus {
    let (status, step) = match job.state {
        JobState::Waiting => ("waiting", steps::QUEUED.to_string()),
        JobState::Delayed => ("waiting", "Waiting to retry".to_string()),
        JobState::Active => ("active", non_empty(&job.message, steps::LOADING)),
        JobState::Completed => ("completed", steps::SAVED.to_string()),
        JobState::Failed => ("failed", "Failed".to_string()),
    };
    let reason = match job.state {
        JobState::Failed | JobState::Delayed => job.error.clone(),
        _ => None,
    };
    ReportStatus {
        job_id: job.id.clone(),
        status: status.into(),
        progress: if job.state == JobState::Completed {
            100
        } else {
            job.progress
        },
        step,
        reason,
        attempts: job.attempts,
    }
}

fn non_empty(text: &str, otherwise: &str) -> String {
    if text.is_empty() {
        otherwise.to_string()
    } else {
        text.to_string()
    }
}
