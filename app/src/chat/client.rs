//! The browser's WebSocket client of the chat (built for the browser only).
//!
//! It keeps one connection to `/ws`, joins with the page's token, and on a
//! lost connection reconnects with exponential backoff and jitter, resuming
//! after the last message id it saw. Messages not yet acknowledged are sent
//! again after each join with their original client ids, so the server
//! stores each once however often it is resent.

use futures::{channel::mpsc, FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message};
use gloo_timers::future::{IntervalStream, TimeoutFuture};
use leptos::prelude::*;

use super::{
    protocol::{ChatMessage, ClientFrame, ErrorCode, ServerFrame, PROTOCOL_VERSION},
    state::{is_after, ChatState, Connection, Pending},
};

/// Shown when the server no longer stores every message since the last one
/// this page saw.
const GAP_NOTICE: &str = "Some messages sent while you were away are no longer stored, \
     so the chat above may be missing a few.";

/// What the page asks the client to do.
pub enum Command {
    /// Send the pending message with this client id.
    Send(String),
    Typing,
    EndSession,
}

/// The page's way to the client.
pub type Outbox = mpsc::UnboundedSender<Command>;

/// The longest wait between two attempts.
const MAX_BACKOFF_MS: f64 = 15_000.0;
/// A connection up this long counts as working, and resets the backoff.
const STABLE_MS: f64 = 10_000.0;
/// With no frame for this long the connection is taken as dead.
const SILENCE_MS: f64 = 45_000.0;
/// A ping every this many ticks of a second keeps proxies from idling us out.
const PING_EVERY_TICKS: u32 = 20;

/// Starts the client for `session`; it runs as long as the page.
pub fn start(session: String, token: String, you: String, state: ChatState) -> Outbox {
    let (outbox, inbox) = mpsc::unbounded();
    wasm_bindgen_futures::spawn_local(run(session, token, you, state, inbox));
    outbox
}

/// A fresh client message id: time and randomness, unique per sender.
pub fn new_client_id() -> String {
    format!(
        "{:x}-{:08x}",
        js_sys::Date::now() as u64,
        (js_sys::Math::random() * 4e9) as u64
    )
}

enum Outcome {
    Retry,
    Stop,
}

async fn run(
    session: String,
    token: String,
    you: String,
    state: ChatState,
    mut inbox: mpsc::UnboundedReceiver<Command>,
) {
    let mut failures: u32 = 0;
    let mut last_id: Option<String> = None;
    loop {
        state.connection.set(Connection::Connecting);
        if let Ok(socket) = WebSocket::open(&socket_url()) {
            let mut link = Link {
                state,
                you: &you,
                last_id: &mut last_id,
                joined_at: None,
            };
            if let Outcome::Stop = link.serve(socket, &session, &token, &mut inbox).await {
                return;
            }
            // Only a connection that stayed up a while resets the backoff: a
            // server that drops every socket just after the join is not
            // hammered once a second.
            if link
                .joined_at
                .is_some_and(|at| js_sys::Date::now() - at >= STABLE_MS)
            {
                failures = 0;
            }
        }
        failures = failures.saturating_add(1);
        let delay = backoff_ms(failures);
        state
            .connection
            .set(Connection::Reconnecting((delay / 1000.0).ceil() as u32));
        TimeoutFuture::new(delay as u32).await;
    }
}

/// Exponential from half a second, capped, with jitter between half and all
/// of it, so clients dropped together do not return together.
fn backoff_ms(failures: u32) -> f64 {
    let base = (500.0 * 2f64.powi(failures.min(8) as i32)).min(MAX_BACKOFF_MS);
    base * (0.5 + js_sys::Math::random() * 0.5)
}

fn socket_url() -> String {
    let location = web_sys::window().expect("a window").location();
    let scheme = if location.protocol().ok().as_deref() == Some("https:") {
        "wss"
    } else {
        "ws"
    };
    format!("{scheme}://{}/ws", location.host().unwrap_or_default())
}

fn encode(frame: &ClientFrame) -> Message {
    Message::Text(serde_json::to_string(frame).expect("frames serialise"))
}

/// One connection's life.
struct Link<'a> {
    state: ChatState,
    you: &'a str,
    last_id: &'a mut Option<String>,
    /// When the server accepted the join, by the browser's clock.
    joined_at: Option<f64>,
}

impl Link<'_> {
    async fn serve(
        &mut self,
        socket: WebSocket,
        session: &str,
        token: &str,
        inbox: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Outcome {
        let (mut sink, mut stream) = socket.split();
        let join = ClientFrame::Join {
            v: PROTOCOL_VERSION,
            session: session.into(),
            token: token.into(),
            after: self.last_id.clone(),
        };
        let opened = futures::select! {
            sent = sink.send(encode(&join)).fuse() => sent.is_ok(),
            _ = TimeoutFuture::new(10_000).fuse() => false,
        };
        if !opened {
            return Outcome::Retry;
        }

        let mut ticks: u32 = 0;
        let mut last_heard = js_sys::Date::now();
        let mut ticker = IntervalStream::new(1000);
        // Messages refused for the rate, sent again on the next tick.
        let mut deferred: Vec<String> = Vec::new();
        loop {
            futures::select! {
                incoming = stream.next().fuse() => {
                    let text = match incoming {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Bytes(_))) => continue,
                        Some(Err(_)) | None => return Outcome::Retry,
                    };
                    last_heard = js_sys::Date::now();
                    let Ok(frame) = serde_json::from_str::<ServerFrame>(&text) else { continue };
                    match frame {
                        ServerFrame::Joined { ended, max_message_bytes, .. } => {
                            self.joined_at = Some(js_sys::Date::now());
                            self.state.connection.set(Connection::Online);
                            self.state.ended.set(ended);
                            if max_message_bytes > 0 {
                                self.state.max_message_bytes.set(Some(max_message_bytes));
                            }
                            let resent: Vec<ClientFrame> =
                                self.state.pending.with_untracked(|p| p.iter().map(Pending::frame).collect());
                            for frame in resent {
                                if sink.send(encode(&frame)).await.is_err() {
                                    return Outcome::Retry;
                                }
                            }
                        }
                        ServerFrame::History { messages, gap, .. } => {
                            if gap {
                                self.state.notice.set(Some(GAP_NOTICE.into()));
                            }
                            self.merge(messages)
                        }
                        ServerFrame::Message { message } => self.merge(vec![message]),
                        ServerFrame::Ack { client_id, .. } => self.state.settle(&client_id),
                        ServerFrame::Presence { online } => self.state.online.set(online),
                        ServerFrame::Typing { participant } if participant.id != self.you => {
                            self.show_typing(participant.name);
                        }
                        ServerFrame::Typing { .. } | ServerFrame::Pong { .. } => {}
                        ServerFrame::Ended => self.state.ended.set(true),
                        ServerFrame::Error { code, message, client_id } => {
                            match (code, client_id) {
                                (ErrorCode::Unauthorized | ErrorCode::NotFound, _) if self.joined_at.is_none() => {
                                    self.state.connection.set(Connection::Refused(message));
                                    return Outcome::Stop;
                                }
                                // Kept and sent again shortly: the server
                                // stored nothing, and may take it then.
                                (ErrorCode::RateLimited | ErrorCode::Unavailable, Some(id)) => {
                                    deferred.push(id)
                                }
                                (ErrorCode::SessionEnded, _) => {
                                    self.state.pending.set(Vec::new());
                                    self.state.ended.set(true);
                                }
                                (_, Some(id)) => {
                                    self.state.settle(&id);
                                    self.state.notice.set(Some(message));
                                }
                                (_, None) => self.state.notice.set(Some(message)),
                            }
                        }
                    }
                }
                command = inbox.next().fuse() => {
                    let frame = match command {
                        None => return Outcome::Stop,
                        Some(Command::Send(client_id)) => match self.state.pending_frame(&client_id) {
                            Some(frame) => frame,
                            None => continue,
                        },
                        Some(Command::Typing) => ClientFrame::Typing,
                        Some(Command::EndSession) => ClientFrame::EndSession,
                    };
                    // Before the join is accepted, a message waits: the join
                    // resends everything pending.
                    if self.joined_at.is_some() && sink.send(encode(&frame)).await.is_err() {
                        return Outcome::Retry;
                    }
                }
                _ = ticker.next().fuse() => {
                    ticks = ticks.wrapping_add(1);
                    if js_sys::Date::now() - last_heard > SILENCE_MS {
                        return Outcome::Retry;
                    }
                    let mut frames: Vec<ClientFrame> = Vec::new();
                    if ticks.is_multiple_of(PING_EVERY_TICKS) {
                        frames.push(ClientFrame::Ping { nonce: ticks.into() });
                    }
                    frames.extend(deferred.drain(..).filter_map(|id| self.state.pending_frame(&id)));
                    for frame in frames {
                        if sink.send(encode(&frame)).await.is_err() {
                            return Outcome::Retry;
                        }
                    }
                }
            }
        }
    }

    /// Appends messages newer than the last one shown; older ones (a replay
    /// overlapping what is on screen) are already there.
    fn merge(&mut self, messages: Vec<ChatMessage>) {
        let fresh: Vec<ChatMessage> = messages
            .into_iter()
            .filter(|m| {
                let newer = self
                    .last_id
                    .as_deref()
                    .is_none_or(|last| is_after(&m.id, last));
                if newer {
                    *self.last_id = Some(m.id.clone());
                }
                newer
            })
            .collect();
        if !fresh.is_empty() {
            // Whoever was typing has now sent what they typed.
            let typing = self.state.typing;
            if typing.with_untracked(|t| {
                t.as_ref()
                    .is_some_and(|(name, _)| fresh.iter().any(|m| &m.author.name == name))
            }) {
                typing.set(None);
            }
            self.state.messages.update(|shown| shown.extend(fresh));
        }
    }

    fn show_typing(&self, name: String) {
        let at = js_sys::Date::now();
        self.state.typing.set(Some((name, at)));
        let typing = self.state.typing;
        wasm_bindgen_futures::spawn_local(async move {
            TimeoutFuture::new(3000).await;
            if typing.get_untracked().is_some_and(|(_, shown)| shown == at) {
                typing.set(None);
            }
        });
    }
}
