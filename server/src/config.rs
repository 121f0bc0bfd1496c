//! The server's configuration: one typed struct, read once at start-up from
//! the environment and from a `.env` file when there is one.
//!
//! Every value is checked here, so a mistake stops start-up with a message that
//! names the variable instead of failing later in some request.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf};

use crate::{redis_client::RedisUrl, telemetry::LogFormat};

/// Everything the server reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where Redis is; its password is kept out of `Debug` and `Display`.
    pub redis_url: RedisUrl,
    /// The address the HTTP server listens on.
    pub listen_addr: SocketAddr,
    /// The folder cargo-leptos built the site into (`/pkg` is served from it).
    pub site_root: PathBuf,
    /// A name for this process in logs and in what it stores in Redis, so an
    /// operator can tell the instances apart.
    pub instance_id: String,
    /// Readable lines for people, or JSON for a log pipeline.
    pub log_format: LogFormat,
}

/// A variable that is missing or does not hold what it should.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is not set; {1}")]
    Missing(&'static str, &'static str),
    #[error("{0} is invalid: {1}")]
    Invalid(&'static str, String),
}

/// The port the platform documents its pages on.
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:5000";

impl Config {
    /// Reads the process environment, after loading `.env` when present.
    /// Variables already set win over the file.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A malformed `.env` is a mistake worth stopping for; a missing one
        // is the normal case in production.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(err) if err.not_found() => {}
            Err(err) => return Err(ConfigError::Invalid(".env", err.to_string())),
        }
        Self::from_vars(&std::env::vars().collect())
    }

    /// Builds the configuration from a set of variables; `from_env` passes
    /// the process environment, tests pass their own.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

        let redis_url = get("REDIS_URL")
            .ok_or(ConfigError::Missing(
                "REDIS_URL",
                "set it to redis://[user:password@]host:port (or rediss:// for TLS)",
            ))?
            .parse::<RedisUrl>()
            .map_err(|reason| ConfigError::Invalid("REDIS_URL", reason))?;

        let listen_addr = get("LISTEN_ADDR")
            .unwrap_or(DEFAULT_LISTEN_ADDR)
            .parse::<SocketAddr>()
            .map_err(|_| {
                ConfigError::Invalid(
                    "LISTEN_ADDR",
                    "expected host:port, such as 0.0.0.0:5000".into(),
                )
            })?;

        let site_root = PathBuf::from(get("LEPTOS_SITE_ROOT").unwrap_or("target/site"));

        let instance_id = match get("INSTANCE_ID") {
            Some(id) if is_valid_instance_id(id) => id.to_string(),
            Some(_) => {
                return Err(ConfigError::Invalid(
                    "INSTANCE_ID",
                    "use 1 to 64 letters, digits, '-', '_' or '.'".into(),
                ))
            }
            None => default_instance_id(),
        };

        let log_format = match get("LOG_FORMAT").unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                return Err(ConfigError::Invalid(
                    "LOG_FORMAT",
                    "use text or json".into(),
                ))
            }
        };

        Ok(Config {
            redis_url,
            listen_addr,
            site_root,
            instance_id,
            log_format,
        })
    }
}

fn is_valid_instance_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The host name and process id: unique among live instances, and readable.
fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| is_valid_instance_id(h))
        .unwrap_or_else(|| "instance".to_string());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn listen_address_defaults_to_port_5000() {
        let config = Config::from_vars(&vars(&[("REDIS_URL", "redis://127.0.0.1:6379")])).unwrap();
        assert_eq!(config.listen_addr.port(), 5000);
    }

    #[test]
    fn missing_redis_url_names_the_variable() {
        let err = Config::from_vars(&vars(&[])).unwrap_err();
        assert!(err.to_string().starts_with("REDIS_URL is not set"), "{err}");
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let err = Config::from_vars(&vars(&[("REDIS_URL", "http://x")])).unwrap_err();
        assert!(err.to_string().starts_with("REDIS_URL is invalid"), "{err}");

        let err = Config::from_vars(&vars(&[
            ("REDIS_URL", "redis://127.0.0.1"),
            ("LISTEN_ADDR", "port five"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string().starts_with("LISTEN_ADDR is invalid"),
            "{err}"
        );

        let err = Config::from_vars(&vars(&[
            ("REDIS_URL", "redis://127.0.0.1"),
            ("INSTANCE_ID", "has spaces"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string().starts_with("INSTANCE_ID is invalid"),
            "{err}"
        );
    }

    #[test]
    fn redis_password_stays_out_of_errors_and_debug_output() {
        let err = Config::from_vars(&vars(&[(
            "REDIS_URL",
            "redis://user:hunter2@host:notaport",
        )]))
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");

        let config = Config::from_vars(&vars(&[(
            "REDIS_URL",
            "rediss://default:hunter2@cache.example:6380",
        )]))
        .unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(
            config.redis_url.to_string(),
            "rediss://default:***@cache.example:6380"
        );
    }
}
