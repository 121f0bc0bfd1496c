//! The queue dashboard's server side: who may use it ([`auth`]), what it
//! reads and does through the queue's admin operations (`backend`), and the
//! live feed its pages follow ([`live`]).
//!
//! It uses only the queue's public API and the report store's token counts;
//! it writes no Redis key of its own.

pub mod auth;
mod backend;
mod convert;
pub mod live;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Instant,
};

use crate::{bucket::Bucket, config::Config, queue::Queue, reports::ReportStore};
use auth::AdminAuth;
use live::LiveFeed;
use tokio_util::sync::CancellationToken;

/// Everything the dashboard's server functions need; cheap to clone.
#[derive(Clone)]
pub struct Dashboard {
    pub(crate) queue: Queue,
    /// Model tokens spent today, for the overview.
    pub(crate) reports: ReportStore,
    pub auth: AdminAuth,
    /// Wrong admin tokens this instance still lets be tried, so that a
    /// short token cannot be guessed at the speed of the network.
    pub(crate) sign_ins: Arc<Mutex<Bucket>>,
    pub(crate) live: LiveFeed,
    /// Redis commands a day the queue's own count is compared with.
    pub(crate) daily_budget: u64,
}

impl Dashboard {
    pub fn new(
        config: &Config,
        queue: Queue,
        reports: ReportStore,
        shutdown: CancellationToken,
    ) -> Self {
        Dashboard {
            live: LiveFeed::new(queue.clone(), shutdown),
            queue,
            reports,
            auth: AdminAuth::for_config(config),
            sign_ins: Arc::new(Mutex::new(Bucket::new(
                auth::WRONG_TOKENS_BURST,
                auth::WRONG_TOKENS_PER_MINUTE / 60.0,
                Instant::now(),
            ))),
            daily_budget: config.redis_daily_budget,
        }
    }

    /// Says at start-up where the dashboard is, or why it is off.
    pub fn announce(&self, addr: SocketAddr) {
        // Bound to every interface, the instance is at least at localhost;
        // any other address is printed as it is.
        let addr = if addr.ip().is_unspecified() {
            format!("localhost:{}", addr.port())
        } else {
            addr.to_string()
        };
        match self.auth {
            AdminAuth::Off => tracing::warn!(
                "Queue dashboard is off: ADMIN_TOKEN is not set, and it is needed with \
                 APP_ENV=production or when the instance listens beyond loopback"
            ),
            AdminAuth::Open => tracing::info!(
                "Queue dashboard available at http://{addr}/admin/queues (development mode: open to anyone who reaches this server)"
            ),
            AdminAuth::Token { .. } => tracing::info!(
                "Queue dashboard available at http://{addr}/admin/queues (sign in with ADMIN_TOKEN)"
            ),
        }
    }
}
