//! A session report as the page shows it and the server stores it, and the
//! state of the job that writes one.

use serde::{Deserialize, Serialize};

use crate::chat::protocol::Role;

/// One finished report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub session_id: String,
    /// 1 for the first report of a session, then counting up; earlier
    /// versions stay readable.
    pub version: u32,
    /// Milliseconds since the Unix epoch.
    pub generated_at_ms: u64,
    pub analytics: SessionAnalytics,
    pub narrative: Narrative,
    /// The model that wrote the narrative, or `None` when it was built from
    /// the analytics alone because no model is configured.
    pub model: Option<String>,
    pub usage: Option<TokenUsage>,
}

/// Figures computed from the transcript on every report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SessionAnalytics {
    pub messages: u32,
    /// From the first message to the last, in seconds.
    pub duration_secs: u64,
    pub participants: Vec<ParticipantStats>,
    /// Questions asked by each side.
    pub tutor_questions: u32,
    pub student_questions: u32,
    /// Median time a side took to answer the other, in seconds; `None` when
    /// it never answered.
    pub tutor_response_median_secs: Option<f64>,
    pub student_response_median_secs: Option<f64>,
    /// Messages posted before the oldest one the session still stores (it
    /// keeps a bounded history): the figures and the narrative leave them
    /// out.
    #[serde(default)]
    pub earlier_not_kept: u64,
}

/// What one participant contributed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantStats {
    pub name: String,
    pub role: Role,
    pub messages: u32,
    pub words: u32,
    /// Share of all words in the session, 0 to 100.
    pub talk_share_pct: f64,
    pub questions: u32,
}

/// The written part of a report, in the sections the page renders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Narrative {
    pub summary: String,
    pub went_well: Vec<String>,
    pub to_work_on: Vec<String>,
    pub next_steps: Vec<String>,
}

/// Tokens the model spent on one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// Where a report's job stands, as the status endpoint and the page see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportStatus {
    pub job_id: String,
    /// `waiting`, `active`, `delayed`, `completed` or `failed`.
    pub status: String,
    pub progress: u8,
    /// The current step, such as "Analytics done".
    pub step: String,
    /// Why the job failed, when it did.
    pub reason: Option<String>,
    pub attempts: u32,
}

impl ReportStatus {
    /// Whether the job will not move any more.
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed")
    }
}
