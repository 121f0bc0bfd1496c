//! The process's way to Redis: the URL (kept secret in logs), a connection
//! that survives a Redis restart, and a count of the commands each engine
//! sends, since hosted Redis bills per command.
//!
//! It knows nothing of queues or chat; the engines take a [`Redis`] handle and
//! a counter of their own.

mod counted;
mod subscriber;
mod url;

pub use counted::{CommandCounter, Redis};
pub use subscriber::{Message, Subscriber};
pub use url::RedisUrl;

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long one command may take before the caller gets an error instead of
/// waiting on a Redis that has gone away.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a (re)connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens the multiplexed command connection shared by the whole process.
///
/// The connection is made lazily and re-made after every failure, so the
/// server starts (and keeps serving what it can) while Redis is down, and picks
/// Redis up again by itself when it returns.
pub fn connect(url: &RedisUrl) -> Result<Redis, redis::RedisError> {
    let client = client(url)?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(2));
    let manager = ConnectionManager::new_lazy_with_config(client, config)?;
    Ok(Redis::new(manager))
}

/// A client for connections of other kinds (a subscription, a blocking wait).
///
/// With a certificate authority of its own, a `rediss://` server's
/// certificate must chain to that authority alone; otherwise to one the
/// system trusts, as hosted providers' certificates do.
pub fn client(url: &RedisUrl) -> Result<redis::Client, redis::RedisError> {
    match url.ca_pem() {
        Some(pem) => redis::Client::build_with_tls(
            url.expose(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            },
        ),
        None => redis::Client::open(url.expose()),
    }
}

/// Whether `err` is a TLS handshake that failed on the server's certificate
/// (an authority not trusted, a host name not in it, an expired one), which
/// retrying cannot mend. The client reports these only as text.
pub fn is_certificate_error(err: &redis::RedisError) -> bool {
    let text = err.to_string().to_ascii_lowercase();
    text.contains("certificate") || text.contains("unknownissuer")
}

/// Installs the TLS crypto provider once per process, before any `rediss://`
/// connection is made. Calling it again is harmless.
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
