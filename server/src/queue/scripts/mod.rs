//! The Lua scripts that make every state change of a queue atomic, and the
//! helpers that read their replies.
//!
//! Each script is `common.lua` (keys, clock, records, events, wake-ups,
//! retention, metrics, deadline upkeep) followed by its own body. They are
//! hashed once per process and called with EVALSHA; after a Redis restart
//! without persistence the script cache is empty, and the client loads the
//! script and calls again (two more commands, once).

use std::sync::LazyLock;

use redis::{Script, Value};

use super::QueueError;

const COMMON: &str = include_str!("common.lua");

/// The queue's scripts, hashed once per process.
pub(crate) struct Scripts {
    /// Adds a job (1 command per enqueue).
    pub enqueue: Script,
    /// Claims jobs for free slots, after the upkeep of deadlines.
    pub claim: Script,
    /// Records an attempt's outcome and claims the next job for the slot.
    pub finish: Script,
    /// Stores progress and renews the lease (or only renews it).
    pub progress: Script,
    /// Admin operations and worker housekeeping.
    pub admin: Script,
    /// Counts, one job, pages of jobs, metrics, command usage.
    pub read: Script,
}

fn build(body: &str) -> Script {
    Script::new(&format!("{COMMON}\n{body}"))
}

/// The scripts every queue of the process shares.
pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    enqueue: build(include_str!("enqueue.lua")),
    claim: build(include_str!("claim.lua")),
    finish: build(include_str!("finish.lua")),
    progress: build(include_str!("progress.lua")),
    admin: build(include_str!("admin.lua")),
    read: build(include_str!("read.lua")),
});

/// A script reply, read field by field with errors that say what was wrong.
pub(crate) struct Reply(Vec<Value>);

impl Reply {
    pub fn new(value: Value) -> Result<Self, QueueError> {
        match value {
            Value::Array(items) => Ok(Reply(items)),
            other => Err(unexpected("an array", &other)),
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn value(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Nil)
    }

    pub fn string(&self, i: usize) -> Result<String, QueueError> {
        opt_string(self.value(i))?.ok_or_else(|| unexpected("a string", self.value(i)))
    }

    pub fn opt_string(&self, i: usize) -> Result<Option<String>, QueueError> {
        opt_string(self.value(i))
    }

    pub fn int(&self, i: usize) -> Result<i64, QueueError> {
        opt_int(self.value(i))?.ok_or_else(|| unexpected("a number", self.value(i)))
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, QueueError> {
        opt_int(self.value(i))
    }

    pub fn array(&self, i: usize) -> Result<Reply, QueueError> {
        Reply::new(self.value(i).clone())
    }

    /// The items from `i` on, each an array.
    pub fn rows_from(&self, i: usize) -> Result<Vec<Reply>, QueueError> {
        self.0
            .iter()
            .skip(i)
            .map(|v| Reply::new(v.clone()))
            .collect()
    }

    /// Every item as an optional string (HMGET and friends).
    pub fn strings(&self) -> Result<Vec<Option<String>>, QueueError> {
        self.0.iter().map(opt_string).collect()
    }

    /// A flat `field, value, field, value` array as pairs.
    pub fn pairs(&self) -> Result<Vec<(String, String)>, QueueError> {
        self.strings()?
            .chunks(2)
            .map(|pair| match pair {
                [Some(k), Some(v)] => Ok((k.clone(), v.clone())),
                _ => Err(QueueError::Reply("a field without its value".into())),
            })
            .collect()
    }
}

pub(crate) fn opt_string(value: &Value) -> Result<Option<String>, QueueError> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => String::from_utf8(bytes.clone())
            .map(Some)
            .map_err(|_| QueueError::Reply("a string that is not UTF-8".into())),
        Value::SimpleString(s) => Ok(Some(s.clone())),
        Value::Okay => Ok(Some("OK".into())),
        Value::Int(n) => Ok(Some(n.to_string())),
        other => Err(unexpected("a string", other)),
    }
}

pub(crate) fn opt_int(value: &Value) -> Result<Option<i64>, QueueError> {
    match value {
        Value::Nil => Ok(None),
        Value::Int(n) => Ok(Some(*n)),
        Value::BulkString(_) | Value::SimpleString(_) => {
            let s = opt_string(value)?.unwrap_or_default();
            s.parse::<f64>()
                .map(|f| Some(f as i64))
                .map_err(|_| QueueError::Reply(format!("{s:?} is not a number")))
        }
        other => Err(unexpected("a number", other)),
    }
}

fn unexpected(wanted: &str, got: &Value) -> QueueError {
    QueueError::Reply(format!("expected {wanted}, got {got:?}"))
}
