//! Counters of the chat for operators: open sockets, messages in and out,
//! connection errors and delivery lag. Plain atomics, read by whoever
//! exports metrics; the chat only counts.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The chat's counters, shared by every socket and room of the instance.
#[derive(Debug, Default)]
pub struct ChatMetrics {
    /// Sockets open now (joined or not).
    open_sockets: AtomicI64,
    /// Messages clients of this instance posted (stored, not duplicates).
    messages_in: AtomicU64,
    /// Message frames written to sockets of this instance.
    messages_out: AtomicU64,
    /// Sockets that ended on an error rather than a close.
    connection_errors: AtomicU64,
    /// Sum and count of delivery lags, from storing a message to this
    /// instance's room receiving it, in milliseconds.
    lag_ms_sum: AtomicU64,
    lag_count: AtomicU64,
    lag_ms_max: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub open_sockets: i64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub connection_errors: u64,
    pub lag_ms_sum: u64,
    pub lag_count: u64,
    pub lag_ms_max: u64,
}

impl ChatMetrics {
    pub fn socket_opened(&self) {
        self.open_sockets.fetch_add(1, Ordering::Relaxed);
    }

    pub fn socket_closed(&self) {
        self.open_sockets.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn message_in(&self) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
    }

    pub fn messages_out(&self, n: u64) {
        self.messages_out.fetch_add(n, Ordering::Relaxed);
    }

    pub fn connection_error(&self) {
        self.connection_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_lag(&self, ms: u64) {
        self.lag_ms_sum.fetch_add(ms, Ordering::Relaxed);
        self.lag_count.fetch_add(1, Ordering::Relaxed);
        self.lag_ms_max.fetch_max(ms, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            open_sockets: self.open_sockets.load(Ordering::Relaxed),
            messages_in: self.messages_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            connection_errors: self.connection_errors.load(Ordering::Relaxed),
            lag_ms_sum: self.lag_ms_sum.load(Ordering::Relaxed),
            lag_count: self.lag_count.load(Ordering::Relaxed),
            lag_ms_max: self.lag_ms_max.load(Ordering::Relaxed),
        }
    }
}
