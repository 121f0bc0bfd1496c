//! The server functions of tutoring sessions: create one, join one with an
//! invite, look at one, see who is online, end one. Every function but
//! `create_session` takes the caller's token and refuses without a valid one.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::AppError;
use crate::chat::protocol::Participant;

/// The longest session title, in characters.
pub const MAX_TITLE_CHARS: usize = 120;
/// The longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 40;

/// A new session and the two links that lead into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedSession {
    pub session_id: String,
    /// The tutor's own link; keep it private.
    pub tutor_link: String,
    /// The link to give students; it lets them pick a name and come in.
    pub invite_link: String,
}

/// A session as one participant sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub session_id: String,
    pub title: String,
    pub you: Participant,
    pub ended: bool,
    /// The invite link, shown to the tutor only.
    pub invite_link: Option<String>,
}

/// Starts a session with `title`, led by a tutor called `name`.
#[server]
pub async fn create_session(title: String, name: String) -> Result<CreatedSession, AppError> {
    super::with_status(ssr::create(title, name).await)
}

/// Enters `session` as a student called `name`, with the invite token; the
/// answer is the student's own link.
#[server]
pub async fn join_session(
    session: String,
    invite: String,
    name: String,
) -> Result<String, AppError> {
    super::with_status(ssr::join(session, invite, name).await)
}

/// The session as the holder of `token` sees it.
#[server]
pub async fn load_session(session: String, token: String) -> Result<SessionView, AppError> {
    super::with_status(ssr::view(session, token).await)
}

/// Who is online in `session` now, across every instance.
#[server]
pub async fn online_participants(
    session: String,
    token: String,
) -> Result<Vec<Participant>, AppError> {
    super::with_status(ssr::online(session, token).await)
}

/// Ends `session` for everyone; only its tutor may.
#[server]
pub async fn end_session(session: String, token: String) -> Result<(), AppError> {
    super::with_status(ssr::end(session, token).await)
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::backend::{self, ChatSessions};

    fn clean(value: &str, what: &str, max: usize) -> Result<String, AppError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(AppError::BadRequest(format!("Give a {what}.")));
        }
        if value.chars().count() > max {
            return Err(AppError::BadRequest(format!(
                "A {what} holds at most {max} characters."
            )));
        }
        Ok(value.to_string())
    }

    pub async fn create(title: String, name: String) -> Result<CreatedSession, AppError> {
        let title = clean(&title, "title", MAX_TITLE_CHARS)?;
        let name = clean(&name, "display name", MAX_NAME_CHARS)?;
        backend::get::<dyn ChatSessions>()?
            .create(&title, &name)
            .await
    }

    pub async fn join(session: String, invite: String, name: String) -> Result<String, AppError> {
        let name = clean(&name, "display name", MAX_NAME_CHARS)?;
        backend::get::<dyn ChatSessions>()?
            .join(&session, &invite, &name)
            .await
    }

    pub async fn view(session: String, token: String) -> Result<SessionView, AppError> {
        backend::get::<dyn ChatSessions>()?
            .view(&session, &token)
            .await
    }

    pub async fn online(session: String, token: String) -> Result<Vec<Participant>, AppError> {
        backend::get::<dyn ChatSessions>()?
            .online(&session, &token)
            .await
    }

    pub async fn end(session: String, token: String) -> Result<(), AppError> {
        backend::get::<dyn ChatSessions>()?
            .end(&session, &token)
            .await
    }
}
