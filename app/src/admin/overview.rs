//! The dashboard's figures: throughput, processing times, failure rate,
//! backlog, the queue's Redis commands against the daily budget, and the
//! model tokens spent today.

use leptos::prelude::*;

use super::{board::Board, chart::ThroughputChart, duration, grouped};
use crate::words::plural;

#[component]
pub fn OverviewView() -> impl IntoView {
    let board = expect_context::<Board>();
    let backlog = move || board.counts.get().backlog();
    move || {
        let Some(o) = board.overview.get() else {
            return view! { <section class="card figures"><p class="muted">"Loading figures\u{2026}"</p></section> }.into_any();
        };
        let finished: u64 = o.minutes.iter().map(|m| m.completed + m.failed).sum();
        let rate = o
            .failure_rate
            .map(|r| format!("{:.1} %", r * 100.0))
            .unwrap_or_else(|| "\u{2014}".into());
        let budget_pct = if o.command_budget == 0 {
            0.0
        } else {
            o.commands_today as f64 * 100.0 / o.command_budget as f64
        };
        let over = o.projected_today > o.command_budget;
        let projection = format!(
            "{} projected for the day{}",
            grouped(o.projected_today),
            if over {
                ", over budget"
            } else {
                ", within budget"
            }
        );
        view! {
            <section class="card figures" aria-labelledby="figures-title">
                <h2 id="figures-title">"Last hour"</h2>
                <ThroughputChart minutes=o.minutes.clone()/>
                <dl class="stats">
                    <div><dt>"Finished"</dt><dd data-testid="finished-hour">{format!("{} job{} ({:.1}/min)", grouped(finished), plural(finished), finished as f64 / 60.0)}</dd></div>
                    <div><dt>"Average time"</dt><dd data-testid="avg-time">{duration(o.avg_ms)}</dd></div>
                    <div><dt>"p95 time"</dt><dd data-testid="p95-time">{duration(o.p95_ms)}</dd></div>
                    <div><dt>"Failure rate"</dt><dd data-testid="failure-rate">{rate}</dd></div>
                    <div><dt>"Backlog"</dt><dd data-testid="backlog">{move || grouped(backlog())}</dd></div>
                    <div><dt>"Model tokens today"</dt><dd data-testid="tokens-today">{format!("{} ({} report{})", grouped(o.tokens_today), grouped(o.reports_today), plural(o.reports_today))}</dd></div>
                </dl>
                <div class="budget" data-testid="command-budget" class:over=over>
                    <p>
                        <strong>"Redis commands today: "</strong>
                        <span data-testid="commands-today">{grouped(o.commands_today)}</span>
                        {format!(" of {} a day", grouped(o.command_budget))}
                    </p>
                    <div class="meter"><span style:width=format!("{:.1}%", budget_pct.min(100.0))></span></div>
                    <p class="muted" data-testid="commands-projection">{projection}</p>
                </div>
            </section>
        }
        .into_any()
    }
}
