//! The round trip that proves the whole chain works: a button in the hydrated
//! page calls a server function, which writes a value to Redis and reads it
//! back.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::AppError;

/// The longest note the system check accepts, in characters.
pub const MAX_NOTE_CHARS: usize = 200;

/// What Redis gave back after the write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundTrip {
    /// The value read back from Redis.
    pub value: String,
    /// How many round trips Redis has counted, across every instance.
    pub count: u64,
    /// The instance that served the call.
    pub instance: String,
}

/// Writes `note` to Redis and reads it back.
#[server]
pub async fn redis_round_trip(note: String) -> Result<RoundTrip, AppError> {
    super::with_status(round_trip(note).await)
}

#[cfg(feature = "ssr")]
async fn round_trip(note: String) -> Result<RoundTrip, AppError> {
    let note = note.trim();
    if note.is_empty() {
        return Err(AppError::BadRequest("Write a note to store first.".into()));
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(AppError::BadRequest(format!(
            "A note holds at most {MAX_NOTE_CHARS} characters."
        )));
    }
    let backend = crate::backend::get::<dyn crate::backend::SystemCheck>()?;
    backend.round_trip(note).await
}
