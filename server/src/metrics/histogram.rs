//! A histogram of durations with fixed bucket edges, counted with atomics so
//! a hot path records without a lock.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// Counts durations into buckets whose edges are fixed at construction.
///
/// The edges are fixed because a Prometheus histogram's buckets must not
/// change between scrapes; rates over a bucket would be meaningless
/// otherwise.
#[derive(Debug)]
pub struct Histogram {
    /// Upper edges in seconds, ascending; an observation lands in the first
    /// bucket whose edge is at least its value, or in the overflow.
    edges: &'static [f64],
    /// One count per edge, plus the overflow (`+Inf`) last. Each counts its
    /// own bucket only; the exposition makes them cumulative.
    counts: Vec<AtomicU64>,
    /// The sum of every observation, in microseconds, so it stays whole.
    sum_micros: AtomicU64,
}

/// A histogram as read at one moment, with cumulative counts.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// (upper edge in seconds, observations at or below it), ascending.
    pub buckets: Vec<(f64, u64)>,
    /// Every observation, the `+Inf` bucket.
    pub count: u64,
    /// The sum of every observation, in seconds.
    pub sum_seconds: f64,
}

impl Histogram {
    /// A histogram with `edges` (seconds, ascending) as its bucket edges.
    pub fn new(edges: &'static [f64]) -> Self {
        debug_assert!(edges.windows(2).all(|w| w[0] < w[1]));
        Histogram {
            edges,
            counts: (0..=edges.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Counts one observation.
    pub fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        let bucket = self
            .edges
            .iter()
            .position(|edge| seconds <= *edge)
            .unwrap_or(self.edges.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counts now, cumulative as Prometheus wants them. Observations
    /// made while reading may show in a later bucket but not an earlier
    /// one; the next scrape sees them all.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let mut buckets = Vec::with_capacity(self.edges.len());
        for (edge, count) in self.edges.iter().zip(&self.counts) {
            running += count.load(Ordering::Relaxed);
            buckets.push((*edge, running));
        }
        let overflow = self.counts[self.edges.len()].load(Ordering::Relaxed);
        HistogramSnapshot {
            buckets,
            count: running + overflow,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them_and_counts_are_cumulative() {
        let histogram = Histogram::new(&[0.1, 1.0, 10.0]);
        histogram.observe(Duration::from_millis(50));
        histogram.observe(Duration::from_millis(100));
        histogram.observe(Duration::from_millis(700));
        histogram.observe(Duration::from_secs(60));

        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.buckets, vec![(0.1, 2), (1.0, 3), (10.0, 3)]);
        assert_eq!(snapshot.count, 4);
        assert!((snapshot.sum_seconds - 60.85).abs() < 1e-9);
    }
}
