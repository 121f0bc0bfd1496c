//! Throughput over the last hour as an SVG bar chart drawn here: one bar per
//! minute, completed jobs stacked under failed ones. No script library: the
//! chart is plain markup, so it renders on the server as well.

use leptos::prelude::*;

use super::types::MinuteCount;

/// The drawing's own units; the SVG scales to its box.
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 140.0;
/// Room on the left for the scale's labels.
const LEFT: f64 = 28.0;
const BOTTOM: f64 = 16.0;

/// Where a bar goes: x, the heights of its completed and failed parts.
#[derive(Debug, PartialEq)]
pub struct Bar {
    pub x: f64,
    pub completed: f64,
    pub failed: f64,
}

/// The bars of `minutes` (oldest first) and the count at the top of the
/// scale. The scale never goes below 1, so an idle hour draws flat bars.
pub fn layout(minutes: &[MinuteCount]) -> (Vec<Bar>, u64, f64) {
    let top = minutes
        .iter()
        .map(|m| m.completed + m.failed)
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = (WIDTH - LEFT) / 60.0;
    let plot = HEIGHT - BOTTOM;
    // The newest minute sits at the right edge, whatever the count.
    let skip = 60usize.saturating_sub(minutes.len());
    let bars = minutes
        .iter()
        .rev()
        .take(60)
        .rev()
        .enumerate()
        .map(|(i, m)| Bar {
            x: LEFT + (i + skip) as f64 * slot,
            completed: plot * m.completed as f64 / top as f64,
            failed: plot * m.failed as f64 / top as f64,
        })
        .collect();
    (bars, top, slot)
}

#[component]
pub fn ThroughputChart(minutes: Vec<MinuteCount>) -> impl IntoView {
    let (bars, top, slot) = layout(&minutes);
    let total: u64 = minutes.iter().map(|m| m.completed + m.failed).sum();
    let plot = HEIGHT - BOTTOM;
    let label = format!(
        "Jobs finished per minute over the last hour: {total} in all, at most {top} in one minute"
    );
    let bars = bars
        .into_iter()
        .zip(minutes.iter().rev().take(60).rev())
        .map(|(bar, m)| {
            let tip = format!(
                "{}: {} completed, {} failed",
                super::clock(Some(m.minute_ms)),
                m.completed,
                m.failed
            );
            let width = (slot - 2.0).max(1.0);
            view! {
                <g>
                    <title>{tip}</title>
                    <rect class="bar-ok" x=bar.x y=plot - bar.completed width=width height=bar.completed></rect>
                    <rect class="bar-bad" x=bar.x y=plot - bar.completed - bar.failed width=width height=bar.failed></rect>
                </g>
            }
        })
        .collect_view();
    view! {
        <svg class="chart" data-testid="throughput-chart" role="img" aria-label=label.clone()
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")>
            <text x="0" y="10" class="axis">{top}</text>
            <text x="0" y=plot class="axis">"0"</text>
            <line x1=LEFT y1=plot x2=WIDTH y2=plot class="axis-line"></line>
            {bars}
            <text x=LEFT y=HEIGHT - 2.0 class="axis">"\u{2212}60 min"</text>
            <text x=WIDTH - 30.0 y=HEIGHT - 2.0 class="axis">"now"</text>
        </svg>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(i: u64, completed: u64, failed: u64) -> MinuteCount {
        MinuteCount {
            minute_ms: i * 60_000,
            completed,
            failed,
        }
    }

    #[test]
    fn the_busiest_minute_fills_the_plot() {
        let minutes: Vec<_> = (0..60)
            .map(|i| minute(i, if i == 10 { 4 } else { 1 }, 0))
            .collect();
        let (bars, top, _) = layout(&minutes);
        assert_eq!((bars.len(), top), (60, 4));
        assert!((bars[10].completed - (HEIGHT - BOTTOM)).abs() < 1e-9);
        assert!((bars[0].completed - (HEIGHT - BOTTOM) / 4.0).abs() < 1e-9);
    }

    #[test]
    fn an_idle_hour_draws_flat_bars_without_dividing_by_zero() {
        let (bars, top, _) = layout(&[minute(0, 0, 0)]);
        assert_eq!(top, 1);
        assert_eq!(bars[0].completed, 0.0);
        // A short history is drawn against the right edge.
        assert!(bars[0].x > WIDTH / 2.0);
    }
}
