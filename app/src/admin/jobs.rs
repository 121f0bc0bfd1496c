//! The jobs of one state, newest first: tabs with live counts, the
//! session-id filter, the list with progress bars, paging, and the actions
//! that apply to a whole state or to one job.

use leptos::prelude::*;

use super::{
    board::{Board, PER_PAGE},
    clock,
    types::{AdminAction, JobRow, QueueState},
};

#[component]
pub fn JobsView() -> impl IntoView {
    let board = expect_context::<Board>();
    let typed = RwSignal::new(String::new());
    let apply_filter = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        board.page.set(0);
        board.filter.set(typed.get_untracked().trim().to_string());
    };
    let pages = move || board.total.get().div_ceil(u64::from(PER_PAGE)).max(1);
    let on_last_page = move || u64::from(board.page.get()) + 1 >= pages();

    view! {
        <section class="card jobs-pane" aria-labelledby="jobs-title">
            <h2 id="jobs-title">"Jobs"</h2>
            <div class="tabs" role="tablist">
                {QueueState::ALL.into_iter().map(|state| view! {
                    <button role="tab" class="tab" data-testid=format!("tab-{}", state.as_str())
                        aria-selected=move || (board.tab.get() == state).to_string()
                        on:click=move |_| { board.page.set(0); board.tab.set(state); }>
                        {label(state)}
                        " "
                        <span class="count" data-testid=format!("count-{}", state.as_str())>
                            {move || board.counts.get().of(state)}
                        </span>
                    </button>
                }).collect_view()}
            </div>
            <form class="row" on:submit=apply_filter>
                <input aria-label="Filter by session id" placeholder="Session id" data-testid="job-filter"
                    prop:value=move || typed.get() on:input=move |ev| typed.set(event_target_value(&ev))/>
                <button type="submit" class="secondary">"Filter"</button>
            </form>
            <StateActions/>
            <p class="error" role="alert">{move || board.error.get()}</p>
            <ul class="jobs" data-testid="job-list">
                <For each=move || board.rows.get() key=|row| (row.id.clone(), row.state, row.progress, row.message.clone(), row.attempts, row.error.clone()) let:row>
                    <JobItem row/>
                </For>
            </ul>
            <Show when=move || board.rows.get().is_empty()>
                <p class="muted" data-testid="no-jobs">{move || format!("No {} jobs.", board.tab.get().as_str())}</p>
            </Show>
            <div class="row spread pager">
                <button class="secondary" data-testid="newer" disabled=move || board.page.get() == 0
                    on:click=move |_| board.page.update(|p| *p = p.saturating_sub(1))>"Newer"</button>
                <span data-testid="page-label">{move || format!("Page {} of {} ({} jobs)", board.page.get() + 1, pages(), board.total.get())}</span>
                <button class="secondary" data-testid="older" disabled=on_last_page
                    on:click=move |_| board.page.update(|p| *p += 1)>"Older"</button>
            </div>
        </section>
    }
    .into_any()
}

fn label(state: QueueState) -> &'static str {
    match state {
        QueueState::Waiting => "Waiting",
        QueueState::Active => "Active",
        QueueState::Delayed => "Delayed",
        QueueState::Completed => "Completed",
        QueueState::Failed => "Failed",
    }
}

/// Retry all (failed) and clean (completed or failed), for the tab shown.
#[component]
fn StateActions() -> impl IntoView {
    let board = expect_context::<Board>();
    let age = RwSignal::new(0u64);
    move || {
        let state = board.tab.get();
        state.is_finished().then(|| view! {
            <div class="row state-actions">
                {(state == QueueState::Failed).then(|| view! {
                    <button data-testid="retry-all" disabled=move || board.busy.get()
                        on:click=move |_| board.ask(AdminAction::RetryAllFailed)>"Retry all failed"</button>
                })}
                <label for="clean-age">"Clean"</label>
                <select id="clean-age" data-testid="clean-age"
                    on:change=move |ev| age.set(event_target_value(&ev).parse().unwrap_or(0))>
                    <option value="0">"all"</option>
                    <option value="3600">"older than 1 hour"</option>
                    <option value="86400">"older than 1 day"</option>
                </select>
                <button class="danger" data-testid="clean" disabled=move || board.busy.get()
                    on:click=move |_| board.ask(AdminAction::Clean { state, older_than_secs: age.get_untracked() })>
                    {format!("Clean {}", state.as_str())}
                </button>
            </div>
        })
    }
}

#[component]
fn JobItem(row: JobRow) -> impl IntoView {
    let board = expect_context::<Board>();
    let id = row.id.clone();
    let open = {
        let id = id.clone();
        move |_| board.open(id.clone())
    };
    let actions = row.actions();
    view! {
        <li class="job" data-testid="job" data-job=row.id.clone() data-state=row.state.as_str()>
            <div class="row spread">
                <button class="link" on:click=open>{row.id.clone()}</button>
                <span class=format!("badge {}", row.state.as_str())>{row.state.as_str()}</span>
            </div>
            <div class="row">
                <progress max="100" value=row.bar() aria-label=format!("Progress of {}", row.id)></progress>
                <span class="muted" data-testid="job-progress">{row.progress_words()}</span>
            </div>
            <p class="muted small">
                {format!("attempt {}{} · created {} · {}", row.attempts,
                    if row.max_attempts > 0 { format!(" of {}", row.max_attempts) } else { String::new() },
                    clock(Some(row.created_at)),
                    row.instance.clone().map(|i| format!("on {i}")).unwrap_or_default())}
                {row.due_at.map(|due| format!(" · due {}", clock(Some(due))))}
            </p>
            {row.error.clone().map(|e| view! { <p class="error small" data-testid="job-error">{e}</p> })}
            <div class="row">
                {actions.into_iter().map(|(name, action)| {
                    let testid = format!("job-{}", name.to_lowercase());
                    view! {
                        <button class="secondary small" data-testid=testid disabled=move || board.busy.get()
                            on:click=move |_| board.ask(action.clone())>{name}</button>
                    }
                }).collect_view()}
            </div>
        </li>
    }
    .into_any()
}
