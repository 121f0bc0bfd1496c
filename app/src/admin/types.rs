//! What the queue dashboard exchanges with the server: counts, the overview
//! figures, job rows and details, the actions and their outcomes, and the
//! live updates. The server builds these from the queue's own types, so the
//! browser build never sees the queue.

use serde::{Deserialize, Serialize};

/// Who may use the dashboard on this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Development: open to anyone who reaches the server.
    Open,
    /// Production, with a valid session cookie.
    SignedIn,
    /// Production, without one: only the sign-in form is served.
    SignInRequired,
    /// Production without `ADMIN_TOKEN`: the dashboard is switched off.
    Off,
}

impl Access {
    /// Whether reads and actions are allowed.
    pub fn allows_use(self) -> bool {
        matches!(self, Access::Open | Access::SignedIn)
    }

    /// The error a request without the use of the dashboard gets; `None`
    /// when it may use it.
    pub fn refusal(self) -> Option<crate::api::AppError> {
        use crate::api::AppError;
        match self {
            Access::Open | Access::SignedIn => None,
            Access::SignInRequired => Some(AppError::Forbidden(
                "Sign in to the queue dashboard first.".into(),
            )),
            Access::Off => Some(AppError::NotFound(
                "The queue dashboard is switched off on this server.".into(),
            )),
        }
    }
}

/// A job's state, as the dashboard names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    Waiting,
    Active,
    Delayed,
    Completed,
    Failed,
}

impl QueueState {
    /// Every state, in the order the dashboard shows them.
    pub const ALL: [QueueState; 5] = [
        QueueState::Waiting,
        QueueState::Active,
        QueueState::Delayed,
        QueueState::Completed,
        QueueState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueState::Waiting => "waiting",
            QueueState::Active => "active",
            QueueState::Delayed => "delayed",
            QueueState::Completed => "completed",
            QueueState::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, QueueState::Completed | QueueState::Failed)
    }
}

/// Jobs per state and whether the queue is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StateCounts {
    pub waiting: u64,
    pub active: u64,
    pub delayed: u64,
    pub completed: u64,
    pub failed: u64,
    pub paused: bool,
}

impl StateCounts {
    pub fn of(&self, state: QueueState) -> u64 {
        match state {
            QueueState::Waiting => self.waiting,
            QueueState::Active => self.active,
            QueueState::Delayed => self.delayed,
            QueueState::Completed => self.completed,
            QueueState::Failed => self.failed,
        }
    }

    /// Jobs not yet finished: what the workers still have to get through.
    pub fn backlog(&self) -> u64 {
        self.waiting + self.active + self.delayed
    }
}

/// Jobs that finished in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteCount {
    /// The minute's start, in ms since the epoch.
    pub minute_ms: u64,
    pub completed: u64,
    pub failed: u64,
}

/// The dashboard's top section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub counts: StateCounts,
    /// The last 60 minutes, oldest first.
    pub minutes: Vec<MinuteCount>,
    /// Average and 95th percentile processing time over the hour, in ms.
    pub avg_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// Failed jobs among those that finished in the hour, 0 to 1.
    pub failure_rate: Option<f64>,
    /// The queue's Redis commands today (UTC), as its clients reported them.
    pub commands_today: u64,
    /// The configured daily command budget.
    pub command_budget: u64,
    /// Today's count extrapolated to the whole day at today's pace.
    pub projected_today: u64,
    /// Model tokens spent on reports today, prompt and completion together.
    pub tokens_today: u64,
    /// Reports written today.
    pub reports_today: u64,
}

/// One job as the lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    pub id: String,
    pub state: QueueState,
    /// 0 to 100.
    pub progress: u8,
    pub message: String,
    pub attempts: u32,
    pub max_attempts: u32,
    /// Times in ms since the epoch, by Redis's clock.
    pub created_at: u64,
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    pub due_at: Option<u64>,
    /// The error of the latest failed attempt.
    pub error: Option<String>,
    /// The instance that ran the latest attempt.
    pub instance: Option<String>,
}

impl JobRow {
    /// The words beside the job's progress bar: its last step while it may
    /// still move, and how it ended once it is finished (the last step a
    /// handler reported is stale by then).
    pub fn progress_words(&self) -> String {
        match self.state {
            QueueState::Completed => "100% · completed".into(),
            QueueState::Failed if self.message.is_empty() => {
                format!("{}% · failed", self.progress)
            }
            QueueState::Failed => format!("{}% · failed during: {}", self.progress, self.message),
            _ => format!("{}% {}", self.progress, self.message)
                .trim_end()
                .to_string(),
        }
    }

    /// Where the progress bar stands: full once the job completed.
    pub fn bar(&self) -> u8 {
        if self.state == QueueState::Completed {
            100
        } else {
            self.progress
        }
    }

    /// What can be done to the job in its state, with the button's label.
    pub fn actions(&self) -> Vec<(&'static str, AdminAction)> {
        let id = self.id.clone();
        let mut actions = Vec::new();
        match self.state {
            QueueState::Failed => actions.push(("Retry", AdminAction::Retry { id: id.clone() })),
            QueueState::Delayed => {
                actions.push(("Promote", AdminAction::Promote { id: id.clone() }))
            }
            _ => {}
        }
        if self.state != QueueState::Active {
            actions.push(("Remove", AdminAction::Remove { id }));
        }
        actions
    }
}

/// One page of a state's jobs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobList {
    pub state: QueueState,
    pub jobs: Vec<JobRow>,
    /// Jobs in the state that match the filter.
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
}

/// One step of a job's life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub at: u64,
    /// `created`, `started`, `failed`, `stalled`, `completed`,
    /// `handed_back`, `retried` or `promoted`.
    pub kind: String,
    pub attempt: Option<u32>,
    pub instance: Option<String>,
    pub error: Option<String>,
}

/// One job in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDetail {
    pub row: JobRow,
    /// The payload and the result as indented JSON.
    pub payload: String,
    pub result: Option<String>,
    /// Failed attempts that count against `max_attempts`.
    pub failures: u32,
    /// Times the job lost its lease.
    pub stalls: u32,
    pub max_stalls: u32,
    /// The first retry's delay, doubled for each retry after it.
    pub backoff_ms: u64,
    /// Oldest first, starting with the job's creation.
    pub timeline: Vec<Step>,
}

/// Something an admin asks the queue to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AdminAction {
    Retry {
        id: String,
    },
    RetryAllFailed,
    Remove {
        id: String,
    },
    Promote {
        id: String,
    },
    /// Deletes completed or failed jobs that finished more than
    /// `older_than_secs` ago (0: all of them).
    Clean {
        state: QueueState,
        older_than_secs: u64,
    },
    Pause,
    Resume,
}

impl AdminAction {
    /// Whether it deletes something or stops work, and so asks to confirm.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            AdminAction::Remove { .. } | AdminAction::Clean { .. } | AdminAction::Pause
        )
    }

    /// What the confirmation step asks.
    pub fn describe(&self) -> String {
        match self {
            AdminAction::Retry { id } => format!("Retry job {id}"),
            AdminAction::RetryAllFailed => "Retry every failed job".into(),
            AdminAction::Remove { id } => format!("Remove job {id} for good"),
            AdminAction::Promote { id } => format!("Run delayed job {id} now"),
            AdminAction::Clean {
                state,
                older_than_secs: 0,
            } => {
                format!("Delete every {} job", state.as_str())
            }
            AdminAction::Clean {
                state,
                older_than_secs,
            } => format!(
                "Delete {} jobs finished more than {} ago",
                state.as_str(),
                age_label(*older_than_secs)
            ),
            AdminAction::Pause => "Pause the queue on every instance".into(),
            AdminAction::Resume => "Resume the queue".into(),
        }
    }
}

/// "1 hour", "2 days": an age as the clean choices name it.
pub fn age_label(secs: u64) -> String {
    let (n, unit) = if secs.is_multiple_of(86_400) {
        (secs / 86_400, "day")
    } else if secs.is_multiple_of(3_600) {
        (secs / 3_600, "hour")
    } else {
        (secs / 60, "minute")
    };
    crate::words::counted(n, unit)
}

/// What an action did, in words for the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOutcome {
    pub message: String,
}

/// A change to one job, pushed as it happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobChange {
    pub id: String,
    /// What happened: `added`, `active`, `progress`, `completed`,
    /// `retrying`, `failed`, `stalled`, `waiting` or `removed`.
    pub kind: String,
    /// The state it is in now; `None` for progress, and after removal.
    pub state: Option<QueueState>,
    pub progress: Option<u8>,
    pub message: Option<String>,
    pub attempt: Option<u32>,
    pub error: Option<String>,
    pub instance: Option<String>,
}

/// One line of the live stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveUpdate {
    /// Fresh counts, sent first and then whenever jobs moved.
    Counts {
        counts: StateCounts,
    },
    Job {
        change: JobChange,
    },
    /// Finished jobs were cleaned; lists of that state should be reloaded.
    Cleaned {
        state: QueueState,
        count: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: QueueState, progress: u8, message: &str) -> JobRow {
        JobRow {
            id: "report-1".into(),
            state,
            progress,
            message: message.into(),
            attempts: 1,
            max_attempts: 3,
            created_at: 0,
            started_at: None,
            finished_at: None,
            due_at: None,
            error: None,
            instance: None,
        }
    }

    #[test]
    fn a_finished_job_shows_how_it_ended_rather_than_its_last_step() {
        let done = row(QueueState::Completed, 95, "Saving");
        assert_eq!(
            (done.bar(), done.progress_words().as_str()),
            (100, "100% · completed")
        );
        let failed = row(QueueState::Failed, 30, "Model writing");
        assert_eq!(
            failed.progress_words(),
            "30% · failed during: Model writing"
        );
        let running = row(QueueState::Active, 30, "Model writing");
        assert_eq!(
            (running.bar(), running.progress_words().as_str()),
            (30, "30% Model writing")
        );
        assert_eq!(row(QueueState::Waiting, 0, "").progress_words(), "0%");
    }

    #[test]
    fn destructive_actions_are_the_ones_that_delete_or_stop_work() {
        assert!(AdminAction::Remove { id: "j".into() }.is_destructive());
        assert!(AdminAction::Pause.is_destructive());
        assert!(AdminAction::Clean {
            state: QueueState::Failed,
            older_than_secs: 0
        }
        .is_destructive());
        assert!(!AdminAction::Retry { id: "j".into() }.is_destructive());
        assert!(!AdminAction::Resume.is_destructive());
    }

    #[test]
    fn ages_are_named_in_their_largest_whole_unit() {
        assert_eq!(age_label(3_600), "1 hour");
        assert_eq!(age_label(172_800), "2 days");
        assert_eq!(age_label(600), "10 minutes");
    }

    #[test]
    fn actions_travel_as_tagged_json() {
        let json = serde_json::to_string(&AdminAction::Retry { id: "j1".into() }).unwrap();
        assert_eq!(json, r#"{"action":"retry","id":"j1"}"#);
    }
}
