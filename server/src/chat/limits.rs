//! The limits one connection lives within: message size, messages per
//! second, typing notices. Time is passed in, so the tests need no clock.

use std::time::{Duration, Instant};

use app::chat::protocol::{ClientFrame, MAX_CLIENT_ID_BYTES};

use super::ChatError;
use crate::bucket::Bucket;

/// A connection's message rate: `rate` messages per second, with bursts of
/// as many.
#[derive(Debug)]
pub struct RateLimit {
    rate: u32,
    bucket: Bucket,
}

impl RateLimit {
    pub fn new(rate: u32, now: Instant) -> Self {
        RateLimit {
            rate,
            bucket: Bucket::new(rate, f64::from(rate), now),
        }
    }

    /// Takes one message's worth, or refuses.
    pub fn take(&mut self, now: Instant) -> Result<(), ChatError> {
        self.bucket
            .take(now)
            .map_err(|_| ChatError::RateLimited(self.rate))
    }
}

/// At most one typing notice per this long per connection is passed on.
pub const TYPING_EVERY: Duration = Duration::from_secs(2);

/// Room a frame may take beyond the message limit for its JSON envelope.
const ENVELOPE_BYTES: usize = 1024;

/// Reads one text frame, refusing it unread when it is far over the size
/// limit, and saying whether it is not JSON or not of this protocol.
pub fn decode(text: &str, max_bytes: usize) -> Result<ClientFrame, ChatError> {
    if text.len() > max_bytes + ENVELOPE_BYTES {
        return Err(ChatError::TooLarge(max_bytes));
    }
    serde_json::from_str(text).map_err(|err| {
        ChatError::BadInput(if err.is_syntax() || err.is_eof() {
            "This frame is not JSON.".into()
        } else {
            "This frame is not part of the protocol (unknown type or missing field).".into()
        })
    })
}

/// Checks a message before it is stored.
pub fn check_message(client_id: &str, text: &str, max_bytes: usize) -> Result<(), ChatError> {
    if client_id.is_empty()
        || client_id.len() > MAX_CLIENT_ID_BYTES
        || !client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ChatError::BadInput(format!(
            "A client message id is 1 to {MAX_CLIENT_ID_BYTES} letters, digits, '-' or '_'."
        )));
    }
    if text.trim().is_empty() {
        return Err(ChatError::BadInput("A message needs some text.".into()));
    }
    if text.len() > max_bytes {
        return Err(ChatError::TooLarge(max_bytes));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_up_to_the_rate_passes_and_the_next_message_is_refused() {
        let start = Instant::now();
        let mut limit = RateLimit::new(3, start);
        for _ in 0..3 {
            assert!(limit.take(start).is_ok());
        }
        assert!(matches!(limit.take(start), Err(ChatError::RateLimited(3))));
    }

    #[test]
    fn frames_that_are_not_json_unknown_or_huge_are_refused_with_a_reason() {
        assert!(matches!(
            decode(r#"{"type":"typing"}"#, 10),
            Ok(ClientFrame::Typing)
        ));
        let not_json = decode("hello", 10).unwrap_err().to_string();
        assert!(not_json.contains("not JSON"), "{not_json}");
        let unknown = decode(r#"{"type":"shout"}"#, 10).unwrap_err().to_string();
        assert!(unknown.contains("not part of the protocol"), "{unknown}");
        assert!(matches!(
            decode(&"x".repeat(2000), 10),
            Err(ChatError::TooLarge(10))
        ));
    }

    #[test]
    fn oversized_empty_and_oddly_labelled_messages_are_refused() {
        assert!(check_message("c1", "hello", 8).is_ok());
        assert!(matches!(
            check_message("c1", "123456789", 8),
            Err(ChatError::TooLarge(8))
        ));
        assert!(matches!(
            check_message("c1", "   ", 8),
            Err(ChatError::BadInput(_))
        ));
        assert!(matches!(
            check_message("a b", "x", 8),
            Err(ChatError::BadInput(_))
        ));
        assert!(matches!(
            check_message("", "x", 8),
            Err(ChatError::BadInput(_))
        ));
    }
}
