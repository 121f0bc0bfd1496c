//! The Redis adapter's local side: one room per session that has a member
//! on this instance, fed by the instance's one shared subscription.
//!
//! A room's task holds the session's channel on the [`Subscriber`], reads
//! each payload once, and hands its sockets a ready-made frame through a
//! broadcast. Messages reach sockets only this way, also those sent on this
//! instance, so each socket sees every message once and in the stream's
//! order. When the subscription was lost (the epoch changed) or the room
//! fell behind, the room catches up from the stream instead of skipping.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use app::chat::protocol::{ChatMessage, Participant, ServerFrame};
use axum::extract::ws::Utf8Bytes;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::{
    keys,
    metrics::ChatMetrics,
    presence::Presence,
    relay::{self, Relayed, StreamId},
    sessions::Sessions,
    store::{Missed, Store},
    ChatError,
};
use crate::{
    clock::now_ms,
    redis_client::{CommandCounter, Subscriber},
};

/// How many frames a socket may fall behind its room before it is told it
/// lagged and resynchronises from the stream. Every room allocates this many
/// slots when it opens, so it is kept small: falling behind costs the slow
/// socket one read of the stream, and loses nothing.
const ROOM_CAPACITY: usize = 128;
/// How many published payloads the room's own task may fall behind the
/// subscription before it catches up from the stream. The task only parses
/// each payload once, so it rarely lags at all.
const INBOX_CAPACITY: usize = 64;

/// One frame for the sockets of a room.
#[derive(Debug)]
pub struct Delivery {
    /// The message's stream id; `None` for events, which carry no order.
    pub id: Option<StreamId>,
    pub frame: Utf8Bytes,
}

struct Room {
    sender: broadcast::Sender<Arc<Delivery>>,
    /// Sockets of this instance in the room; the room closes at zero.
    members: usize,
    /// Becomes true once the subscription is confirmed and the room knows
    /// where the stream stands.
    ready: watch::Receiver<bool>,
    stop: CancellationToken,
}

/// How soon a room that could not catch up with the stream tries again.
const CATCH_UP_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// What a room reads besides its channel: the stream to catch up from, and
/// who is online and whether the session ended, to tell its sockets after a
/// gap in which those events went by.
#[derive(Clone)]
pub struct RoomSources {
    pub store: Store,
    pub presence: Presence,
    pub sessions: Sessions,
}

/// What went by a reader that stopped following its room's channel: the
/// messages, and the events that are not stored (who is online, whether the
/// session ended).
pub struct CatchUp {
    pub missed: Missed,
    pub online: Vec<Participant>,
    pub ended: bool,
}

impl RoomSources {
    /// What a reader that saw up to `after` has missed; a reader that saw
    /// nothing yet gets the latest `recent` messages.
    pub async fn catch_up(
        &self,
        session: &str,
        after: Option<StreamId>,
        recent: usize,
    ) -> Result<CatchUp, ChatError> {
        Ok(CatchUp {
            missed: self.store.since(session, after, recent).await?,
            online: self.presence.online(session).await?,
            ended: self.sessions.info(session).await?.ended,
        })
    }
}

/// This instance's rooms.
#[derive(Clone)]
pub struct Rooms {
    subscriber: Subscriber,
    counter: Arc<CommandCounter>,
    sources: RoomSources,
    metrics: Arc<ChatMetrics>,
    /// Session → room. A std mutex: it is held for map updates only.
    rooms: Arc<Mutex<HashMap<String, Room>>>,
}

/// A socket's place in a room; leaving the room when dropped.
pub struct Membership {
    rooms: Rooms,
    session: String,
    pub receiver: broadcast::Receiver<Arc<Delivery>>,
}

impl Rooms {
    pub fn new(
        subscriber: Subscriber,
        counter: Arc<CommandCounter>,
        sources: RoomSources,
        metrics: Arc<ChatMetrics>,
    ) -> Self {
        Rooms {
            subscriber,
            counter,
            sources,
            metrics,
            rooms: Arc::default(),
        }
    }

    /// Enters the room of `session`, opening it (and subscribing) when this
    /// is its first local member. Returns once the room is live, so the
    /// caller may read history next without missing what follows it.
    pub async fn enter(&self, session: &str) -> Membership {
        let (receiver, mut ready) = {
            let mut rooms = self.rooms.lock().expect("rooms lock poisoned");
            let room = rooms
                .entry(session.to_string())
                .or_insert_with(|| self.open(session));
            room.members += 1;
            (room.sender.subscribe(), room.ready.clone())
        };
        let membership = Membership {
            rooms: self.clone(),
            session: session.to_string(),
            receiver,
        };
        // A room that cannot confirm (Redis down) still lets the socket in;
        // it catches up when the subscription returns.
        let _ = ready.wait_for(|ready| *ready).await;
        membership
    }

    /// How many rooms are open on this instance.
    pub fn open_rooms(&self) -> usize {
        self.rooms.lock().expect("rooms lock poisoned").len()
    }

    fn open(&self, session: &str) -> Room {
        let (sender, _) = broadcast::channel(ROOM_CAPACITY);
        let (ready_tx, ready) = watch::channel(false);
        let stop = CancellationToken::new();
        let task = RoomTask {
            session: session.to_string(),
            subscriber: self.subscriber.clone(),
            counter: self.counter.clone(),
            sources: self.sources.clone(),
            metrics: self.metrics.clone(),
            sender: sender.clone(),
        };
        tokio::spawn(task.run(ready_tx, stop.clone()));
        Room {
            sender,
            members: 0,
            ready,
            stop,
        }
    }

    fn leave(&self, session: &str) {
        let mut rooms = self.rooms.lock().expect("rooms lock poisoned");
        if let Some(room) = rooms.get_mut(session) {
            room.members -= 1;
            if room.members == 0 {
                room.stop.cancel();
                rooms.remove(session);
            }
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.rooms.leave(&self.session);
    }
}

struct RoomTask {
    session: String,
    subscriber: Subscriber,
    counter: Arc<CommandCounter>,
    sources: RoomSources,
    metrics: Arc<ChatMetrics>,
    sender: broadcast::Sender<Arc<Delivery>>,
}

impl RoomTask {
    async fn run(self, ready: watch::Sender<bool>, stop: CancellationToken) {
        let channel = keys::channel(&self.session);
        let mut inbox = self
            .subscriber
            .subscribe(&channel, &self.counter, INBOX_CAPACITY)
            .await;
        let mut epoch = self.subscriber.epoch();
        epoch.borrow_and_update();

        // Where the stream stands now: anything up to here is in the history
        // every socket reads after the room is ready. A room that cannot
        // tell starts behind, and catches up once Redis answers.
        let (mut last, mut behind) = match self.sources.store.last_id(&self.session).await {
            Ok(last) => (last, false),
            Err(_) => (None, true),
        };
        let _ = ready.send(true);

        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                received = inbox.recv() => match received {
                    Ok(message) => self.relay(&message.payload, &mut last, behind),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(session = %self.session, missed, "room fell behind its channel; catching up from the stream");
                        behind = !self.catch_up(&mut last).await;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                changed = epoch.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    // Messages published while the subscription was down are
                    // only in the stream now.
                    behind = !self.catch_up(&mut last).await;
                }
                // Made only when polled, so a room that is not behind builds
                // no timer per payload.
                _ = async { tokio::time::sleep(CATCH_UP_RETRY).await }, if behind => {
                    behind = !self.catch_up(&mut last).await;
                }
            }
        }
        drop(inbox);
        self.subscriber.release(&channel);
    }

    /// Passes one payload on. While the room is behind, messages are left
    /// for the catch-up, which reads them from the stream in order.
    fn relay(&self, payload: &[u8], last: &mut Option<StreamId>, behind: bool) {
        match relay::parse(payload) {
            Some(Relayed::Message(..)) if behind => {}
            Some(Relayed::Message(id, message)) => self.forward(id, message, last),
            Some(Relayed::Event(frame)) => self.deliver(None, frame.to_string().into()),
            None => {
                tracing::warn!(session = %self.session, "ignored a payload this version cannot read")
            }
        }
    }

    fn forward(&self, id: StreamId, message: ChatMessage, last: &mut Option<StreamId>) {
        if last.is_some_and(|last| id <= last) {
            return;
        }
        *last = Some(id);
        self.metrics.record_lag(now_ms().saturating_sub(id.ms));
        self.deliver(
            Some(id),
            relay::frame_json(&ServerFrame::Message { message }).into(),
        );
    }

    /// Forwards what the stream holds after `last`, then who is online and
    /// whether the session ended, since the events that went by in the gap
    /// are not stored. Returns false when Redis could not be read.
    async fn catch_up(&self, last: &mut Option<StreamId>) -> bool {
        // A room that knows no message yet opened on an empty stream (or
        // could not read it): everything in the stream is then new to it.
        let after = last.unwrap_or(StreamId { ms: 0, seq: 0 });
        let CatchUp {
            missed,
            online,
            ended,
        } = match self.sources.catch_up(&self.session, Some(after), 0).await {
            Ok(caught_up) => caught_up,
            Err(err) => {
                tracing::warn!(session = %self.session, cause = %err, "room could not catch up; trying again");
                return false;
            }
        };
        if missed.gap && last.is_some() {
            // Trimmed past what this room last passed on: its sockets are
            // told that some messages may be missing to them.
            self.event(&ServerFrame::History {
                messages: Vec::new(),
                resumed: true,
                gap: true,
            });
        }
        for message in missed.messages {
            if let Ok(id) = message.id.parse() {
                self.forward(id, message, last);
            }
        }
        self.event(&ServerFrame::Presence { online });
        if ended {
            self.event(&ServerFrame::Ended);
        }
        true
    }

    fn event(&self, frame: &ServerFrame) {
        self.deliver(None, relay::frame_json(frame).into());
    }

    fn deliver(&self, id: Option<StreamId>, frame: Utf8Bytes) {
        let _ = self.sender.send(Arc::new(Delivery { id, frame }));
    }
}
