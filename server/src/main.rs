//! Starts one instance of the server.

use std::process::ExitCode;

use server::{config::Config, shutdown, startup::Application, telemetry};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    // Logging is not set up before the configuration is read, so a bad value
    // is reported on stderr directly.
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(config.log_format);

    let token = CancellationToken::new();
    shutdown::cancel_on_signal(token.clone());

    let app = match Application::build(config, token).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!("start-up failed: {err}");
            return ExitCode::FAILURE;
        }
    };
    match app.run().await {
        Ok(()) => {
            tracing::info!("instance stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!("server failed: {err}");
            ExitCode::FAILURE
        }
    }
}
