//! Sessions and who may enter them: creating a session, admitting a student
//! with the invite, checking a token, ending a session. It does not know of
//! sockets, messages or presence.
//!
//! A session is two hashes in Redis, kept without expiry because its
//! transcript outlives the conversation (reports are written from it).

use app::chat::protocol::{Participant, Role};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::{keys, tokens, tokens::ParticipantToken, ChatError};
use crate::{clock::now_ms, redis_client::Redis};

/// A session as [`Sessions::create`] made it, with both secrets in the clear
/// (the only time they are).
#[derive(Debug, Clone)]
pub struct NewSession {
    pub session_id: String,
    pub tutor: Participant,
    /// The tutor's own token.
    pub tutor_token: String,
    /// The token of the student invite.
    pub invite: String,
}

/// What the people hash keeps of one participant.
#[derive(Serialize, Deserialize)]
struct Record {
    #[serde(rename = "n")]
    name: String,
    #[serde(rename = "r")]
    role: Role,
    /// The SHA-256 of the participant's secret, never the secret.
    #[serde(rename = "h")]
    hash: String,
}

/// A session's title and state.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub title: String,
    pub ended: bool,
    /// Messages ever posted, the trimmed ones included (0 for a session
    /// that began before this was counted).
    pub posted: u64,
}

/// Session records in Redis.
#[derive(Clone)]
pub struct Sessions {
    /// Counts into the chat's own command counter.
    redis: Redis,
}

impl Sessions {
    pub fn new(redis: Redis) -> Self {
        Sessions { redis }
    }

    /// Creates a session led by a tutor called `tutor_name`.
    pub async fn create(&self, title: &str, tutor_name: &str) -> Result<NewSession, ChatError> {
        let session_id = tokens::new_session_id();
        let token = ParticipantToken::generate();
        let invite = tokens::invite_of(&session_id, &token.secret);
        let record = Record {
            name: tutor_name.into(),
            role: Role::Tutor,
            hash: tokens::hash(&token.secret),
        };
        let created_ms = now_ms().to_string();

        // One transaction, so a session never exists without its tutor.
        let mut conn = self.redis.clone();
        let () = redis::pipe()
            .atomic()
            .hset_multiple(
                keys::meta(&session_id),
                &[
                    ("title", title),
                    ("ended", "0"),
                    ("created_ms", &created_ms),
                    ("invite_hash", &tokens::hash(&invite)),
                    ("tutor", &token.participant),
                ],
            )
            .ignore()
            .hset(
                keys::people(&session_id),
                &token.participant,
                encode(&record),
            )
            .ignore()
            .query_async(&mut conn)
            .await?;

        let tutor = Participant {
            id: token.participant.clone(),
            name: tutor_name.into(),
            role: Role::Tutor,
        };
        Ok(NewSession {
            session_id,
            tutor,
            tutor_token: token.encode(),
            invite,
        })
    }

    /// Admits a student called `name` with the session's invite and returns
    /// their participant and token.
    pub async fn admit(
        &self,
        session: &str,
        invite: &str,
        name: &str,
    ) -> Result<(Participant, String), ChatError> {
        if !tokens::is_session_id(session) || !tokens::is_secret(invite) {
            return Err(ChatError::Unauthorized);
        }
        let mut conn = self.redis.clone();
        let (stored, ended): (Option<String>, Option<String>) = conn
            .hmget(keys::meta(session), &["invite_hash", "ended"])
            .await?;
        let stored = stored.ok_or(ChatError::Unauthorized)?;
        if !tokens::matches(invite, &stored) {
            return Err(ChatError::Unauthorized);
        }
        if ended.as_deref() == Some("1") {
            return Err(ChatError::Ended);
        }

        let token = ParticipantToken::generate();
        let record = Record {
            name: name.into(),
            role: Role::Student,
            hash: tokens::hash(&token.secret),
        };
        let () = conn
            .hset(keys::people(session), &token.participant, encode(&record))
            .await?;
        let student = Participant {
            id: token.participant.clone(),
            name: name.into(),
            role: Role::Student,
        };
        Ok((student, token.encode()))
    }

    /// The participant `token` stands for in `session`, or
    /// [`ChatError::Unauthorized`].
    pub async fn check(&self, session: &str, token: &str) -> Result<Participant, ChatError> {
        let token = ParticipantToken::parse(token).ok_or(ChatError::Unauthorized)?;
        if !tokens::is_session_id(session) {
            return Err(ChatError::Unauthorized);
        }
        let mut conn = self.redis.clone();
        let raw: Option<String> = conn.hget(keys::people(session), &token.participant).await?;
        let record: Record = raw
            .and_then(|raw| serde_json::from_str(&raw).ok())
            .ok_or(ChatError::Unauthorized)?;
        if !tokens::matches(&token.secret, &record.hash) {
            return Err(ChatError::Unauthorized);
        }
        Ok(Participant {
            id: token.participant,
            name: record.name,
            role: record.role,
        })
    }

    /// Whether `session` exists.
    pub async fn exists(&self, session: &str) -> Result<bool, ChatError> {
        if !tokens::is_session_id(session) {
            return Ok(false);
        }
        let mut conn = self.redis.clone();
        Ok(conn.exists(keys::meta(session)).await?)
    }

    /// The title and state of `session`.
    pub async fn info(&self, session: &str) -> Result<SessionInfo, ChatError> {
        let mut conn = self.redis.clone();
        let (title, ended, posted): (Option<String>, Option<String>, Option<u64>) = conn
            .hmget(keys::meta(session), &["title", "ended", "posted"])
            .await?;
        let title = title.ok_or(ChatError::NotFound)?;
        Ok(SessionInfo {
            title,
            ended: ended.as_deref() == Some("1"),
            posted: posted.unwrap_or(0),
        })
    }

    /// Marks `session` ended; callers check the role first.
    pub async fn mark_ended(&self, session: &str) -> Result<(), ChatError> {
        let mut conn = self.redis.clone();
        let () = conn.hset(keys::meta(session), "ended", "1").await?;
        Ok(())
    }
}

fn encode(record: &Record) -> String {
    serde_json::to_string(record).expect("a record always serialises")
}
