//! Every Redis key and channel the chat engine writes, in one place, under
//! the `chat:` prefix.
//!
//! Each key of a session carries the session id in braces (a Redis Cluster
//! hash tag), so all of a session's keys live in one slot and a script may
//! touch them together.

/// The session's settings: title, invite hash, whether it ended.
pub fn meta(session: &str) -> String {
    format!("chat:{{{session}}}:meta")
}

/// Participant id → their name, role and token hash.
pub fn people(session: &str) -> String {
    format!("chat:{{{session}}}:people")
}

/// The messages, a Redis Stream trimmed to the configured length.
pub fn stream(session: &str) -> String {
    format!("chat:{{{session}}}:stream")
}

/// One member per open connection, scored by when it expires.
pub fn presence(session: &str) -> String {
    format!("chat:{{{session}}}:presence")
}

/// Set when a client message id is first stored, so a resend is recognised.
pub fn sent(session: &str, participant: &str, client_id: &str) -> String {
    format!("chat:{{{session}}}:sent:{participant}:{client_id}")
}

/// Where a session's messages and events are published to every instance.
pub fn channel(session: &str) -> String {
    format!("chat:{{{session}}}:events")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_session_shares_its_hash_tag() {
        for key in [
            meta("s1"),
            people("s1"),
            stream("s1"),
            presence("s1"),
            sent("s1", "p", "c"),
        ] {
            assert!(key.starts_with("chat:{s1}:"), "{key}");
        }
    }
}
