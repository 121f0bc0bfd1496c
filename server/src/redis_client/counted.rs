//! A Redis handle that counts the commands it sends.
//!
//! Hosted Redis bills per command, so every engine sends its commands through
//! a handle with its own [`CommandCounter`]. A pipeline counts one per command
//! in it; a Lua script call counts one, as the provider bills it.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use redis::{
    aio::{ConnectionLike, ConnectionManager},
    Cmd, Pipeline, RedisFuture, Value,
};

/// The number of commands sent through the handles that share it.
#[derive(Debug, Default)]
pub struct CommandCounter(AtomicU64);

impl CommandCounter {
    /// Commands sent so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts commands sent on a connection the handle does not see, such as
    /// a subscription or a blocking wait.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// A cheap-to-clone handle on the process's multiplexed Redis connection.
#[derive(Clone)]
pub struct Redis {
    /// Shared by every handle: one multiplexed connection per process is
    /// enough, and it reconnects by itself after a Redis restart.
    manager: ConnectionManager,
    /// Where this handle counts what it sends.
    counter: Arc<CommandCounter>,
}

impl Redis {
    pub(super) fn new(manager: ConnectionManager) -> Self {
        Redis {
            manager,
            counter: Arc::default(),
        }
    }

    /// The same connection, counting into `counter` instead.
    pub fn counted(&self, counter: Arc<CommandCounter>) -> Redis {
        Redis {
            manager: self.manager.clone(),
            counter,
        }
    }

    /// The counter this handle counts into.
    pub fn counter(&self) -> &Arc<CommandCounter> {
        &self.counter
    }
}

impl ConnectionLike for Redis {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.counter.add(1);
        self.manager.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        // A transaction adds MULTI and EXEC, which are billed too.
        let extra = if cmd.is_transaction() { 2 } else { 0 };
        self.counter.add(cmd.len() as u64 + extra);
        self.manager.req_packed_commands(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.manager.get_db()
    }
}
