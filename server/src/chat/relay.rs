//! What travels on a session's channel between instances, and the stream ids
//! that order messages.
//!
//! A payload starts with one byte saying what it is:
//! - `m<stream id>\n<body>`: a message, published by the store's script in
//!   the same call that appended it to the stream; `<body>` is JSON without
//!   the id, which only Redis knows when it publishes.
//! - `e<frame>`: an event (presence, typing, ended) as the finished JSON
//!   [`ServerFrame`], so an instance passes it to its sockets unread.
//!
//! [`ServerFrame`]: app::chat::protocol::ServerFrame

use std::{fmt, str::FromStr};

use app::chat::protocol::{ChatMessage, Participant, ServerFrame};
use serde::{Deserialize, Serialize};

/// A Redis stream id, `<milliseconds>-<sequence>`, compared as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl FromStr for StreamId {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (ms, seq) = s.split_once('-').ok_or(())?;
        Ok(StreamId {
            ms: ms.parse().map_err(|_| ())?,
            seq: seq.parse().map_err(|_| ())?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A message as published, before Redis gave it an id.
#[derive(Debug, Serialize, Deserialize)]
pub struct Body {
    pub author: Participant,
    pub text: String,
    pub client_id: String,
}

/// One payload from the channel, read.
#[derive(Debug)]
pub enum Relayed<'a> {
    Message(StreamId, ChatMessage),
    /// A finished frame to pass on as it is.
    Event(&'a str),
}

/// A frame as a socket receives it.
pub fn frame_json(frame: &ServerFrame) -> String {
    serde_json::to_string(frame).expect("a frame always serialises")
}

/// The payload of an event.
pub fn event(frame: &ServerFrame) -> String {
    format!("e{}", frame_json(frame))
}

/// Reads a payload; `None` for one this version does not understand.
pub fn parse(payload: &[u8]) -> Option<Relayed<'_>> {
    let text = std::str::from_utf8(payload).ok()?;
    match text.as_bytes().first()? {
        b'e' => Some(Relayed::Event(&text[1..])),
        b'm' => {
            let (id, body) = text[1..].split_once('\n')?;
            let stream_id: StreamId = id.parse().ok()?;
            let body: Body = serde_json::from_str(body).ok()?;
            Some(Relayed::Message(stream_id, message(stream_id, body)))
        }
        _ => None,
    }
}

/// The message a stored body becomes under its id; its time is the id's.
pub fn message(id: StreamId, body: Body) -> ChatMessage {
    ChatMessage {
        id: id.to_string(),
        author: body.author,
        text: body.text,
        ts_ms: id.ms,
        client_id: body.client_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::chat::protocol::Role;

    #[test]
    fn stream_ids_order_by_time_then_sequence() {
        let a: StreamId = "1700000000000-5".parse().unwrap();
        let b: StreamId = "1700000000001-0".parse().unwrap();
        assert!(a < b);
        assert_eq!(a.to_string(), "1700000000000-5");
        assert!("nonsense".parse::<StreamId>().is_err());
    }

    #[test]
    fn a_published_message_reads_back_with_its_id_and_time() {
        let author = Participant {
            id: "p".into(),
            name: "Ann".into(),
            role: Role::Tutor,
        };
        let body = Body {
            author,
            text: "a\nb".into(),
            client_id: "c".into(),
        };
        let payload = format!(
            "m1700000000000-1\n{}",
            serde_json::to_string(&body).unwrap()
        );
        match parse(payload.as_bytes()) {
            Some(Relayed::Message(id, message)) => {
                assert_eq!(id.to_string(), "1700000000000-1");
                assert_eq!(
                    (message.text.as_str(), message.ts_ms),
                    ("a\nb", 1700000000000)
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
