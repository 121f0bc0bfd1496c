//! One job in full: payload, options, attempts with what each ended in,
//! progress, the timeline, and the result.

use leptos::prelude::*;

use super::{
    board::Board,
    clock,
    types::{JobDetail, Step},
};

#[component]
pub fn JobDetailView() -> impl IntoView {
    let board = expect_context::<Board>();
    move || {
        board.selected.get()?;
        Some(match board.detail.get() {
            None => view! { <section class="card detail-pane"><p class="muted">"Loading the job\u{2026}"</p></section> }.into_any(),
            Some(detail) => view! { <Detail detail/> }.into_any(),
        })
    }
}

#[component]
fn Detail(detail: JobDetail) -> impl IntoView {
    let board = expect_context::<Board>();
    let row = detail.row.clone();
    let attempts = attempts_of(&detail);
    let actions = row.actions();
    view! {
        <section class="card detail-pane" data-testid="job-detail" data-state=row.state.as_str() aria-labelledby="detail-title">
            <div class="row spread">
                <h2 id="detail-title" class="wrap">{format!("Job {}", row.id)}</h2>
                <button class="secondary" data-testid="close-detail" on:click=move |_| board.selected.set(None)>"Close"</button>
            </div>
            <p>
                <span class=format!("badge {}", row.state.as_str()) data-testid="detail-state">{row.state.as_str()}</span>
                {format!(" attempt {} of {} · {} failed · {} stalled (at most {})", row.attempts, row.max_attempts, detail.failures, detail.stalls, detail.max_stalls)}
            </p>
            <div class="row">
                <progress max="100" value=row.bar() aria-label="Job progress"></progress>
                <span data-testid="detail-progress">{row.progress_words()}</span>
            </div>
            <dl class="facts">
                <div><dt>"Created"</dt><dd>{clock(Some(row.created_at))}</dd></div>
                <div><dt>"Started"</dt><dd>{clock(row.started_at)}</dd></div>
                <div><dt>"Finished"</dt><dd>{clock(row.finished_at)}</dd></div>
                <div><dt>"Ran on"</dt><dd data-testid="detail-instance">{row.instance.clone().unwrap_or_else(|| "\u{2014}".into())}</dd></div>
                <div><dt>"Options"</dt><dd>{format!("{} attempts, backoff {} ms doubling", row.max_attempts, detail.backoff_ms)}</dd></div>
                {row.due_at.map(|d| view! { <div><dt>"Due"</dt><dd>{clock(Some(d))}</dd></div> })}
            </dl>
            {row.error.clone().map(|e| view! { <p class="error" data-testid="detail-error">{e}</p> })}
            <div class="row">
                {actions.into_iter().map(|(name, action)| view! {
                    <button class="secondary" data-testid=format!("detail-{}", name.to_lowercase())
                        disabled=move || board.busy.get() on:click=move |_| board.ask(action.clone())>{name}</button>
                }).collect_view()}
            </div>
            <h3>"Attempts"</h3>
            <ol class="attempts" data-testid="detail-attempts">
                {attempts.into_iter().map(|(n, started, instance, end)| view! {
                    <li>{format!("#{n} started {} on {}: {end}", clock(started), instance.unwrap_or_else(|| "?".into()))}</li>
                }).collect_view()}
            </ol>
            <h3>"Timeline"</h3>
            <ol class="timeline" data-testid="detail-timeline">
                {detail.timeline.iter().map(|s| view! { <li>{step_text(s)}</li> }).collect_view()}
            </ol>
            <h3>"Payload"</h3>
            <pre data-testid="detail-payload">{detail.payload.clone()}</pre>
            <h3>"Result"</h3>
            <pre data-testid="detail-result">{detail.result.clone().unwrap_or_else(|| "none yet".into())}</pre>
        </section>
    }
    .into_any()
}

fn step_text(step: &Step) -> String {
    let mut text = format!("{} {}", clock(Some(step.at)), step.kind.replace('_', " "));
    if let Some(n) = step.attempt {
        text.push_str(&format!(" (attempt {n})"));
    }
    if let Some(instance) = &step.instance {
        text.push_str(&format!(" on {instance}"));
    }
    if let Some(error) = &step.error {
        text.push_str(&format!(": {error}"));
    }
    text
}

/// Each attempt: its number, start, instance and how it ended, from the
/// timeline (the result belongs to the attempt that completed).
pub fn attempts_of(detail: &JobDetail) -> Vec<(u32, Option<u64>, Option<String>, String)> {
    let mut out: Vec<(u32, Option<u64>, Option<String>, String)> = Vec::new();
    for step in &detail.timeline {
        let Some(n) = step.attempt else { continue };
        let end = match step.kind.as_str() {
            "started" => {
                out.push((n, Some(step.at), step.instance.clone(), "running".into()));
                continue;
            }
            "failed" => format!("failed: {}", step.error.clone().unwrap_or_default()),
            "stalled" => "lost its lease".into(),
            "handed_back" => "handed back at shutdown".into(),
            "completed" => format!(
                "completed with {}",
                detail.result.clone().unwrap_or_else(|| "no result".into())
            ),
            _ => continue,
        };
        match out.iter_mut().rev().find(|a| a.0 == n) {
            Some(attempt) => attempt.3 = end,
            None => out.push((n, None, step.instance.clone(), end)),
        }
    }
    out
}
