//! The server of the tutoring platform: one binary that serves the pages,
//! the server functions and the API, over one Redis shared by every instance.
//!
//! - [`config`]: the typed configuration, read once at start-up.
//! - [`redis_client`]: the Redis URL, the shared connection, command counts.
//! - [`http`]: the router, request spans and health checks.
//! - [`startup`]: wiring and the serve loop; [`shutdown`]: the signal.
//! - [`testkit`]: real Redis servers for tests and benchmarks.

pub mod config;
pub mod http;
pub mod redis_client;
pub mod shutdown;
pub mod startup;
pub mod system_check;
pub mod telemetry;
pub mod testkit;
