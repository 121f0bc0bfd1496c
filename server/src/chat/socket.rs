//! One WebSocket connection: the join handshake, then frames both ways
//! until the client leaves or the instance shuts down.
//!
//! A frame that is not JSON, not of this protocol, too large, or over a limit
//! gets an error frame and the connection goes on. A refused join (no valid
//! token, no such session, session full) gets an error frame and a close.

use std::time::{Duration, Instant};

use app::chat::protocol::{ClientFrame, ErrorCode, ServerFrame, PROTOCOL_VERSION};
use axum::{
    extract::{
        ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade},
        State,
    },
    response::Response,
};
use tokio::sync::broadcast::error::RecvError;
use tracing::{field::Empty, Instrument};

use super::{
    limits,
    relay::{self, StreamId},
    rooms::{CatchUp, Membership},
    store::Missed,
    ChatEngine, ChatError,
};
use crate::chat::limits::RateLimit;

/// How long a new connection has to send its `join`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames above this are refused by the WebSocket layer itself, which closes
/// the connection; below it, an oversized message gets an error frame.
const FRAME_CEILING: usize = 64 * 1024;
/// How many messages a fresh join loads.
const JOIN_HISTORY: usize = 200;
/// How soon a socket that could not resynchronise tries again.
const RESYNC_RETRY: Duration = Duration::from_secs(1);

/// `GET /ws`: upgrades to a chat connection.
pub async fn upgrade(ws: WebSocketUpgrade, State(engine): State<ChatEngine>) -> Response {
    let ceiling = FRAME_CEILING.max(engine.settings().max_message_bytes * 4);
    // Small buffers: an idle socket should cost kilobytes, not the 256 KiB
    // the defaults reserve. The read buffer is only the size of one read;
    // a larger frame takes a few.
    ws.read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(ceiling)
        .max_frame_size(ceiling)
        .on_upgrade(move |socket| {
            let conn = engine.next_connection_id();
            let span = tracing::info_span!("socket", conn, session = Empty, participant = Empty);
            Connection {
                engine,
                socket,
                conn,
            }
            .run()
            .instrument(span)
        })
}

struct Connection {
    engine: ChatEngine,
    socket: WebSocket,
    conn: u64,
}

/// A connection that has joined a session.
struct Joined {
    session: String,
    you: app::chat::protocol::Participant,
    membership: Membership,
    /// The newest message this socket has been sent; never sent twice.
    last: Option<StreamId>,
    rate: RateLimit,
    last_typing: Option<Instant>,
    /// Set while a resync could not read Redis: live messages are then left
    /// for the next attempt, which reads them from the stream in order.
    behind: bool,
}

impl Connection {
    async fn run(mut self) {
        self.engine.metrics_handle().socket_opened();
        // The handshake, each frame's handling and the leave are boxed: they
        // hold Redis calls whose futures are large, and unboxed they would
        // size the state of every idle socket for as long as it lives.
        let joined = Box::pin(self.handshake()).await;
        if let Some(mut joined) = joined {
            let ended = self.serve(&mut joined).await;
            tracing::debug!(how = ended, "socket ended");
            let presence = self.engine.presence();
            if let Err(err) = Box::pin(presence.leave(&joined.session, self.conn)).await {
                tracing::debug!(cause = %err, "presence not cleared; it expires by itself");
            }
        }
        self.engine.metrics_handle().socket_closed();
    }

    /// Waits for a valid `join`; `None` when the connection ends first.
    async fn handshake(&mut self) -> Option<Joined> {
        let shutdown = self.engine.shutdown_token();
        let deadline = tokio::time::sleep(JOIN_TIMEOUT);
        tokio::pin!(deadline);
        loop {
            let incoming = tokio::select! {
                _ = shutdown.cancelled() => {
                    self.close(close_code::AWAY, "going away").await;
                    return None;
                }
                _ = &mut deadline => {
                    self.send(&ServerFrame::error(ErrorCode::NotJoined, "Join a session first.")).await;
                    self.close(close_code::POLICY, "no join").await;
                    return None;
                }
                incoming = self.socket.recv() => incoming,
            };
            let frame = match self.read(incoming).await? {
                Some(frame) => frame,
                None => continue,
            };
            match frame {
                ClientFrame::Join {
                    v,
                    session,
                    token,
                    after,
                } => {
                    if v != PROTOCOL_VERSION {
                        let message =
                            format!("This server speaks protocol version {PROTOCOL_VERSION}.");
                        self.send(&ServerFrame::error(ErrorCode::UnsupportedVersion, message))
                            .await;
                        self.close(close_code::POLICY, "unsupported version").await;
                        return None;
                    }
                    match self.join(session, &token, after).await {
                        Ok(joined) => return Some(joined),
                        // Closed rather than left waiting: the client joins
                        // again when it reconnects, after its backoff.
                        Err(err @ ChatError::Unavailable) => {
                            self.send_error(&err, None).await;
                            self.close(close_code::AGAIN, "try again later").await;
                            return None;
                        }
                        Err(err) => {
                            self.send_error(&err, None).await;
                            self.close(close_code::POLICY, "refused").await;
                            return None;
                        }
                    }
                }
                ClientFrame::Ping { nonce } => self.send(&ServerFrame::Pong { nonce }).await,
                _ => {
                    self.send(&ServerFrame::error(
                        ErrorCode::NotJoined,
                        "Join a session first.",
                    ))
                    .await
                }
            }
        }
    }

    async fn join(
        &mut self,
        session: String,
        token: &str,
        after: Option<String>,
    ) -> Result<Joined, ChatError> {
        let engine = self.engine.clone();
        let you = engine.sessions().check(&session, token).await?;
        let span = tracing::Span::current();
        span.record("session", session.as_str());
        span.record("participant", you.id.as_str());

        // In the room before the session is read, presence announced and
        // history loaded, so this socket misses nothing published from here
        // on: an end of the session after the read arrives as an event.
        let membership = engine.rooms().enter(&session).await;
        let info = engine.sessions().info(&session).await?;
        engine
            .presence()
            .enter(
                &session,
                self.conn,
                &you,
                engine.settings().max_connections_per_session,
            )
            .await?;

        let after = after.and_then(|id| id.parse::<StreamId>().ok());
        let history = engine.store().since(&session, after, JOIN_HISTORY).await;
        let Missed { messages, gap } = match history {
            Ok(history) => history,
            Err(err) => {
                // Counted as present since `enter`; not for a refused join.
                if let Err(cause) = engine.presence().leave(&session, self.conn).await {
                    tracing::debug!(cause = %cause, "presence not cleared; it expires by itself");
                }
                return Err(err);
            }
        };
        let last = messages.last().and_then(|m| m.id.parse().ok()).or(after);
        self.send(&ServerFrame::Joined {
            v: PROTOCOL_VERSION,
            you: you.clone(),
            title: info.title,
            ended: info.ended,
            max_message_bytes: engine.settings().max_message_bytes,
        })
        .await;
        self.engine
            .metrics_handle()
            .messages_out(messages.len() as u64);
        self.send(&ServerFrame::History {
            messages,
            resumed: after.is_some(),
            gap,
        })
        .await;

        let rate = RateLimit::new(engine.settings().messages_per_second, Instant::now());
        Ok(Joined {
            session,
            you,
            membership,
            last,
            rate,
            last_typing: None,
            behind: false,
        })
    }

    /// Serves a joined connection; says how it ended.
    async fn serve(&mut self, joined: &mut Joined) -> &'static str {
        let shutdown = self.engine.shutdown_token();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    self.close(close_code::AWAY, "going away").await;
                    return "instance shutting down";
                }
                delivery = joined.membership.receiver.recv() => match delivery {
                    Ok(delivery) => {
                        if let Some(id) = delivery.id {
                            if joined.behind || joined.last.is_some_and(|last| id <= last) {
                                continue;
                            }
                            joined.last = Some(id);
                            self.engine.metrics_handle().messages_out(1);
                        }
                        if self.socket.send(Message::Text(delivery.frame.clone())).await.is_err() {
                            return "client gone";
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "socket fell behind; resynchronising from the stream");
                        joined.behind = !Box::pin(self.resync(joined)).await;
                    }
                    Err(RecvError::Closed) => return "room closed",
                },
                // Made only when polled, so a socket that is not behind
                // builds no timer per delivery.
                _ = async { tokio::time::sleep(RESYNC_RETRY).await }, if joined.behind => {
                    joined.behind = !Box::pin(self.resync(joined)).await;
                }
                incoming = self.socket.recv() => {
                    let frame = match self.read(incoming).await {
                        None => return "client left",
                        Some(None) => continue,
                        Some(Some(frame)) => frame,
                    };
                    Box::pin(self.handle(joined, frame)).await;
                }
            }
        }
    }

    async fn handle(&mut self, joined: &mut Joined, frame: ClientFrame) {
        let engine = self.engine.clone();
        match frame {
            ClientFrame::Send { client_id, text } => {
                let posted = async {
                    limits::check_message(&client_id, &text, engine.settings().max_message_bytes)?;
                    joined.rate.take(Instant::now())?;
                    engine
                        .store()
                        .post(&joined.session, &joined.you, &client_id, &text)
                        .await
                }
                .await;
                match posted {
                    Ok(posted) => {
                        if !posted.duplicate {
                            engine.metrics_handle().message_in();
                        }
                        self.send(&ServerFrame::Ack {
                            client_id,
                            id: posted.id.to_string(),
                        })
                        .await;
                    }
                    Err(err) => self.send_error(&err, Some(client_id)).await,
                }
            }
            ClientFrame::Typing => {
                let now = Instant::now();
                if joined
                    .last_typing
                    .is_none_or(|at| now.duration_since(at) >= limits::TYPING_EVERY)
                {
                    joined.last_typing = Some(now);
                    let frame = ServerFrame::Typing {
                        participant: joined.you.clone(),
                    };
                    if let Err(err) = engine.publish(&joined.session, &frame).await {
                        tracing::debug!(cause = %err, "typing notice dropped");
                    }
                }
            }
            ClientFrame::EndSession => {
                if let Err(err) = engine.end(&joined.session, &joined.you).await {
                    self.send_error(&err, None).await;
                }
            }
            ClientFrame::Ping { nonce } => self.send(&ServerFrame::Pong { nonce }).await,
            ClientFrame::Join { .. } => {
                self.send(&ServerFrame::error(
                    ErrorCode::NotJoined,
                    "This connection has already joined.",
                ))
                .await
            }
        }
    }

    /// Sends what the socket missed after falling behind its room: the
    /// messages from the stream, then who is online and whether the session
    /// ended, since the events it skipped are not stored anywhere. Returns
    /// false when Redis could not be read; the socket then stays behind,
    /// passes no live message on, and tries again.
    async fn resync(&mut self, joined: &mut Joined) -> bool {
        let engine = self.engine.clone();
        let Ok(CatchUp {
            missed: Missed { messages, gap },
            online,
            ended,
        }) = engine
            .sources()
            .catch_up(&joined.session, joined.last, JOIN_HISTORY)
            .await
        else {
            return false;
        };
        if let Some(last) = messages.last().and_then(|m| m.id.parse().ok()) {
            joined.last = Some(last);
        }
        engine.metrics_handle().messages_out(messages.len() as u64);
        self.send(&ServerFrame::History {
            messages,
            resumed: true,
            gap,
        })
        .await;
        self.send(&ServerFrame::Presence { online }).await;
        if ended {
            self.send(&ServerFrame::Ended).await;
        }
        true
    }

    /// Reads one incoming WebSocket message: `None` when the connection is
    /// over, `Some(None)` when the frame was answered with an error (or was
    /// a control frame), `Some(Some(frame))` for a frame to act on.
    async fn read(
        &mut self,
        incoming: Option<Result<Message, axum::Error>>,
    ) -> Option<Option<ClientFrame>> {
        let text = match incoming {
            None | Some(Ok(Message::Close(_))) => return None,
            Some(Err(err)) => {
                tracing::debug!(cause = %err, "socket failed");
                self.engine.metrics_handle().connection_error();
                return None;
            }
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => {
                self.send(&ServerFrame::error(
                    ErrorCode::BadFrame,
                    "Frames are JSON text.",
                ))
                .await;
                return Some(None);
            }
            Some(Ok(_)) => return Some(None),
        };
        match limits::decode(text.as_str(), self.engine.settings().max_message_bytes) {
            Ok(frame) => Some(Some(frame)),
            Err(err) => {
                self.send_error(&err, None).await;
                Some(None)
            }
        }
    }

    async fn send_error(&mut self, err: &ChatError, client_id: Option<String>) {
        self.send(&ServerFrame::Error {
            code: err.code(),
            message: err.to_string(),
            client_id,
        })
        .await;
    }

    async fn send(&mut self, frame: &ServerFrame) {
        let text = relay::frame_json(frame);
        // A failed write shows up as the end of the stream on the next read.
        let _ = self.socket.send(Message::Text(text.into())).await;
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
    }
}
