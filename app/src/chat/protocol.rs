//! The chat's wire protocol, version 1: JSON frames over the `/ws` WebSocket,
//! as serde enums both ends compile from this one file.
//!
//! Every frame is an object with a `type` field. A client opens with `join`
//! (the session, its token and, on a reconnect, the id of the last message it
//! saw); the server answers with `joined` and a `history`, then streams
//! `message`, `presence` and `typing` frames. A `send` carries a client
//! message id, so a resend after a reconnect is acknowledged again and never
//! posted twice. Anything wrong with one frame gets an `error` frame, and the
//! connection goes on.

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks; a `join` with another one is
/// refused with [`ErrorCode::UnsupportedVersion`].
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest client message id the server accepts, in bytes.
pub const MAX_CLIENT_ID_BYTES: usize = 64;

/// Who someone is in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Created the session; may end it.
    Tutor,
    /// Came in through the invite.
    Student,
}

impl Role {
    /// The role as a word for people and for storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Tutor => "tutor",
            Role::Student => "student",
        }
    }

    /// The role a stored word names, if any.
    pub fn parse(word: &str) -> Option<Role> {
        match word {
            "tutor" => Some(Role::Tutor),
            "student" => Some(Role::Student),
            _ => None,
        }
    }
}

/// One person in a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Participant {
    /// Stable for the session; not secret.
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// One message of a session's transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The Redis stream id (`<ms>-<seq>`): orders the session's messages and
    /// is what a client resumes after.
    pub id: String,
    pub author: Participant,
    /// Plain text; pages render it as text, never as markup.
    pub text: String,
    /// When the server stored it, in milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// The id the sending client gave it.
    pub client_id: String,
}

/// What a browser sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Enters a session; must come first.
    Join {
        v: u32,
        session: String,
        token: String,
        /// The last message id seen, to replay exactly what was missed;
        /// `None` loads the recent history.
        #[serde(default)]
        after: Option<String>,
    },
    /// Posts a message.
    Send { client_id: String, text: String },
    /// Says the sender is typing; the server passes it on, rate-limited.
    Typing,
    /// Ends the session for everyone; the tutor's alone.
    EndSession,
    /// Keeps the connection alive and measures it.
    Ping { nonce: u64 },
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The join was accepted.
    Joined {
        v: u32,
        you: Participant,
        title: String,
        ended: bool,
        /// The largest message this server stores, in bytes of UTF-8, so
        /// the page can refuse a longer one before sending it. 0 when the
        /// server did not say.
        #[serde(default)]
        max_message_bytes: usize,
    },
    /// Stored messages: the recent ones on a fresh join, or everything after
    /// the client's `after` on a resume or a resynchronisation.
    History {
        messages: Vec<ChatMessage>,
        resumed: bool,
        /// On a resume: the last message the client saw is no longer
        /// stored (the session keeps a bounded history), so messages
        /// between it and these may be missing.
        #[serde(default)]
        gap: bool,
    },
    /// A message, live.
    Message {
        message: ChatMessage,
    },
    /// The sender's message is stored under `id` (also for a resend).
    Ack {
        client_id: String,
        id: String,
    },
    /// Who is online now, across every instance.
    Presence {
        online: Vec<Participant>,
    },
    /// Someone else is typing.
    Typing {
        participant: Participant,
    },
    /// The tutor ended the session; nothing more can be posted.
    Ended,
    /// One frame could not be served; the connection stays open unless the
    /// server closes it next.
    Error {
        code: ErrorCode,
        message: String,
        /// The `send` this answers, when it answers one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    Pong {
        nonce: u64,
    },
}

/// Why a frame was refused, for programs; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not a frame of this protocol.
    BadFrame,
    UnsupportedVersion,
    /// No valid token for this session.
    Unauthorized,
    /// The token is valid but its role may not do this.
    Forbidden,
    /// No such session.
    NotFound,
    /// A `send` or `typing` before `join`, or a second `join`.
    NotJoined,
    TooLarge,
    RateLimited,
    SessionFull,
    SessionEnded,
    /// Redis did not answer; trying again later may work.
    Unavailable,
}

impl ServerFrame {
    /// An error frame that answers no particular `send`.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> ServerFrame {
        ServerFrame::Error {
            code,
            message: message.into(),
            client_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_tagged_by_type_in_snake_case() {
        let frame = ClientFrame::Send {
            client_id: "c1".into(),
            text: "hi".into(),
        };
        let json = serde_json::to_string(&frame).unwrap();
        assert_eq!(json, r#"{"type":"send","client_id":"c1","text":"hi"}"#);
        let back: ClientFrame = serde_json::from_str(r#"{"type":"end_session"}"#).unwrap();
        assert_eq!(back, ClientFrame::EndSession);
    }

    #[test]
    fn a_join_without_after_loads_recent_history() {
        let join: ClientFrame =
            serde_json::from_str(r#"{"type":"join","v":1,"session":"s","token":"t"}"#).unwrap();
        assert!(matches!(join, ClientFrame::Join { after: None, .. }));
    }

    #[test]
    fn an_unknown_type_does_not_parse() {
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"shout"}"#).is_err());
    }
}
