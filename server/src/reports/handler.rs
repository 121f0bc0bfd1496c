//! The queue handler that writes one report: transcript, analytics, the
//! model's narrative (or a plain one without a model), then the saved report.

use std::{sync::Arc, time::Duration};

use app::reports::Report;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;
use tracing::Instrument;

use crate::{
    chat::ChatEngine,
    clock::now_ms,
    queue::{Handler, JobContext, Outcome},
};

use super::{
    analytics::{self, TranscriptLine},
    model::{ModelClient, ModelError},
    narrative, steps,
    store::{self, ReportStore},
};

/// What a report job carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportJob {
    pub session_id: String,
    /// The participant who asked, for the dashboard's eyes.
    pub requested_by: String,
}

/// Writes reports; plugged into the queue's worker.
pub struct ReportHandler {
    pub chat: ChatEngine,
    pub store: ReportStore,
    /// `None` when no API key is configured: reports are then written from
    /// the analytics alone, and say so.
    pub model: Option<Arc<ModelClient>>,
}

/// How the model's share of the progress bar fills as the answer grows: it
/// is two thirds full after this many characters and approaches full without
/// reaching it, so a longer answer than usual never overruns the bar.
const ANSWER_SCALE_CHARS: f64 = 400.0;
/// Progress updates while the model writes come at most this often, since
/// each costs a Redis command.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

#[async_trait::async_trait]
impl Handler for ReportHandler {
    type Payload = ReportJob;

    async fn handle(&self, job: JobContext<ReportJob>) -> Outcome {
        let span = tracing::info_span!(
            "report",
            job = %job.id,
            session = %job.payload.session_id,
            attempt = job.attempt,
        );
        self.write(job).instrument(span).await
    }
}

impl ReportHandler {
    async fn write(&self, job: JobContext<ReportJob>) -> Outcome {
        let session = job.payload.session_id.clone();

        // The transcript is read fresh on every attempt: messages may have
        // arrived since the report was asked for.
        let _ = job.progress(5, steps::LOADING).await;
        let info = match self.chat.session_info(&session).await {
            Ok(info) => info,
            Err(crate::chat::ChatError::NotFound) => {
                return Outcome::FailedPermanently("the session no longer exists".into())
            }
            Err(err) => return Outcome::Failed(format!("could not read the session: {err}")),
        };
        let lines: Vec<TranscriptLine> = match self.chat.transcript(&session).await {
            Ok(messages) => messages
                .into_iter()
                .map(|m| TranscriptLine {
                    participant_id: m.author.id,
                    name: m.author.name,
                    role: m.author.role,
                    text: m.text,
                    at_ms: m.ts_ms,
                })
                .collect(),
            Err(err) => return Outcome::Failed(format!("could not read the transcript: {err}")),
        };
        let _ = job.progress(15, steps::TRANSCRIPT_LOADED).await;

        // The count was read before the transcript, so messages arriving in
        // between can only shrink what is said to be missing, never claim a
        // loss that is not there.
        let analytics = analytics::analyse(&lines, info.posted);
        let _ = job.progress(25, steps::ANALYTICS_DONE).await;

        let (narrative, model, usage) = match &self.model {
            None => (narrative::from_analytics(&analytics), None, None),
            Some(model) => {
                let _ = job.progress(30, steps::MODEL_WRITING).await;
                let document = narrative::session_document(&info.title, &analytics, &lines);
                match write_with_progress(model, document, &job).await {
                    Ok((narrative, usage)) => {
                        (narrative, Some(model.model().to_string()), Some(usage))
                    }
                    Err(err) => return outcome_of(err),
                }
            }
        };

        let _ = job.progress(95, steps::SAVING).await;
        let report = Report {
            session_id: session,
            version: 0,
            generated_at_ms: now_ms(),
            analytics,
            narrative,
            model,
            usage,
        };
        match self.store.save(report, &store::today()).await {
            Ok(saved) => Outcome::Completed(json!({ "version": saved.version })),
            Err(err) => Outcome::Failed(format!("could not save the report: {err}")),
        }
    }
}

/// Runs the model while a side task turns the characters received into
/// progress between 30 and 90.
async fn write_with_progress(
    model: &ModelClient,
    document: String,
    job: &JobContext<ReportJob>,
) -> Result<(app::reports::Narrative, app::reports::TokenUsage), ModelError> {
    let (received, mut watched) = watch::channel(0usize);
    let reporter = async {
        let mut shown = 30u8;
        while watched.changed().await.is_ok() {
            let chars = *watched.borrow_and_update();
            let filled = 1.0 - (-(chars as f64) / ANSWER_SCALE_CHARS).exp();
            let percent = 30 + (60.0 * filled) as u8;
            if percent >= shown + 5 {
                shown = percent;
                let _ = job.progress(percent, steps::MODEL_WRITING).await;
                tokio::time::sleep(PROGRESS_INTERVAL).await;
            }
        }
    };
    let writer = async {
        let result = model.write(document, &received).await;
        drop(received);
        result
    };
    let (result, ()) = tokio::join!(writer, reporter);
    result
}

/// What the queue should do after a model failure.
fn outcome_of(err: ModelError) -> Outcome {
    let reason = err.to_string();
    match err {
        ModelError::RateLimited {
            retry_after: Some(delay),
        } => Outcome::RetryAfter {
            error: reason,
            delay,
        },
        ModelError::RateLimited { retry_after: None }
        | ModelError::Unavailable(_)
        | ModelError::BadAnswer(_) => Outcome::Failed(reason),
        ModelError::Refused(_) => Outcome::FailedPermanently(reason),
    }
}
