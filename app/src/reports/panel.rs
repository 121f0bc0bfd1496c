//! The session page's report panel: a button to ask for a report, a progress
//! bar that moves as the job reports its steps (pushed from the server, never
//! polled), and the report in sections once it is written.

use leptos::prelude::*;

use super::{Report, ReportStatus};
use crate::api::{lines, load_report, ReportView};
use crate::words::counted;

/// The panel for one session, as the holder of `token` sees it.
#[component]
pub fn ReportPanel(session: String, token: String) -> impl IntoView {
    let status = RwSignal::new(None::<ReportStatus>);
    let report = RwSignal::new(None::<Report>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    let initial = {
        let (s, t) = (session.clone(), token.clone());
        Resource::new(|| (), move |_| load_report(s.clone(), t.clone()))
    };
    let (s, t) = (session.clone(), token.clone());
    Effect::new(move |_| {
        if let Some(Ok(view)) = initial.get() {
            show(view, status, report);
            if status.get_untracked().is_some_and(|st| !st.is_finished()) {
                follow(s.clone(), t.clone(), status, report, error);
            }
        }
    });

    let ask = move |regenerate: bool| {
        let (s, t) = (session.clone(), token.clone());
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match crate::api::request_report(s.clone(), t.clone(), regenerate).await {
                Ok(view) => {
                    let running = view.status.as_ref().is_some_and(|st| !st.is_finished());
                    show(view, status, report);
                    if running {
                        follow(s, t, status, report, error);
                    }
                }
                Err(err) => error.set(Some(err.to_string())),
            }
            busy.set(false);
        });
    };
    let running = move || status.get().is_some_and(|s| !s.is_finished());
    let ask_new = ask.clone();

    view! {
        <section id="report-panel" class="card" aria-labelledby="report-title">
            <div class="row spread">
                <h2 id="report-title">"Session report"</h2>
                <Show
                    when=move || report.get().is_some()
                    fallback=move || {
                        let ask = ask.clone();
                        view! {
                            <button data-testid="generate-report" disabled=move || busy.get() || running() on:click=move |_| ask(false)>
                                "Generate report"
                            </button>
                        }
                    }
                >
                    {
                        let ask = ask_new.clone();
                        view! {
                            <button class="secondary" data-testid="regenerate-report" disabled=move || busy.get() || running() on:click=move |_| ask(true)>
                                "Write a new report"
                            </button>
                        }
                    }
                </Show>
            </div>
            <p class="error" role="alert" data-testid="report-error">{move || error.get()}</p>
            {move || status.get().filter(|s| !s.is_finished() || s.status == "failed").map(|s| view! { <Progress status=s/> })}
            {move || report.get().map(|r| view! { <ReportView report=r/> })}
        </section>
    }
    // Erased, so the session page's view type stays shallow enough for the
    // compiler.
    .into_any()
}

fn show(
    view: ReportView,
    status: RwSignal<Option<ReportStatus>>,
    report: RwSignal<Option<Report>>,
) {
    status.set(view.status);
    if view.report.is_some() {
        report.set(view.report);
    }
}

/// Follows the job until it ends, then loads the finished report.
fn follow(
    session: String,
    token: String,
    status: RwSignal<Option<ReportStatus>>,
    report: RwSignal<Option<Report>>,
    error: RwSignal<Option<String>>,
) {
    leptos::task::spawn_local(async move {
        use futures::StreamExt;

        let updates = match crate::api::follow_report(session.clone(), token.clone()).await {
            Ok(updates) => updates,
            Err(err) => return error.set(Some(err.to_string())),
        };
        let mut updates = updates.into_inner();
        let mut pending = String::new();
        while let Some(chunk) = updates.next().await {
            let text = match chunk {
                Ok(text) => text,
                Err(err) => return error.set(Some(err.to_string())),
            };
            for update in lines::take::<ReportStatus>(&mut pending, &text) {
                status.set(Some(update));
            }
        }
        if status
            .get_untracked()
            .is_some_and(|s| s.status == "completed")
        {
            match load_report(session, token).await {
                Ok(view) => show(view, status, report),
                Err(err) => error.set(Some(err.to_string())),
            }
        }
    });
}

#[component]
fn Progress(status: ReportStatus) -> impl IntoView {
    let failed = status.status == "failed";
    let label = if failed {
        format!(
            "The report could not be written after {}: {}",
            crate::words::counted(u64::from(status.attempts), "attempt"),
            status.reason.clone().unwrap_or_default()
        )
    } else {
        format!("{} ({}%)", status.step, status.progress)
    };
    view! {
        <div class="progress" data-testid="report-progress" data-status=status.status.clone()>
            <progress max="100" value=status.progress aria-label="Report progress"></progress>
            <p data-testid="report-step" class:error=failed>{label}</p>
        </div>
    }
}

#[component]
fn ReportView(report: Report) -> impl IntoView {
    let a = report.analytics.clone();
    let n = report.narrative.clone();
    let written_by = match &report.model {
        Some(model) => format!("Written by {model}"),
        None => "Written without a language model, from the session's figures".to_string(),
    };
    let minutes = a.duration_secs.div_ceil(60);
    let secs = |v: Option<f64>| {
        v.map(|s| format!("{s:.0} s"))
            .unwrap_or_else(|| "no answers".into())
    };
    let partial = (a.earlier_not_kept > 0).then(|| {
        let kept = counted(u64::from(a.messages), "message");
        let dropped = a.earlier_not_kept;
        let were = if dropped == 1 { "one is" } else { "ones are" };
        view! {
            <p class="muted" data-testid="report-partial">
                {format!("Written from the latest {kept}: {dropped} earlier {were} no longer stored.")}
            </p>
        }
    });
    let list = |items: Vec<String>| view! { <ul>{items.into_iter().map(|i| view! { <li>{i}</li> }).collect_view()}</ul> };

    view! {
        <article class="report" data-testid="report">
            <p class="muted" data-testid="report-origin">{written_by} " · version " {report.version}</p>
            {partial}
            <section class="summary">
                <h3>"Summary"</h3>
                <p data-testid="report-summary">{n.summary}</p>
            </section>
            <div class="narrative">
                <section class="went-well"><h3>"What went well"</h3>{list(n.went_well)}</section>
                <section class="work-on"><h3>"What to work on"</h3>{list(n.to_work_on)}</section>
                <section class="next"><h3>"Suggested next steps"</h3>{list(n.next_steps)}</section>
            </div>
            <h3>"Figures"</h3>
            <dl class="stats">
                <div><dt>"Messages"</dt><dd>{a.messages}</dd></div>
                <div><dt>"Length"</dt><dd>{format!("about {minutes} min")}</dd></div>
                <div><dt>"Questions"</dt><dd>{format!("tutor {}, students {}", a.tutor_questions, a.student_questions)}</dd></div>
                <div><dt>"Median answer time"</dt><dd>{format!("tutor {}, students {}", secs(a.tutor_response_median_secs), secs(a.student_response_median_secs))}</dd></div>
            </dl>
            <div class="table-scroll">
            <table data-testid="report-participants">
                <thead><tr><th>"Participant"</th><th>"Role"</th><th>"Messages"</th><th>"Words"</th><th>"Share"</th><th>"Questions"</th></tr></thead>
                <tbody>
                    {a.participants.into_iter().map(|p| view! {
                        <tr>
                            <td>{p.name}</td>
                            <td>{p.role.as_str()}</td>
                            <td>{p.messages}</td>
                            <td>{p.words}</td>
                            <td>
                                <span class="share"><span class="bar" style:width=format!("{}%", p.talk_share_pct)></span></span>
                                {format!("{:.0}%", p.talk_share_pct)}
                            </td>
                            <td>{p.questions}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            </div>
        </article>
    }
}
