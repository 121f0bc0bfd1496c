//! The chat engine: tutoring sessions and who may enter them, the `/ws`
//! endpoint, and the Redis adapter that carries messages across instances.
//! It knows nothing of jobs or reports.
//!
//! - [`sessions`]: sessions, tokens and roles; [`tokens`]: how tokens are
//!   made and checked.
//! - [`store`]: the per-session stream (the transcript) and the one script
//!   that stores and publishes a message.
//! - [`rooms`]: one room per session with a local member, fed by the
//!   instance's one subscription; [`relay`]: what travels between instances.
//! - [`presence`]: who is online, across instances, with expiry.
//! - [`socket`]: one connection; [`limits`]: what one connection may do.
//! - [`keys`]: every Redis key the chat writes.
//!
//! Other parts of the server use [`ChatEngine`]: reports check access with
//! [`ChatEngine::check_token`] and read [`ChatEngine::transcript`];
//! operations read [`ChatEngine::metrics`] and [`ChatEngine::commands_sent`].

mod backend;
mod error;
pub mod keys;
mod limits;
mod metrics;
mod presence;
pub mod relay;
mod rooms;
mod sessions;
mod socket;
mod store;
pub mod tokens;

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use app::chat::protocol::{ChatMessage, Participant, Role, ServerFrame};
use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;

pub use error::ChatError;
pub use metrics::{ChatMetrics, MetricsSnapshot};
pub use presence::MAX_CONNECTIONS_PER_PARTICIPANT;
pub use sessions::{NewSession, SessionInfo};
pub use socket::upgrade;

use self::{
    presence::Presence,
    rooms::{RoomSources, Rooms},
    sessions::Sessions,
    store::Store,
};
use crate::{
    config::ChatSettings,
    redis_client::{CommandCounter, Redis, Subscriber},
};

/// The chat of one instance; cheap to clone.
#[derive(Clone)]
pub struct ChatEngine {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ChatSettings,
    /// Counts into `counter`, so the chat's share of the Redis bill shows.
    redis: Redis,
    counter: Arc<CommandCounter>,
    sources: RoomSources,
    rooms: Rooms,
    metrics: Arc<ChatMetrics>,
    /// Cancelled on SIGTERM: every socket closes with "going away".
    shutdown: CancellationToken,
    /// Numbers the connections of this instance for their log spans.
    next_connection: AtomicU64,
}

impl ChatEngine {
    /// Builds the engine on the instance's connection and subscription and
    /// starts its presence heartbeat, which stops on `shutdown`.
    pub fn start(
        redis: &Redis,
        subscriber: Subscriber,
        settings: ChatSettings,
        instance_id: &str,
        shutdown: CancellationToken,
    ) -> Self {
        let counter = Arc::new(CommandCounter::default());
        let redis = redis.counted(counter.clone());
        let metrics = Arc::new(ChatMetrics::default());
        let store = Store::new(redis.clone(), settings.history_len);
        let presence = Presence::new(redis.clone(), instance_id, settings.presence_ttl);
        let sessions = Sessions::new(redis.clone());
        let sources = RoomSources {
            store,
            presence: presence.clone(),
            sessions,
        };
        let rooms = Rooms::new(
            subscriber,
            counter.clone(),
            sources.clone(),
            metrics.clone(),
        );
        tokio::spawn(presence.run_heartbeat(shutdown.clone()));
        let inner = Inner {
            settings,
            redis,
            counter,
            sources,
            rooms,
            metrics,
            shutdown,
            next_connection: AtomicU64::new(1),
        };
        ChatEngine {
            inner: Arc::new(inner),
        }
    }

    /// The participant (with their role) that `token` stands for in
    /// `session`; [`ChatError::Unauthorized`] for anyone else. Reports use
    /// it so that exactly who may chat may ask for a report.
    pub async fn check_token(&self, session: &str, token: &str) -> Result<Participant, ChatError> {
        self.inner.sources.sessions.check(session, token).await
    }

    /// Whether `session` exists.
    pub async fn session_exists(&self, session: &str) -> Result<bool, ChatError> {
        self.inner.sources.sessions.exists(session).await
    }

    /// The stored transcript of `session`, oldest first: author (id, name,
    /// role), text and time of each message. Read only.
    pub async fn transcript(&self, session: &str) -> Result<Vec<ChatMessage>, ChatError> {
        self.inner.sources.store.transcript(session).await
    }

    /// Creates a session; see [`Sessions::create`].
    pub async fn create_session(
        &self,
        title: &str,
        tutor_name: &str,
    ) -> Result<NewSession, ChatError> {
        self.inner.sources.sessions.create(title, tutor_name).await
    }

    /// Admits a student with the invite; returns them and their token.
    pub async fn admit(
        &self,
        session: &str,
        invite: &str,
        name: &str,
    ) -> Result<(Participant, String), ChatError> {
        self.inner
            .sources
            .sessions
            .admit(session, invite, name)
            .await
    }

    /// The title and state of `session`.
    pub async fn session_info(&self, session: &str) -> Result<SessionInfo, ChatError> {
        self.inner.sources.sessions.info(session).await
    }

    /// Who is online in `session` now, across every instance.
    pub async fn online(&self, session: &str) -> Result<Vec<Participant>, ChatError> {
        self.inner.sources.presence.online(session).await
    }

    /// Ends `session` when a tutor asks: no more posts, and every client is
    /// told.
    pub async fn end(&self, session: &str, by: &Participant) -> Result<(), ChatError> {
        if by.role != Role::Tutor {
            return Err(ChatError::Forbidden);
        }
        self.inner.sources.sessions.mark_ended(session).await?;
        self.publish(session, &ServerFrame::Ended).await
    }

    /// Passes `frame` to every socket of `session` on every instance.
    pub async fn publish(&self, session: &str, frame: &ServerFrame) -> Result<(), ChatError> {
        let mut redis = self.inner.redis.clone();
        let () = redis
            .publish(keys::channel(session), relay::event(frame))
            .await?;
        Ok(())
    }

    /// The chat's counters now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// Redis commands the chat has sent, subscriptions included.
    pub fn commands_sent(&self) -> u64 {
        self.inner.counter.get()
    }

    /// Sessions with a member on this instance.
    pub fn open_rooms(&self) -> usize {
        self.inner.rooms.open_rooms()
    }

    /// The limits in force.
    pub fn settings(&self) -> &ChatSettings {
        &self.inner.settings
    }

    fn sources(&self) -> &RoomSources {
        &self.inner.sources
    }

    fn sessions(&self) -> &Sessions {
        &self.inner.sources.sessions
    }

    fn store(&self) -> &Store {
        &self.inner.sources.store
    }

    fn presence(&self) -> &Presence {
        &self.inner.sources.presence
    }

    fn rooms(&self) -> &Rooms {
        &self.inner.rooms
    }

    fn metrics_handle(&self) -> &ChatMetrics {
        &self.inner.metrics
    }

    fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    fn next_connection_id(&self) -> u64 {
        self.inner.next_connection.fetch_add(1, Ordering::Relaxed)
    }
}
