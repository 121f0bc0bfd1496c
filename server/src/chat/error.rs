//! The one error type of the chat boundary. Its messages are safe to show to
//! anyone; the detail of a Redis failure goes to the log when it is made.

use app::{api::AppError, chat::protocol::ErrorCode};

/// Why the chat refused or could not do something.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("This link is not valid for this session.")]
    Unauthorized,
    #[error("Only the tutor may do this.")]
    Forbidden,
    #[error("There is no such session.")]
    NotFound,
    #[error("This session has ended.")]
    Ended,
    #[error("{0}")]
    BadInput(String),
    #[error("A message holds at most {0} bytes.")]
    TooLarge(usize),
    #[error("Slow down: at most {0} messages per second.")]
    RateLimited(u32),
    #[error("This session already has {0} connections open.")]
    SessionFull(usize),
    #[error("You already have {0} connections open in this session; close one first.")]
    TooManyConnections(usize),
    #[error("The chat is unavailable right now; try again shortly.")]
    Unavailable,
}

impl ChatError {
    /// The protocol's code for it.
    pub fn code(&self) -> ErrorCode {
        match self {
            ChatError::Unauthorized => ErrorCode::Unauthorized,
            ChatError::Forbidden => ErrorCode::Forbidden,
            ChatError::NotFound => ErrorCode::NotFound,
            ChatError::Ended => ErrorCode::SessionEnded,
            ChatError::BadInput(_) => ErrorCode::BadFrame,
            ChatError::TooLarge(_) => ErrorCode::TooLarge,
            ChatError::RateLimited(_) => ErrorCode::RateLimited,
            ChatError::SessionFull(_) | ChatError::TooManyConnections(_) => ErrorCode::SessionFull,
            ChatError::Unavailable => ErrorCode::Unavailable,
        }
    }
}

impl From<redis::RedisError> for ChatError {
    fn from(err: redis::RedisError) -> Self {
        tracing::warn!(cause = %err, "chat could not reach Redis");
        ChatError::Unavailable
    }
}

impl From<ChatError> for AppError {
    fn from(err: ChatError) -> Self {
        let message = err.to_string();
        match err {
            ChatError::Unauthorized | ChatError::Forbidden => AppError::Forbidden(message),
            ChatError::NotFound => AppError::NotFound(message),
            ChatError::Unavailable => AppError::Unavailable(message),
            ChatError::Ended
            | ChatError::BadInput(_)
            | ChatError::TooLarge(_)
            | ChatError::RateLimited(_)
            | ChatError::SessionFull(_)
            | ChatError::TooManyConnections(_) => AppError::BadRequest(message),
        }
    }
}
