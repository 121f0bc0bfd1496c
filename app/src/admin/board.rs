//! The dashboard's state, shared by its parts through the context: what is
//! shown, how it is loaded, how actions run, and how live updates change it.
//!
//! Loads happen in the browser only (after hydration), when the page opens,
//! when the admin changes the tab, page or filter, and after an action.
//! Everything else arrives through the live stream.

use leptos::prelude::*;

use super::{
    live::{apply_change, count_finish, now_ms, patch},
    types::{
        ActionOutcome, AdminAction, JobDetail, JobRow, LiveUpdate, Overview, QueueState,
        StateCounts,
    },
};
use crate::api::{
    admin::{queue_action, queue_job, queue_jobs, queue_live, queue_overview},
    lines, AppError,
};

/// Jobs per page of the lists.
pub const PER_PAGE: u32 = 20;

/// The state of the live stream, as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveState {
    Connecting,
    Live,
    Reconnecting,
    Stopped,
}

impl LiveState {
    pub fn as_str(self) -> &'static str {
        match self {
            LiveState::Connecting => "connecting",
            LiveState::Live => "live",
            LiveState::Reconnecting => "reconnecting",
            LiveState::Stopped => "stopped",
        }
    }
}

/// Every signal of the dashboard; `Copy`, so handlers capture it freely.
#[derive(Clone, Copy)]
pub struct Board {
    pub counts: RwSignal<StateCounts>,
    pub overview: RwSignal<Option<Overview>>,
    pub tab: RwSignal<QueueState>,
    pub page: RwSignal<u32>,
    /// The session-id filter as applied (the input's text until submitted
    /// lives in the form).
    pub filter: RwSignal<String>,
    pub rows: RwSignal<Vec<JobRow>>,
    pub total: RwSignal<u64>,
    pub selected: RwSignal<Option<String>>,
    pub detail: RwSignal<Option<JobDetail>>,
    /// An action waiting for the admin to confirm it.
    pub confirming: RwSignal<Option<AdminAction>>,
    /// The last action's outcome: `Ok` text or an error.
    pub outcome: RwSignal<Option<Result<String, String>>>,
    pub busy: RwSignal<bool>,
    pub live: RwSignal<LiveState>,
    /// A load's error, shown above the lists.
    pub error: RwSignal<Option<String>>,
}

impl Board {
    pub fn new() -> Self {
        Board {
            counts: RwSignal::new(StateCounts::default()),
            overview: RwSignal::new(None),
            tab: RwSignal::new(QueueState::Waiting),
            page: RwSignal::new(0),
            filter: RwSignal::new(String::new()),
            rows: RwSignal::new(Vec::new()),
            total: RwSignal::new(0),
            selected: RwSignal::new(None),
            detail: RwSignal::new(None),
            confirming: RwSignal::new(None),
            outcome: RwSignal::new(None),
            busy: RwSignal::new(false),
            live: RwSignal::new(LiveState::Connecting),
            error: RwSignal::new(None),
        }
    }

    /// Whether the dashboard was taken off the page (signed out): its
    /// signals are gone, and answers still under way are dropped.
    fn gone(self) -> bool {
        self.live.is_disposed()
    }

    pub fn load_overview(self) {
        leptos::task::spawn_local(async move {
            let answer = queue_overview().await;
            if self.gone() {
                return;
            }
            match answer {
                Ok(overview) => {
                    self.counts.set(overview.counts);
                    self.overview.set(Some(overview));
                }
                Err(err) => self.error.set(Some(err.to_string())),
            }
        });
    }

    pub fn load_list(self) {
        let (state, page) = (self.tab.get_untracked(), self.page.get_untracked());
        let filter = self.filter.get_untracked();
        leptos::task::spawn_local(async move {
            let answer = queue_jobs(state, page, PER_PAGE, filter).await;
            if self.gone() {
                return;
            }
            match answer {
                // A slower answer for a tab the admin already left is dropped.
                Ok(list) if list.state == self.tab.get_untracked() => {
                    self.rows.set(list.jobs);
                    self.total.set(list.total);
                    self.error.set(None);
                }
                Ok(_) => {}
                Err(err) => self.error.set(Some(err.to_string())),
            }
        });
    }

    pub fn load_detail(self, id: String) {
        leptos::task::spawn_local(async move {
            let answer = queue_job(id.clone()).await;
            if self.gone() {
                return;
            }
            match answer {
                Ok(detail) if self.selected.get_untracked().as_deref() == Some(id.as_str()) => {
                    self.detail.set(Some(detail));
                }
                Ok(_) => {}
                Err(AppError::NotFound(_)) => {
                    self.detail.set(None);
                    self.selected.set(None);
                    self.outcome
                        .set(Some(Err(format!("Job {id} no longer exists."))));
                }
                Err(err) => self.error.set(Some(err.to_string())),
            }
        });
    }

    pub fn open(self, id: String) {
        self.selected.set(Some(id.clone()));
        self.detail.set(None);
        self.load_detail(id);
    }

    /// Runs `action`, or asks first when it is destructive.
    pub fn ask(self, action: AdminAction) {
        if action.is_destructive() {
            self.confirming.set(Some(action));
        } else {
            self.run(action);
        }
    }

    pub fn run(self, action: AdminAction) {
        self.confirming.set(None);
        self.busy.set(true);
        self.outcome.set(None);
        leptos::task::spawn_local(async move {
            let removed = match &action {
                AdminAction::Remove { id } => Some(id.clone()),
                _ => None,
            };
            let answer = queue_action(action).await;
            if self.gone() {
                return;
            }
            match answer {
                Ok(ActionOutcome { message }) => self.outcome.set(Some(Ok(message))),
                Err(err) => self.outcome.set(Some(Err(err.to_string()))),
            }
            self.busy.set(false);
            if removed.is_some() && removed == self.selected.get_untracked() {
                self.selected.set(None);
                self.detail.set(None);
            } else if let Some(id) = self.selected.get_untracked() {
                self.load_detail(id);
            }
            self.load_list();
            self.load_overview();
        });
    }

    /// Follows the live stream for as long as the page is open, coming back
    /// after a dropped connection.
    pub fn follow(self) {
        leptos::task::spawn_local(async move {
            use futures::StreamExt;

            let mut delay_ms = 500;
            loop {
                let answer = queue_live().await;
                if self.gone() {
                    return;
                }
                match answer {
                    Ok(stream) => {
                        self.live.set(LiveState::Live);
                        delay_ms = 500;
                        let mut stream = stream.into_inner();
                        let mut pending = String::new();
                        while let Some(Ok(chunk)) = stream.next().await {
                            if self.gone() {
                                return;
                            }
                            for update in lines::take(&mut pending, &chunk) {
                                self.apply(update);
                            }
                        }
                    }
                    Err(AppError::Forbidden(_) | AppError::NotFound(_)) => {
                        self.live.set(LiveState::Stopped);
                        return;
                    }
                    Err(_) => {}
                }
                self.live.set(LiveState::Reconnecting);
                if !pause(delay_ms).await || self.gone() {
                    return;
                }
                delay_ms = (delay_ms * 2).min(10_000);
                // What changed while the stream was down is read once.
                self.load_list();
            }
        });
    }

    fn apply(self, update: LiveUpdate) {
        match update {
            LiveUpdate::Counts { counts } => self.counts.set(counts),
            LiveUpdate::Cleaned { state, .. } => {
                if state == self.tab.get_untracked() {
                    self.load_list();
                }
            }
            LiveUpdate::Job { change } => {
                if matches!(change.kind.as_str(), "completed" | "failed") {
                    self.overview.update(|o| {
                        if let Some(o) = o {
                            count_finish(o, change.kind == "failed", now_ms());
                        }
                    });
                }
                let shown = self.tab.get_untracked();
                let (page, filter) = (self.page.get_untracked(), self.filter.get_untracked());
                let mut added = false;
                self.rows.update(|rows| {
                    added = apply_change(rows, &change, shown, page == 0, &filter);
                });
                if added {
                    self.total.update(|t| *t += 1);
                }
                if self.selected.get_untracked().as_deref() == Some(change.id.as_str()) {
                    if change.kind == "progress" {
                        self.detail.update(|d| {
                            if let Some(d) = d {
                                patch(&mut d.row, &change);
                            }
                        });
                    } else if change.kind != "removed" {
                        self.load_detail(change.id);
                    }
                }
            }
        }
    }
}

/// Waits `ms` in the browser; elsewhere there is nothing to wait for, and
/// the caller stops.
async fn pause(ms: u32) -> bool {
    #[cfg(feature = "hydrate")]
    {
        gloo_timers::future::TimeoutFuture::new(ms).await;
        true
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ms;
        false
    }
}
