//! What the session page knows of its chat, as signals: the connection's
//! state, the messages, the ones not yet acknowledged, who is online and who
//! is typing. The browser client writes them; the components read them.

use leptos::prelude::*;

use super::protocol::{ChatMessage, ClientFrame, Participant};

/// Where the connection stands, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Online,
    /// Lost; the next attempt is in this many seconds.
    Reconnecting(u32),
    /// The server refused the link; no more attempts.
    Refused(String),
}

impl Connection {
    /// A word for the `data-state` attribute the tests read.
    pub fn key(&self) -> &'static str {
        match self {
            Connection::Connecting => "connecting",
            Connection::Online => "online",
            Connection::Reconnecting(_) => "reconnecting",
            Connection::Refused(_) => "refused",
        }
    }

    /// The state in words for people.
    pub fn label(&self) -> String {
        match self {
            Connection::Connecting => "Connecting…".into(),
            Connection::Online => "Connected".into(),
            Connection::Reconnecting(secs) => format!("Connection lost; retrying in {secs} s"),
            Connection::Refused(why) => format!("Not connected: {why}"),
        }
    }
}

/// A message sent but not acknowledged yet; resent on every reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub client_id: String,
    pub text: String,
}

impl Pending {
    /// The frame that sends it.
    pub fn frame(&self) -> ClientFrame {
        ClientFrame::Send {
            client_id: self.client_id.clone(),
            text: self.text.clone(),
        }
    }
}

/// The chat's signals; `Copy`, so closures take it freely.
#[derive(Clone, Copy)]
pub struct ChatState {
    pub connection: RwSignal<Connection>,
    pub messages: RwSignal<Vec<ChatMessage>>,
    pub pending: RwSignal<Vec<Pending>>,
    pub online: RwSignal<Vec<Participant>>,
    /// The name of whoever typed last, and when (ms), for a few seconds.
    pub typing: RwSignal<Option<(String, f64)>>,
    /// The last refusal of something this page did.
    pub notice: RwSignal<Option<String>>,
    pub ended: RwSignal<bool>,
    /// The server's limit on a message, once it has said (bytes of UTF-8).
    pub max_message_bytes: RwSignal<Option<usize>>,
}

impl ChatState {
    pub fn new(ended: bool) -> Self {
        ChatState {
            connection: RwSignal::new(Connection::Connecting),
            messages: RwSignal::new(Vec::new()),
            pending: RwSignal::new(Vec::new()),
            online: RwSignal::new(Vec::new()),
            typing: RwSignal::new(None),
            notice: RwSignal::new(None),
            ended: RwSignal::new(ended),
            max_message_bytes: RwSignal::new(None),
        }
    }

    /// The frame that sends the pending message `client_id`, if it is still
    /// pending.
    pub fn pending_frame(&self, client_id: &str) -> Option<ClientFrame> {
        self.pending.with_untracked(|pending| {
            pending
                .iter()
                .find(|p| p.client_id == client_id)
                .map(Pending::frame)
        })
    }

    /// Forgets the pending message `client_id`: it was stored, or refused
    /// for good.
    pub fn settle(&self, client_id: &str) {
        self.pending
            .update(|pending| pending.retain(|p| p.client_id != client_id));
    }
}

/// Whether stream id `a` comes after `b` (`<ms>-<seq>`, compared as numbers).
pub fn is_after(a: &str, b: &str) -> bool {
    fn parts(id: &str) -> (u64, u64) {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    }
    parts(a) > parts(b)
}

#[cfg(test)]
mod tests {
    use super::is_after;

    #[test]
    fn stream_ids_compare_as_numbers_not_as_text() {
        assert!(is_after("1700000000000-10", "1700000000000-9"));
        assert!(!is_after("1700000000000-9", "1700000000000-9"));
        assert!(is_after("1700000000001-0", "1700000000000-99"));
    }
}
