//! The one error type of the server functions, safe to show in a page: it
//! carries a message meant for the user, never an internal detail. The server
//! logs the detail before it builds one of these.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// What went wrong in a server function, as the page may show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The input was not acceptable; the message says why.
    #[error("{0}")]
    BadRequest(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Asked too often; the message says when to try again.
    #[error("{0}")]
    TooManyRequests(String),
    /// A backend (Redis, most often) could not answer; trying again later may
    /// work. The detail is in the server log.
    #[error("{0}")]
    Unavailable(String),
    /// The request never reached the function, or its answer never came back.
    #[error("the request failed: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(msg) => AppError::BadRequest(msg),
            other => AppError::Transport(other.to_string()),
        }
    }
}

impl AppError {
    /// The HTTP status that fits the error.
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::TooManyRequests(_) => 429,
            AppError::Unavailable(_) => 503,
            AppError::Transport(_) => 500,
        }
    }
}

/// Gives a server function's answer the status its error deserves, so a
/// client mistake is a 4xx and never a 500.
#[cfg(feature = "ssr")]
pub fn with_status<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(err) = &result {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            let status = http::StatusCode::from_u16(err.status())
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            response.set_status(status);
        }
    }
    result
}
