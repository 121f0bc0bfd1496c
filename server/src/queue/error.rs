//! The one error type at the queue's boundary.
//!
//! Callers (the HTTP API, server functions, the report handler) match on it to
//! pick a status code; [`QueueError::public_message`] is the text safe to show
//! a client, while `Display` carries the detail for the log.

use super::JobState;

/// Why a queue operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis could not be reached or refused the command; the operation may
    /// be tried again.
    #[error("Redis is unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    /// No job has this id (never enqueued, removed, or trimmed by retention).
    #[error("no job with id {0:?}")]
    NotFound(String),
    /// The job exists but is not in a state the operation applies to.
    #[error("job {id:?} is {state}, but this needs a {expected} job")]
    WrongState {
        id: String,
        state: JobState,
        expected: &'static str,
    },
    /// A caller-given job id that the queue cannot store.
    #[error("invalid job id: {0}")]
    InvalidId(&'static str),
    /// A tunable out of range; names the field.
    #[error("invalid queue options: {0}")]
    InvalidOptions(String),
    /// The payload or the result could not be encoded as JSON.
    #[error("cannot encode as JSON: {0}")]
    Encode(#[from] serde_json::Error),
    /// The job's lease ran out and another attempt owns the job now; what this
    /// worker reports is no longer recorded.
    #[error("the lease on job {0:?} was lost; another attempt owns it now")]
    LeaseLost(String),
    /// A script answered in a shape this version does not expect (a queue of
    /// another version shares the keys, or the data was edited by hand).
    #[error("unexpected reply from a queue script: {0}")]
    Reply(String),
}

impl QueueError {
    /// Whether trying again later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, QueueError::Redis(_))
    }

    /// A message for clients: specific for their own mistakes, generic for
    /// the server's, which belong in the log.
    pub fn public_message(&self) -> String {
        match self {
            QueueError::Redis(_) => {
                "The job queue is unavailable right now; try again shortly.".into()
            }
            QueueError::NotFound(_) | QueueError::WrongState { .. } | QueueError::InvalidId(_) => {
                self.to_string()
            }
            QueueError::LeaseLost(_) => "The job was taken over by another attempt.".into(),
            QueueError::InvalidOptions(_) | QueueError::Encode(_) | QueueError::Reply(_) => {
                "The job queue failed to handle the request.".into()
            }
        }
    }
}
