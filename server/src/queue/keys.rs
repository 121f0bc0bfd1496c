//! Every Redis key and channel of a queue, named in this one place.
//!
//! All keys of a queue share the hash tag `{name}`, so they live in one slot
//! of a Redis Cluster. The job records are kept column by column (one hash per
//! field, keyed by job id) rather than one hash per job: the set of keys is
//! then fixed, and every script receives every key it may touch in `KEYS`
//! without building a key name of its own.
//!
//! The order of [`KEY_NAMES`] is the order the Lua prelude (`common.lua`)
//! reads them in; change both together.

/// The suffix of each key, in the order the scripts receive them.
///
/// | key | type | holds |
/// |---|---|---|
/// | `wait` | list | ids of waiting jobs; claimed from the right |
/// | `active` | sorted set | ids of active jobs, scored by lease expiry (ms) |
/// | `delayed` | sorted set | ids of delayed jobs, scored by when they are due |
/// | `completed`, `failed` | sorted set | finished ids, scored by when they finished |
/// | `meta` | hash | `paused`, the published deadline |
/// | `idle` | sorted set | instances with free slots that found no work |
/// | `starts` | sorted set | start times inside the rate-limit window |
/// | `data` | hash | id → payload (JSON) |
/// | `opts` | hash | id → `created|attempts|backoff_ms|max_stalls` |
/// | `run` | hash | id → `state|starts|fails|stalls|token|instance|started|finished|attempts` |
/// | `progress` | hash | id → `{"progress":..,"message":..}` |
/// | `hist` | hash | id → the timeline, a JSON array |
/// | `result` | hash | id → the handler's result (JSON) |
/// | `error` | hash | id → the error of the latest failed attempt |
/// | `metrics:0`, `metrics:1` | hash | per-minute counts of even and odd hours |
/// | `daily` | hash | day number → commands the clients reported |
pub const KEY_NAMES: [&str; 18] = [
    "wait",
    "active",
    "delayed",
    "completed",
    "failed",
    "meta",
    "idle",
    "starts",
    "data",
    "opts",
    "run",
    "progress",
    "hist",
    "result",
    "error",
    "metrics:0",
    "metrics:1",
    "daily",
];

/// The keys and channels of one queue.
#[derive(Debug, Clone)]
pub struct Keys {
    /// `q:{name}:`, also the prefix of the channels the scripts publish on.
    prefix: String,
    /// Every key, in [`KEY_NAMES`] order, ready to pass as `KEYS`.
    all: Vec<String>,
}

impl Keys {
    /// The keys of the queue called `name`.
    pub fn new(name: &str) -> Self {
        let prefix = format!("q:{{{name}}}:");
        let all = KEY_NAMES
            .iter()
            .map(|suffix| format!("{prefix}{suffix}"))
            .collect();
        Keys { prefix, all }
    }

    /// Every key, in the order the scripts expect them.
    pub fn all(&self) -> &[String] {
        &self.all
    }

    /// The prefix the scripts build channel names from.
    pub fn channel_prefix(&self) -> &str {
        &self.prefix
    }

    /// Where every job event of the queue is published, as JSON.
    pub fn events_channel(&self) -> String {
        format!("{}events", self.prefix)
    }

    /// Where the earliest deadline (a delayed job due, a lease expiring) is
    /// announced to every worker, as `<due_ms> <now_ms>` or `- <now_ms>`.
    pub fn schedule_channel(&self) -> String {
        format!("{}sched", self.prefix)
    }

    /// The channel one instance is woken on when work arrives for it.
    pub fn wake_channel(&self, instance: &str) -> String {
        format!("{}wake:{instance}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_shares_the_queue_hash_tag() {
        let keys = Keys::new("reports");
        assert_eq!(keys.all().len(), KEY_NAMES.len());
        assert!(keys.all().iter().all(|k| k.starts_with("q:{reports}:")));
        assert_eq!(keys.wake_channel("web-1"), "q:{reports}:wake:web-1");
    }
}
