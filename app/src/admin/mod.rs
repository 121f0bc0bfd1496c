//! The queue dashboard at `/admin/queues`: what the report queue is doing,
//! what it costs, and the buttons to steer it.
//!
//! - [`types`]: what the page and the server exchange.
//! - `page`: access (the development banner, the sign-in form) around the
//!   dashboard; `board`: the dashboard's shared state, its loads, actions and
//!   live updates; `overview`, `chart`, `jobs`, `detail`: what it shows.
//!
//! The page reads through the server functions in [`crate::api::admin`] and
//! keeps itself current through one push stream; it never polls.

mod board;
mod chart;
mod detail;
mod jobs;
mod live;
mod overview;
mod page;
pub mod types;

pub use page::QueueDashboardPage;

/// `HH:MM:SS` in UTC of a time in ms since the epoch, or a dash for none.
pub(crate) fn clock(ms: Option<u64>) -> String {
    match ms.filter(|ms| *ms > 0) {
        Some(ms) => {
            let secs = (ms / 1000) % 86_400;
            format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
        }
        None => "\u{2014}".into(),
    }
}

/// A duration in ms as people read it: "840 ms", "3.2 s", "4.5 min".
pub(crate) fn duration(ms: Option<f64>) -> String {
    match ms {
        None => "\u{2014}".into(),
        Some(ms) if ms < 1000.0 => format!("{ms:.0} ms"),
        Some(ms) if ms < 60_000.0 => format!("{:.1} s", ms / 1000.0),
        Some(ms) => format!("{:.1} min", ms / 60_000.0),
    }
}

/// A whole number with thin groups: 12 345.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_shows_utc_time_of_day() {
        assert_eq!(clock(Some(1_700_000_000_000)), "22:13:20");
        assert_eq!(clock(None), "\u{2014}");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(Some(840.0)), "840 ms");
        assert_eq!(duration(Some(3_210.0)), "3.2 s");
        assert_eq!(duration(Some(270_000.0)), "4.5 min");
    }

    #[test]
    fn large_numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(10_000), "10\u{202f}000");
        assert_eq!(grouped(999), "999");
    }
}
