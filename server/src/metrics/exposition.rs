//! The Prometheus text exposition format (version 0.0.4), written by hand: a
//! family is a `# HELP` and a `# TYPE` line followed by its samples, one per
//! line, with label values escaped.
//!
//! It only writes; what the numbers are is the caller's business.

use std::fmt::Write;

use super::HistogramSnapshot;

/// The content type a scraper expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a family's samples mean to Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only grows, except when the process restarts.
    Counter,
    /// Goes up and down.
    Gauge,
    /// `_bucket`, `_sum` and `_count` samples.
    Histogram,
    /// `_sum` and `_count` samples, without quantiles here.
    Summary,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

/// A page of metrics being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// Labels of one sample, as (name, value) pairs.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

impl Exposition {
    /// An empty page.
    pub fn new() -> Self {
        Exposition::default()
    }

    /// Starts a family: its help and type lines. Samples follow through
    /// [`Exposition::sample`], and must all belong to it.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        self
    }

    /// One sample line.
    pub fn sample(&mut self, name: &str, labels: Labels<'_>, value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape_label(value));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(&format_value(value));
        self.out.push('\n');
        self
    }

    /// A family with a single sample and no labels.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// The samples of one histogram: its buckets, `+Inf`, sum and count.
    /// The family line must have been written with [`Kind::Histogram`].
    pub fn histogram(
        &mut self,
        name: &str,
        labels: Labels<'_>,
        snapshot: &HistogramSnapshot,
    ) -> &mut Self {
        let bucket = format!("{name}_bucket");
        for (edge, count) in &snapshot.buckets {
            let le = format_value(*edge);
            let with_le: Vec<(&str, &str)> = labels
                .iter()
                .copied()
                .chain([("le", le.as_str())])
                .collect();
            self.sample(&bucket, &with_le, *count as f64);
        }
        let with_inf: Vec<(&str, &str)> = labels.iter().copied().chain([("le", "+Inf")]).collect();
        self.sample(&bucket, &with_inf, snapshot.count as f64);
        self.sample(&format!("{name}_sum"), labels, snapshot.sum_seconds);
        self.sample(&format!("{name}_count"), labels, snapshot.count as f64)
    }

    /// The page, ready to send.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A backslash, a double quote and a line feed are the three characters a
/// label value must escape.
fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Numbers as Go's `strconv.ParseFloat` reads them; Rust never writes an
/// exponent, and whole numbers come out without a fraction.
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_has_help_and_type_lines_then_its_samples() {
        let mut page = Exposition::new();
        page.family("jobs", Kind::Gauge, "Jobs per state.")
            .sample("jobs", &[("state", "waiting")], 3.0)
            .sample("jobs", &[("state", "active")], 0.5);
        assert_eq!(
            page.finish(),
            "# HELP jobs Jobs per state.\n# TYPE jobs gauge\n\
             jobs{state=\"waiting\"} 3\njobs{state=\"active\"} 0.5\n"
        );
    }

    #[test]
    fn label_values_and_help_text_are_escaped() {
        let mut page = Exposition::new();
        page.family("x", Kind::Counter, "a \\ b\nc")
            .sample("x", &[("q", "say \"hi\"\\\n")], 1.0);
        let text = page.finish();
        assert!(text.contains("# HELP x a \\\\ b\\nc\n"), "{text}");
        assert!(
            text.contains("x{q=\"say \\\"hi\\\"\\\\\\n\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn a_histogram_writes_cumulative_buckets_an_infinite_one_a_sum_and_a_count() {
        let snapshot = HistogramSnapshot {
            buckets: vec![(0.5, 1), (2.0, 3)],
            count: 4,
            sum_seconds: 9.25,
        };
        let mut page = Exposition::new();
        page.family("t_seconds", Kind::Histogram, "Time.")
            .histogram("t_seconds", &[("queue", "q")], &snapshot);
        let text = page.finish();
        for line in [
            "t_seconds_bucket{queue=\"q\",le=\"0.5\"} 1",
            "t_seconds_bucket{queue=\"q\",le=\"2\"} 3",
            "t_seconds_bucket{queue=\"q\",le=\"+Inf\"} 4",
            "t_seconds_sum{queue=\"q\"} 9.25",
            "t_seconds_count{queue=\"q\"} 4",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
