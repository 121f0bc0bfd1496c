//! The instance's one Redis subscription, shared by every engine.
//!
//! Engines ask for channels; the subscriber holds a single pub/sub connection
//! for all of them, fans each message out to the receivers of its channel, and
//! after a lost connection reconnects with backoff and subscribes again to
//! every channel still wanted. Messages published while it was disconnected
//! are gone: an engine that cannot afford that watches [`Subscriber::epoch`]
//! and catches up from what Redis stores (the chat from its stream, the queue
//! from its lists).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::CommandCounter;

/// A message as it arrived on a channel; each receiver knows its channel.
#[derive(Debug, Clone)]
pub struct Message {
    pub payload: Bytes,
}

/// Where one channel's messages go, and who pays for its SUBSCRIBE.
struct Route {
    sender: broadcast::Sender<Message>,
    counter: Arc<CommandCounter>,
    /// Whether Redis has confirmed the SUBSCRIBE on the current connection.
    confirmed: bool,
    /// Callers waiting for that confirmation.
    waiting: Vec<oneshot::Sender<()>>,
}

/// A handle on the shared subscription; cheap to clone.
#[derive(Clone)]
pub struct Subscriber {
    routes: Arc<Mutex<HashMap<Arc<str>, Route>>>,
    /// Asks the connection task to SUBSCRIBE or UNSUBSCRIBE.
    requests: mpsc::UnboundedSender<Request>,
    /// Whether the connection is up and subscribed right now.
    live: Arc<AtomicBool>,
    /// Counts the (re)connections that completed, so engines notice a gap.
    epoch: watch::Receiver<u64>,
}

enum Request {
    Subscribe(Arc<str>),
    Unsubscribe(Arc<str>),
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long `subscribe` waits for Redis to confirm.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(3);

impl Subscriber {
    /// Starts the connection task; it stops when `shutdown` is cancelled.
    pub fn spawn(client: redis::Client, shutdown: CancellationToken) -> Self {
        let (requests, inbox) = mpsc::unbounded_channel();
        let (epoch_tx, epoch) = watch::channel(0);
        let subscriber = Subscriber {
            routes: Arc::default(),
            requests,
            live: Arc::default(),
            epoch,
        };
        tokio::spawn(run(client, subscriber.clone(), inbox, epoch_tx, shutdown));
        subscriber
    }

    /// Receives every message published on `channel` from now on. The first
    /// receiver of a channel makes the SUBSCRIBE, counted in `counter`, and
    /// sets its `capacity`: how many messages a slow receiver may fall
    /// behind before it is told it lagged (and resynchronises from what
    /// Redis stores; it is never silently skipped). Each channel allocates
    /// its capacity up front, so one per chat room wants a small one.
    ///
    /// Returns once Redis has confirmed the subscription, so a caller that
    /// reads the current state next misses no message published after it.
    /// While Redis is unreachable it returns after `CONFIRM_TIMEOUT` without
    /// that promise; the epoch then changes when the subscription is back.
    pub async fn subscribe(
        &self,
        channel: &str,
        counter: &Arc<CommandCounter>,
        capacity: usize,
    ) -> broadcast::Receiver<Message> {
        let (receiver, confirmed) = self.register(channel, counter, capacity);
        if let Some(confirmed) = confirmed {
            let _ = tokio::time::timeout(CONFIRM_TIMEOUT, confirmed).await;
        }
        receiver
    }

    fn register(
        &self,
        channel: &str,
        counter: &Arc<CommandCounter>,
        capacity: usize,
    ) -> (broadcast::Receiver<Message>, Option<oneshot::Receiver<()>>) {
        let mut routes = self.routes.lock().expect("subscriber routes lock poisoned");
        if let Some(route) = routes.get_mut(channel) {
            let receiver = route.sender.subscribe();
            if route.confirmed {
                return (receiver, None);
            }
            let (tx, rx) = oneshot::channel();
            route.waiting.push(tx);
            return (receiver, Some(rx));
        }
        let channel: Arc<str> = channel.into();
        let (sender, receiver) = broadcast::channel(capacity);
        let (tx, rx) = oneshot::channel();
        let route = Route {
            sender,
            counter: counter.clone(),
            confirmed: false,
            waiting: vec![tx],
        };
        routes.insert(channel.clone(), route);
        let _ = self.requests.send(Request::Subscribe(channel));
        (receiver, Some(rx))
    }

    /// Stops receiving `channel` when no receiver is left for it.
    pub fn release(&self, channel: &str) {
        let mut routes = self.routes.lock().expect("subscriber routes lock poisoned");
        if routes
            .get(channel)
            .is_some_and(|r| r.sender.receiver_count() == 0)
        {
            routes.remove(channel);
            let _ = self.requests.send(Request::Unsubscribe(channel.into()));
        }
    }

    /// Whether the subscription connection is up.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Relaxed)
    }

    /// Changes each time the connection is (re)established and every channel
    /// subscribed again.
    pub fn epoch(&self) -> watch::Receiver<u64> {
        self.epoch.clone()
    }

    fn wanted(&self) -> Vec<(Arc<str>, Arc<CommandCounter>)> {
        let routes = self.routes.lock().expect("subscriber routes lock poisoned");
        routes
            .iter()
            .map(|(c, r)| (c.clone(), r.counter.clone()))
            .collect()
    }

    /// Hands `payload` to the receivers of `channel`; the payload is copied
    /// only for a channel that is wanted.
    fn deliver(&self, channel: &str, payload: &[u8]) {
        let routes = self.routes.lock().expect("subscriber routes lock poisoned");
        if let Some(route) = routes.get(channel) {
            // No receiver left is fine: `release` will tidy up.
            let _ = route.sender.send(Message {
                payload: Bytes::copy_from_slice(payload),
            });
        }
    }

    fn counter_of(&self, channel: &str) -> Option<Arc<CommandCounter>> {
        let routes = self.routes.lock().expect("subscriber routes lock poisoned");
        routes.get(channel).map(|r| r.counter.clone())
    }

    /// Marks `channel` subscribed and wakes whoever waits for it.
    fn confirm(&self, channel: &str) {
        let mut routes = self.routes.lock().expect("subscriber routes lock poisoned");
        if let Some(route) = routes.get_mut(channel) {
            route.confirmed = true;
            for waiter in route.waiting.drain(..) {
                let _ = waiter.send(());
            }
        }
    }

    /// After a lost connection nothing is subscribed any more.
    fn unconfirm_all(&self) {
        let mut routes = self.routes.lock().expect("subscriber routes lock poisoned");
        for route in routes.values_mut() {
            route.confirmed = false;
        }
    }
}

async fn run(
    client: redis::Client,
    subscriber: Subscriber,
    mut inbox: mpsc::UnboundedReceiver<Request>,
    epoch: watch::Sender<u64>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let session = tokio::select! {
            _ = shutdown.cancelled() => break,
            session = connect(&client, &subscriber) => session,
        };
        match session {
            Ok(pubsub) => {
                backoff = Duration::from_millis(100);
                subscriber.live.store(true, Ordering::Relaxed);
                epoch.send_modify(|e| *e += 1);
                let ended = serve(pubsub, &subscriber, &mut inbox, &shutdown).await;
                subscriber.live.store(false, Ordering::Relaxed);
                subscriber.unconfirm_all();
                if ended == Ended::Shutdown {
                    break;
                }
                tracing::warn!("Redis subscription lost; reconnecting");
            }
            Err(err) => tracing::warn!(cause = %err, "Redis subscription cannot connect; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    tracing::info!("Redis subscription closed on shutdown");
}

/// Connects and subscribes to every channel wanted so far.
async fn connect(
    client: &redis::Client,
    subscriber: &Subscriber,
) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    for (channel, counter) in subscriber.wanted() {
        counter.add(1);
        pubsub.subscribe(channel.as_ref()).await?;
        subscriber.confirm(&channel);
    }
    Ok(pubsub)
}

#[derive(PartialEq, Eq)]
enum Ended {
    Shutdown,
    Disconnected,
}

async fn serve(
    pubsub: redis::aio::PubSub,
    subscriber: &Subscriber,
    inbox: &mut mpsc::UnboundedReceiver<Request>,
    shutdown: &CancellationToken,
) -> Ended {
    let (mut sink, mut stream) = pubsub.split();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ended::Shutdown,
            message = stream.next() => match message {
                Some(msg) => subscriber.deliver(msg.get_channel_name(), msg.get_payload_bytes()),
                None => return Ended::Disconnected,
            },
            Some(request) = inbox.recv() => {
                // A channel wanted again before its UNSUBSCRIBE went out is
                // simply subscribed again; Redis treats both as idempotent.
                let result = match &request {
                    Request::Subscribe(channel) => {
                        if let Some(counter) = subscriber.counter_of(channel) {
                            counter.add(1);
                        }
                        let result = sink.subscribe(channel.as_ref()).await;
                        if result.is_ok() {
                            subscriber.confirm(channel);
                        }
                        result
                    }
                    Request::Unsubscribe(channel) => sink.unsubscribe(channel.as_ref()).await,
                };
                if let Err(err) = result {
                    tracing::warn!(cause = %err, "Redis subscription request failed");
                    return Ended::Disconnected;
                }
            }
        }
    }
}
