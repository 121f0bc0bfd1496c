//! Unguessable ids and tokens: how they are made, stored and checked.
//!
//! A token is 128 random bits in hex. Redis keeps only its SHA-256, so a
//! leaked copy of the data opens no session, and a presented token is
//! compared with the stored hash in constant time. A participant's token is
//! `<participant id>.<secret>`: the id finds the record, the secret proves
//! the holder. The invite is derived from the tutor's secret, so the tutor's
//! page can show it again without Redis keeping it.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes of randomness in a secret and in a session id.
const SECRET_BYTES: usize = 16;
/// Bytes of randomness in a participant id: unique within a session.
const PARTICIPANT_BYTES: usize = 8;

/// `n` random bytes from the operating system, in lowercase hex.
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // The OS random source failing is not something a server can go on from.
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    hex(&bytes)
}

/// `bytes` in lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_hex(value: &str, len: usize) -> bool {
    value.len() == len
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A new session id.
pub fn new_session_id() -> String {
    random_hex(SECRET_BYTES)
}

/// Whether `id` could be a session id (and so is safe inside a key).
pub fn is_session_id(id: &str) -> bool {
    is_hex(id, SECRET_BYTES * 2)
}

/// A new participant id.
pub fn new_participant_id() -> String {
    random_hex(PARTICIPANT_BYTES)
}

/// A new secret.
pub fn new_secret() -> String {
    random_hex(SECRET_BYTES)
}

/// What Redis stores of a secret.
pub fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn matches(secret: &str, stored: &str) -> bool {
    hash(secret).as_bytes().ct_eq(stored.as_bytes()).into()
}

/// The session's invite, derived from its tutor's secret.
pub fn invite_of(session: &str, tutor_secret: &str) -> String {
    let digest = Sha256::digest(format!("invite:{session}:{tutor_secret}").as_bytes());
    hex(&digest[..SECRET_BYTES])
}

/// Whether `invite` is shaped like an invite.
pub fn is_secret(invite: &str) -> bool {
    is_hex(invite, SECRET_BYTES * 2)
}

/// A participant's token, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantToken {
    pub participant: String,
    pub secret: String,
}

impl ParticipantToken {
    /// A new token for a new participant.
    pub fn generate() -> Self {
        ParticipantToken {
            participant: new_participant_id(),
            secret: new_secret(),
        }
    }

    /// Reads a presented token; `None` when it is not shaped like one.
    pub fn parse(token: &str) -> Option<Self> {
        let (participant, secret) = token.trim().split_once('.')?;
        (is_hex(participant, PARTICIPANT_BYTES * 2) && is_hex(secret, SECRET_BYTES * 2)).then(
            || ParticipantToken {
                participant: participant.into(),
                secret: secret.into(),
            },
        )
    }

    /// The token as it travels in a link.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.participant, self.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_survives_encoding_and_parsing() {
        let token = ParticipantToken::generate();
        assert_eq!(ParticipantToken::parse(&token.encode()), Some(token));
    }

    #[test]
    fn malformed_tokens_are_rejected_before_any_lookup() {
        for bad in [
            "",
            "abc",
            "x.y",
            "0123456789abcdef.short",
            "../../etc.passwd",
        ] {
            assert_eq!(ParticipantToken::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_the_right_secret_matches_its_hash() {
        let secret = new_secret();
        let stored = hash(&secret);
        assert!(matches(&secret, &stored));
        assert!(!matches(&new_secret(), &stored));
    }

    #[test]
    fn the_invite_depends_on_the_session_and_the_tutor_secret() {
        let secret = new_secret();
        assert_eq!(invite_of("s", &secret), invite_of("s", &secret));
        assert_ne!(invite_of("s", &secret), invite_of("t", &secret));
        assert!(is_secret(&invite_of("s", &secret)));
    }
}
