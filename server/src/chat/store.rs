//! The per-session message store: a Redis Stream, bounded in length, that is
//! both what a (re)joining client catches up from and the transcript reports
//! are written from.
//!
//! Storing and publishing a message is one Lua script, so no instance ever
//! sees a message on the channel that is not in the stream, or the reverse.
//! The same script remembers each client message id for a while, so a resend
//! after a lost acknowledgement returns the first id instead of posting twice.

use std::sync::LazyLock;

use app::chat::protocol::{ChatMessage, Participant};
use redis::{streams::StreamRangeReply, Value};

use super::{
    keys,
    relay::{self, Body, StreamId},
    ChatError,
};
use crate::redis_client::Redis;

/// Appends, counts, remembers the client id, and publishes, atomically. The
/// count of messages ever posted outlives the stream's trimming, so a report
/// can tell how much of the session it no longer sees.
///
/// KEYS: stream, sent-marker, meta (all of one session, one hash slot).
/// ARGV: channel, max length, marker lifetime (s), author id, name, role,
/// text, client id, body JSON.
static POST: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local seen = redis.call('GET', KEYS[2])
if seen then return {'dup', seen} end
if redis.call('HGET', KEYS[3], 'ended') == '1' then return {'ended', ''} end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*',
  'p', ARGV[4], 'n', ARGV[5], 'r', ARGV[6], 't', ARGV[7], 'c', ARGV[8])
redis.call('HINCRBY', KEYS[3], 'posted', 1)
redis.call('SET', KEYS[2], id, 'EX', ARGV[3])
redis.call('PUBLISH', ARGV[1], 'm' .. id .. '\n' .. ARGV[9])
return {'new', id}
"#,
    )
});

/// How long a client message id is remembered: far longer than any client
/// keeps an unacknowledged message.
const SENT_MARKER_SECS: u64 = 24 * 3600;

/// What became of a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub id: StreamId,
    /// The client id had been stored before; nothing new was posted.
    pub duplicate: bool,
}

/// What a reader that saw up to some message has missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missed {
    /// The stored messages after the one it saw, oldest first.
    pub messages: Vec<ChatMessage>,
    /// The message it saw has been trimmed from the stream, so messages
    /// between it and the first of `messages` may be lost to it.
    pub gap: bool,
}

/// Messages of every session, in Redis.
#[derive(Clone)]
pub struct Store {
    redis: Redis,
    /// The stream's bound (trimmed approximately, as `MAXLEN ~` does).
    history_len: usize,
}

impl Store {
    pub fn new(redis: Redis, history_len: usize) -> Self {
        Store { redis, history_len }
    }

    /// Stores `text` from `author` and publishes it to every instance.
    pub async fn post(
        &self,
        session: &str,
        author: &Participant,
        client_id: &str,
        text: &str,
    ) -> Result<Posted, ChatError> {
        let body = Body {
            author: author.clone(),
            text: text.into(),
            client_id: client_id.into(),
        };
        let body = serde_json::to_string(&body).expect("a body always serialises");
        let mut conn = self.redis.clone();
        let (outcome, id): (String, String) = POST
            .key(keys::stream(session))
            .key(keys::sent(session, &author.id, client_id))
            .key(keys::meta(session))
            .arg(keys::channel(session))
            .arg(self.history_len)
            .arg(SENT_MARKER_SECS)
            .arg(&author.id)
            .arg(&author.name)
            .arg(author.role.as_str())
            .arg(text)
            .arg(client_id)
            .arg(body)
            .invoke_async(&mut conn)
            .await?;
        if outcome == "ended" {
            return Err(ChatError::Ended);
        }
        let id = id.parse().map_err(|_| ChatError::Unavailable)?;
        Ok(Posted {
            id,
            duplicate: outcome == "dup",
        })
    }

    /// The latest `count` messages, oldest first.
    pub async fn recent(&self, session: &str, count: usize) -> Result<Vec<ChatMessage>, ChatError> {
        let mut conn = self.redis.clone();
        let reply: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(keys::stream(session))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await?;
        let mut messages = decode(reply);
        messages.reverse();
        Ok(messages)
    }

    /// Every stored message after `after`, oldest first: what a client that
    /// saw `after` has missed, and whether some of it is no longer stored.
    ///
    /// The range starts at `after` itself, so the same one command tells
    /// whether the stream still holds it: once trimming has passed it, what
    /// came between is gone, and the reader is told instead of shown a
    /// history that silently skips.
    pub async fn after(&self, session: &str, after: StreamId) -> Result<Missed, ChatError> {
        let mut conn = self.redis.clone();
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(keys::stream(session))
            .arg(after.to_string())
            .arg("+")
            .query_async(&mut conn)
            .await?;
        let mut messages = decode(reply);
        let still_stored = messages.first().is_some_and(|m| m.id == after.to_string());
        if still_stored {
            messages.remove(0);
        }
        Ok(Missed {
            // An empty range means nothing is stored after `after`: nothing
            // was missed, whatever became of `after` itself.
            gap: !still_stored && !messages.is_empty(),
            messages,
        })
    }

    /// What a reader that saw up to `after` has missed, or, for a reader
    /// that saw nothing yet, the latest `recent` messages.
    pub async fn since(
        &self,
        session: &str,
        after: Option<StreamId>,
        recent: usize,
    ) -> Result<Missed, ChatError> {
        match after {
            Some(after) => self.after(session, after).await,
            None => Ok(Missed {
                messages: self.recent(session, recent).await?,
                gap: false,
            }),
        }
    }

    /// The id of the newest message, if there is one.
    pub async fn last_id(&self, session: &str) -> Result<Option<StreamId>, ChatError> {
        Ok(self
            .recent(session, 1)
            .await?
            .first()
            .and_then(|m| m.id.parse().ok()))
    }

    /// The whole stored transcript of `session`, oldest first. Reports read
    /// it; at most the configured history length is kept.
    pub async fn transcript(&self, session: &str) -> Result<Vec<ChatMessage>, ChatError> {
        let mut conn = self.redis.clone();
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(keys::stream(session))
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await?;
        Ok(decode(reply))
    }
}

/// Stream entries as messages; an entry this version cannot read is skipped
/// with a warning rather than failing the whole history.
fn decode(reply: StreamRangeReply) -> Vec<ChatMessage> {
    reply
        .ids
        .into_iter()
        .filter_map(|entry| {
            // Each field is read once, so it is taken out rather than copied.
            let mut map = entry.map;
            let mut field = |name: &str| match map.remove(name) {
                Some(Value::BulkString(bytes)) => String::from_utf8(bytes).ok(),
                Some(Value::SimpleString(s)) => Some(s),
                _ => None,
            };
            let id: StreamId = entry.id.parse().ok()?;
            let role = field("r").as_deref().and_then(app::chat::protocol::Role::parse);
            let decoded = (|| {
                let author = Participant { id: field("p")?, name: field("n")?, role: role? };
                Some(Body { author, text: field("t")?, client_id: field("c")? })
            })();
            if decoded.is_none() {
                tracing::warn!(id = %entry.id, "skipped a stream entry that does not read as a message");
            }
            decoded.map(|body| relay::message(id, body))
        })
        .collect()
}
