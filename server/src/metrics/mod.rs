//! The process's metrics plumbing: a histogram the engines record into and
//! the Prometheus text format that `/metrics` is written in.
//!
//! It owns no numbers of its own. The engines keep their counters (the
//! queue's worker, the chat, the Redis command counters) and the HTTP
//! handler in `http::metrics` reads them and writes the page.

mod exposition;
mod histogram;

pub use exposition::{Exposition, Kind, Labels, CONTENT_TYPE};
pub use histogram::{Histogram, HistogramSnapshot};
