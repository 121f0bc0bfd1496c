//! How a live update changes what the dashboard shows: a job's row, a new
//! row at the top of the list, the throughput chart's newest minute. Pure
//! functions, so they are tested without a browser.

use super::{
    board::PER_PAGE,
    types::{JobChange, JobRow, MinuteCount, Overview, QueueState},
};

/// Changes the row of `change.id` if shown, or puts a row for a job that
/// just entered the `shown` state at the top of the first page. Returns
/// whether a row was added.
pub fn apply_change(
    rows: &mut Vec<JobRow>,
    change: &JobChange,
    shown: QueueState,
    first_page: bool,
    filter: &str,
) -> bool {
    if let Some(row) = rows.iter_mut().find(|r| r.id == change.id) {
        patch(row, change);
        return false;
    }
    let entered = change.state == Some(shown) && change.kind != "progress";
    if !entered || !first_page || !change.id.contains(filter.trim()) {
        return false;
    }
    let mut row = JobRow {
        id: change.id.clone(),
        state: shown,
        progress: 0,
        message: String::new(),
        attempts: 0,
        max_attempts: 0,
        created_at: if change.kind == "added" { now_ms() } else { 0 },
        started_at: None,
        finished_at: None,
        due_at: None,
        error: None,
        instance: None,
    };
    patch(&mut row, change);
    rows.insert(0, row);
    rows.truncate(PER_PAGE as usize);
    true
}

/// Applies what `change` says to a row.
pub fn patch(row: &mut JobRow, change: &JobChange) {
    if let Some(state) = change.state {
        row.state = state;
        if state == QueueState::Completed {
            row.progress = 100;
        }
    }
    if let Some(progress) = change.progress {
        row.progress = progress.min(100);
    }
    if let Some(message) = &change.message {
        row.message = message.clone();
    }
    if let Some(attempt) = change.attempt {
        row.attempts = row.attempts.max(attempt);
    }
    if change.error.is_some() {
        row.error = change.error.clone();
    }
    if change.instance.is_some() {
        row.instance = change.instance.clone();
    }
    if change.kind == "removed" {
        row.message = "removed".into();
    }
}

/// Counts a finished job in the chart's newest minute, so throughput moves
/// without a read.
pub fn count_finish(overview: &mut Overview, failed: bool, now_ms: u64) {
    let minute = now_ms / 60_000 * 60_000;
    let last = overview.minutes.last().map(|m| m.minute_ms);
    if last.is_none_or(|last| last < minute) {
        overview.minutes.push(MinuteCount {
            minute_ms: minute,
            completed: 0,
            failed: 0,
        });
        if overview.minutes.len() > 60 {
            overview.minutes.remove(0);
        }
    }
    if let Some(bar) = overview.minutes.last_mut() {
        if failed {
            bar.failed += 1;
        } else {
            bar.completed += 1;
        }
    }
}

pub fn now_ms() -> u64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as u64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::types::StateCounts;

    fn change(id: &str, kind: &str, state: Option<QueueState>) -> JobChange {
        JobChange {
            id: id.into(),
            kind: kind.into(),
            state,
            progress: None,
            message: None,
            attempt: None,
            error: None,
            instance: None,
        }
    }

    #[test]
    fn a_job_entering_the_shown_state_appears_at_the_top() {
        let mut rows = Vec::new();
        assert!(apply_change(
            &mut rows,
            &change("a", "added", Some(QueueState::Waiting)),
            QueueState::Waiting,
            true,
            ""
        ));
        assert!(!apply_change(
            &mut rows,
            &change("b", "added", Some(QueueState::Waiting)),
            QueueState::Waiting,
            false,
            ""
        ));
        assert!(!apply_change(
            &mut rows,
            &change("c", "added", Some(QueueState::Waiting)),
            QueueState::Waiting,
            true,
            "zzz"
        ));
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn progress_moves_the_bar_of_a_shown_row() {
        let mut rows = Vec::new();
        apply_change(
            &mut rows,
            &change("a", "active", Some(QueueState::Active)),
            QueueState::Active,
            true,
            "",
        );
        let mut progress = change("a", "progress", None);
        progress.progress = Some(40);
        progress.message = Some("Model writing".into());
        assert!(!apply_change(
            &mut rows,
            &progress,
            QueueState::Active,
            true,
            ""
        ));
        assert_eq!(
            (rows[0].progress, rows[0].message.as_str()),
            (40, "Model writing")
        );
    }

    #[test]
    fn finished_jobs_count_in_the_current_minute() {
        let mut overview = Overview {
            counts: StateCounts::default(),
            minutes: vec![MinuteCount {
                minute_ms: 60_000,
                completed: 1,
                failed: 0,
            }],
            avg_ms: None,
            p95_ms: None,
            failure_rate: None,
            commands_today: 0,
            command_budget: 10_000,
            projected_today: 0,
            tokens_today: 0,
            reports_today: 0,
        };
        count_finish(&mut overview, false, 90_000);
        count_finish(&mut overview, true, 130_000);
        assert_eq!(overview.minutes[0].completed, 2);
        assert_eq!(
            (overview.minutes[1].minute_ms, overview.minutes[1].failed),
            (120_000, 1)
        );
    }
}
