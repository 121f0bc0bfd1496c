//! The server functions the pages call, and the types they exchange. The
//! function bodies run on the server; the browser gets a typed client for each.

mod error;
mod system_check;

#[cfg(feature = "ssr")]
pub use error::with_status;
pub use error::AppError;
pub use system_check::{redis_round_trip, RedisRoundTrip, RoundTrip, MAX_NOTE_CHARS};
