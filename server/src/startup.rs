//! Start-up and shutdown of one instance: connect to Redis, build the router,
//! listen, and stop cleanly on the shutdown signal.

use std::{net::SocketAddr, sync::Arc};

use axum::serve::ListenerExt;
use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    admin::Dashboard,
    chat::ChatEngine,
    config::Config,
    http::{self, AppState},
    queue::{Queue, QueueError, Worker},
    redis_client,
    reports::{model::ModelClient, ReportHandler, ReportStore, Reports},
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
    #[error("cannot set up the report queue: {0}")]
    Queue(#[from] QueueError),
    #[error("cannot set up the language model client: {0}")]
    Model(String),
}

/// An instance that is listening and ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
    instance_id: String,
    /// This instance's report worker, when its role runs jobs.
    worker: Option<Worker>,
    /// The queue dashboard, to say at start-up where it is; `None` when
    /// this instance serves no pages.
    dashboard: Option<Dashboard>,
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

        let chat = ChatEngine::start(
            &redis,
            subscriber.clone(),
            config.chat.clone(),
            &config.instance_id,
            shutdown.clone(),
        );
        tracing::info!(
            instance = %config.instance_id,
            "chat Redis adapter initialised: one shared subscription, ready for horizontal scaling"
        );

        // Reports: enqueued by the web side of any instance, written by the
        // worker of any instance that runs jobs.
        let queue = Queue::new(
            &redis,
            subscriber.clone(),
            config.queue.options(&config.instance_id),
        )?;
        let store = ReportStore::new(redis.clone());
        let reports = Reports::new(
            queue.clone(),
            chat.clone(),
            store.clone(),
            config.regenerate_after,
        );
        let worker = if config.role.runs_jobs() {
            let model = match &config.model {
                Some(settings) => {
                    tracing::info!(model = %settings.model, "reports are written by a language model");
                    Some(Arc::new(
                        ModelClient::new(settings.clone()).map_err(StartupError::Model)?,
                    ))
                }
                None => {
                    tracing::info!(
                        "OPENAI_API_KEY is not set: reports are written from their figures alone"
                    );
                    None
                }
            };
            let handler = ReportHandler {
                chat: chat.clone(),
                store: store.clone(),
                model,
            };
            Some(Worker::spawn(queue.clone(), handler, shutdown.clone()).await)
        } else {
            None
        };

        let dashboard = Dashboard::new(&config, queue.clone(), store.clone(), shutdown.clone());
        let state = AppState {
            dashboard: dashboard.clone(),
            role: config.role,
            queue,
            reports,
            leptos_options,
            redis: redis.clone(),
            subscriber,
            chat,
            system_check: Arc::new(RedisSystemCheck {
                redis: redis.clone(),
                instance_id: config.instance_id.clone(),
                open: config.open_admin(),
            }),
            worker: worker.as_ref().map(Worker::metrics),
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
            worker,
            dashboard: config.role.serves_web().then_some(dashboard),
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
        if let Some(dashboard) = &self.dashboard {
            dashboard.announce(addr);
        }
        let shutdown = self.shutdown.clone();
        // Chat frames are small and each is wanted at once: without
        // TCP_NODELAY, Nagle's algorithm holds a frame back until the
        // previous one is acknowledged, which can add tens of milliseconds.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(cause = %err, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        tracing::info!("HTTP server stopped");
        if let Some(worker) = self.worker {
            // Active jobs get their grace period; the rest go back to waiting.
            worker.join().await;
        }
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
        // Retrying will not help here; only the operator can.
        Err(err) if redis_client::is_certificate_error(&err) => tracing::error!(
            cause = %err,
            "Redis's TLS certificate is not trusted: set REDIS_CA_CERT to the \
             certificate authority that signed it, or check the host name in REDIS_URL"
        ),
        Err(err) => {
            tracing::warn!(cause = %err, "Redis is not reachable yet; retrying in the background")
        }
    }
}
