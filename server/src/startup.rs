//! Start-up and shutdown of one instance: connect to Redis, build the router,
//! listen, and stop cleanly on the shutdown signal.

use std::{net::SocketAddr, sync::Arc};

use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Config,
    http::{self, AppState},
    redis_client,
    system_check::RedisSystemCheck,
};

/// The file name of the site's script, style and wasm under `/pkg`, as
/// cargo-leptos names them from the workspace metadata.
const SITE_NAME: &str = match option_env!("LEPTOS_OUTPUT_NAME") {
    Some(name) => name,
    None => "tutoring",
};

/// Why an instance could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up the Redis client: {0}")]
    Redis(#[from] redis::RedisError),
}

/// An instance that is listening and ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
    instance_id: String,
}

impl Application {
    /// Connects, binds and wires everything; serving starts with [`run`].
    ///
    /// [`run`]: Application::run
    pub async fn build(config: Config, shutdown: CancellationToken) -> Result<Self, StartupError> {
        redis_client::init_tls();
        let redis = redis_client::connect(&config.redis_url)?;
        tracing::info!(redis = %config.redis_url, "connecting to Redis");
        report_redis_reachability(&redis).await;
        // The one pub/sub connection of this instance, shared by every engine.
        let subscriber = redis_client::Subscriber::spawn(
            redis_client::client(&config.redis_url)?,
            shutdown.clone(),
        );

        let leptos_options = LeptosOptions::builder()
            .output_name(SITE_NAME)
            .site_root(config.site_root.to_string_lossy().as_ref())
            .site_pkg_dir("pkg")
            .site_addr(config.listen_addr)
            .build();

        let state = AppState {
            leptos_options,
            redis: redis.clone(),
            subscriber,
            system_check: Arc::new(RedisSystemCheck {
                redis: redis.clone(),
                instance_id: config.instance_id.clone(),
            }),
        };

        let listener = TcpListener::bind(config.listen_addr)
            .await
            .map_err(|source| StartupError::Bind {
                addr: config.listen_addr,
                source,
            })?;

        Ok(Application {
            listener,
            router: http::router(state),
            shutdown,
            instance_id: config.instance_id,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until the shutdown token is cancelled, then lets requests in
    /// flight finish.
    pub async fn run(self) -> std::io::Result<()> {
        let addr = self.local_addr();
        tracing::info!(instance = %self.instance_id, "listening on http://{addr}");
        let shutdown = self.shutdown.clone();
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        tracing::info!("HTTP server stopped");
        Ok(())
    }
}

/// Says at start-up whether Redis answers. Either way the instance starts:
/// the connection keeps retrying, and `/readyz` tells a load balancer when it
/// can take traffic.
async fn report_redis_reachability(redis: &redis_client::Redis) {
    let mut conn = redis.clone();
    match redis::cmd("PING").query_async::<String>(&mut conn).await {
        Ok(_) => tracing::info!("Redis is reachable"),
        Err(err) => {
            tracing::warn!(cause = %err, "Redis is not reachable yet; retrying in the background")
        }
    }
}
