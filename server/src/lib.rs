//! The server of the tutoring platform: one binary that serves the pages,
//! the server functions and the API, over one Redis shared by every instance.
//!
//! - [`config`]: the typed configuration, read once at start-up.
//! - [`redis_client`]: the Redis URL, the shared connection, command counts.
//! - [`http`]: the router, request spans, health checks and `/metrics`.
//! - [`metrics`]: the Prometheus text format and a histogram to record into.
//! - [`admin`]: the queue dashboard's access rule, backend and live feed.
//! - [`chat`]: tutoring sessions, the `/ws` endpoint and the Redis adapter
//!   that carries the chat across instances.
//! - [`queue`]: the Redis job queue: jobs, workers, events, admin operations.
//! - [`reports`]: session reports, written by a queue handler from the
//!   chat's transcript with a language model.
//! - [`bucket`]: the token bucket that rate limits are made of; [`clock`]:
//!   the wall clock in milliseconds.
//! - [`startup`]: wiring and the serve loop; [`shutdown`]: the signal.
//! - [`testkit`]: real Redis servers for tests and benchmarks.

// The pages' views are nested generic types, and laying out the futures that
// render and hydrate them goes deeper than the compiler's default of 128;
// without this a clean build fails where an incremental one may not.
#![recursion_limit = "256"]

pub mod admin;
pub mod bucket;
pub mod chat;
pub mod clock;
pub mod config;
pub mod http;
pub mod metrics;
pub mod queue;
pub mod redis_client;
pub mod reports;
pub mod shutdown;
pub mod startup;
pub mod system_check;
pub mod telemetry;
pub mod testkit;
