//! The Redis side of the start page's system check: store a note, count the
//! round trip, read the note back, in one pipelined request.

use app::{
    api::{AppError, RoundTrip},
    backend::SystemCheck,
};
use async_trait::async_trait;

use crate::redis_client::Redis;

/// Every key the system check writes.
mod keys {
    pub const NOTE: &str = "syscheck:note";
    pub const COUNT: &str = "syscheck:count";
}

/// Serves [`SystemCheck`] from Redis.
pub struct RedisSystemCheck {
    pub redis: Redis,
    pub instance_id: String,
    /// Where the admin pages are open (see [`Config::open_admin`]). Elsewhere
    /// the check is refused: it names the instance, and anyone could spend
    /// the Redis plan's commands on it.
    ///
    /// [`Config::open_admin`]: crate::config::Config::open_admin
    pub open: bool,
}

#[async_trait]
impl SystemCheck for RedisSystemCheck {
    async fn round_trip(&self, note: &str) -> Result<RoundTrip, AppError> {
        if !self.open {
            return Err(AppError::Forbidden(
                "The system check is open in development only.".into(),
            ));
        }
        let mut conn = self.redis.clone();
        let (count, value): (u64, String) = redis::pipe()
            .set(keys::NOTE, note)
            .ignore()
            .incr(keys::COUNT, 1)
            .get(keys::NOTE)
            .query_async(&mut conn)
            .await
            .map_err(|err| {
                tracing::warn!(cause = %err, "system check could not reach Redis");
                AppError::Unavailable("Redis is not reachable right now; try again shortly.".into())
            })?;
        Ok(RoundTrip {
            value,
            count,
            instance: self.instance_id.clone(),
        })
    }
}
