//! Who is online, across every instance.
//!
//! Each open connection is a member of a sorted set per session, scored by
//! the time it expires. The instance refreshes all its members with one
//! `ZADD` per session it serves, on a timer, never per socket; when an
//! instance dies its members stop being refreshed and drop out after the
//! expiry. Whoever notices a change (a join, a leave, an expired member)
//! publishes the new list once, and every instance passes it on unread.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use app::chat::protocol::{Participant, Role};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{keys, ChatError};
use crate::clock::now_ms;
use crate::redis_client::Redis;

/// Drops expired members, checks the limits, adds one member. Returns 1 when
/// admitted, 0 when the session is full, -1 when this participant already
/// has their most connections open.
///
/// The last seat of a session is kept for its tutor while no tutor is
/// connected, so students (one with many tabs, or many with the invite)
/// cannot lock the tutor out of their own session.
///
/// KEYS: presence. ARGV: now (ms), expiry (ms), session limit, member,
/// participant id, per-participant limit, whether the participant is the
/// tutor (1 or 0).
static ENTER: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local mine, tutors = 0, 0
for _, raw in ipairs(members) do
  local ok, m = pcall(cjson.decode, raw)
  if ok and type(m) == 'table' and type(m.p) == 'table' then
    if m.p.id == ARGV[5] then mine = mine + 1 end
    if m.p.role == 'tutor' then tutors = tutors + 1 end
  end
end
local seats = tonumber(ARGV[3])
if ARGV[7] ~= '1' and tutors == 0 and seats > 1 then seats = seats - 1 end
if #members >= seats then return 0 end
if mine >= tonumber(ARGV[6]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
return 1
"#,
    )
});

/// Reads who is online and publishes the list in one step, so that lists
/// published by several instances arrive in the order they were read: a
/// list read before a leave can never overwrite one read after it.
///
/// The frame is the `presence` [`ServerFrame`] as serde writes it, each
/// participant once (tutors first, then by id), behind the relay's `e`.
///
/// KEYS: presence. ARGV: now (ms), the session's channel.
static ANNOUNCE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local people, ids = {}, {}
for _, raw in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')) do
  local ok, m = pcall(cjson.decode, raw)
  if ok and type(m) == 'table' and type(m.p) == 'table' and type(m.p.id) == 'string'
      and not people[m.p.id] then
    people[m.p.id] = m.p
    ids[#ids + 1] = m.p.id
  end
end
table.sort(ids, function(a, b)
  local ta, tb = people[a].role == 'tutor', people[b].role == 'tutor'
  if ta ~= tb then return ta end
  return a < b
end)
local online = {}
for i, id in ipairs(ids) do online[i] = cjson.encode(people[id]) end
redis.call('PUBLISH', ARGV[2],
  'e{"type":"presence","online":[' .. table.concat(online, ',') .. ']}')
return #ids
"#,
    )
});

/// Connections one participant may hold in a session at once (tabs and
/// devices); more would let one person fill the session.
pub const MAX_CONNECTIONS_PER_PARTICIPANT: usize = 5;

/// One connection as stored in the set.
#[derive(Serialize, Deserialize)]
struct Member {
    /// `<instance>/<connection>`: unique, so two tabs of one person are two
    /// members and closing one leaves the other online.
    c: String,
    p: Participant,
}

/// Presence of this instance's connections.
#[derive(Clone)]
pub struct Presence {
    redis: Redis,
    instance_id: Arc<str>,
    /// How long a member stays without a refresh.
    ttl: Duration,
    /// Session → connection → member: what this instance must keep fresh.
    local: Arc<Mutex<HashMap<String, HashMap<u64, String>>>>,
}

impl Presence {
    pub fn new(redis: Redis, instance_id: &str, ttl: Duration) -> Self {
        Presence {
            redis,
            instance_id: instance_id.into(),
            ttl,
            local: Arc::default(),
        }
    }

    /// Registers connection `conn` of `who`, unless the session already has
    /// `limit` connections, and tells everyone.
    pub async fn enter(
        &self,
        session: &str,
        conn: u64,
        who: &Participant,
        limit: usize,
    ) -> Result<(), ChatError> {
        let member = Member {
            c: format!("{}/{conn}", self.instance_id),
            p: who.clone(),
        };
        let member = serde_json::to_string(&member).expect("a member always serialises");
        let now = now_ms();
        let mut redis = self.redis.clone();
        let admitted: i64 = ENTER
            .key(keys::presence(session))
            .arg(now)
            .arg(now + self.ttl.as_millis() as u64)
            .arg(limit)
            .arg(&member)
            .arg(&who.id)
            .arg(MAX_CONNECTIONS_PER_PARTICIPANT)
            .arg(u8::from(who.role == Role::Tutor))
            .invoke_async(&mut redis)
            .await?;
        match admitted {
            0 => return Err(ChatError::SessionFull(limit)),
            -1 => {
                return Err(ChatError::TooManyConnections(
                    MAX_CONNECTIONS_PER_PARTICIPANT,
                ))
            }
            _ => {}
        }
        self.lock()
            .entry(session.to_string())
            .or_default()
            .insert(conn, member);
        // The member is in: a list that fails to go out now is corrected by
        // the next change, and must not refuse a join that took a seat.
        if let Err(err) = self.announce(session).await {
            tracing::debug!(cause = %err, "presence not announced after a join");
        }
        Ok(())
    }

    /// Removes connection `conn` and tells everyone.
    pub async fn leave(&self, session: &str, conn: u64) -> Result<(), ChatError> {
        let member = {
            let mut local = self.lock();
            let members = local.get_mut(session);
            let member = members.and_then(|m| m.remove(&conn));
            if local.get(session).is_some_and(|m| m.is_empty()) {
                local.remove(session);
            }
            member
        };
        if let Some(member) = member {
            let mut redis = self.redis.clone();
            let () = redis.zrem(keys::presence(session), member).await?;
            self.announce(session).await?;
        }
        Ok(())
    }

    /// The participants online in `session`, each once, tutors first.
    pub async fn online(&self, session: &str) -> Result<Vec<Participant>, ChatError> {
        let mut redis = self.redis.clone();
        let members: Vec<String> = redis
            .zrangebyscore(keys::presence(session), now_ms(), "+inf")
            .await?;
        let mut people = BTreeMap::new();
        for raw in members {
            if let Ok(member) = serde_json::from_str::<Member>(&raw) {
                people.insert(
                    (member.p.role != Role::Tutor, member.p.id.clone()),
                    member.p,
                );
            }
        }
        Ok(people.into_values().collect())
    }

    /// Publishes the current list to every instance; one command.
    pub async fn announce(&self, session: &str) -> Result<(), ChatError> {
        let mut redis = self.redis.clone();
        let _: i64 = ANNOUNCE
            .key(keys::presence(session))
            .arg(now_ms())
            .arg(keys::channel(session))
            .invoke_async(&mut redis)
            .await?;
        Ok(())
    }

    /// Refreshes this instance's members and drops expired ones of every
    /// session it serves, every third of the expiry, until `shutdown`.
    pub async fn run_heartbeat(self, shutdown: CancellationToken) {
        let period = self.ttl / 3;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(period) => {}
            }
            if let Err(err) = self.refresh().await {
                tracing::debug!(cause = %err, "presence refresh skipped");
            }
        }
        tracing::debug!("presence heartbeat stopped on shutdown");
    }

    /// One refresh: for each local session, `ZADD` every local member with a
    /// new expiry and remove the expired ones, in one pipeline; a session
    /// that lost members (a dead instance's) gets a new list announced.
    async fn refresh(&self) -> Result<(), ChatError> {
        let snapshot: Vec<(String, Vec<String>)> = self
            .lock()
            .iter()
            .map(|(session, members)| (session.clone(), members.values().cloned().collect()))
            .collect();
        if snapshot.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let expiry = now + self.ttl.as_millis() as u64;
        let mut pipe = redis::pipe();
        for (session, members) in &snapshot {
            let scored: Vec<(u64, &String)> = members.iter().map(|m| (expiry, m)).collect();
            pipe.zadd_multiple(keys::presence(session), &scored)
                .ignore();
            pipe.zrembyscore(keys::presence(session), "-inf", now);
        }
        let mut redis = self.redis.clone();
        let removed: Vec<u64> = pipe.query_async(&mut redis).await?;
        for ((session, _), removed) in snapshot.iter().zip(removed) {
            if removed > 0 {
                self.announce(session).await?;
            }
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<u64, String>>> {
        self.local.lock().expect("presence lock poisoned")
    }
}
