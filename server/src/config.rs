//! The server's configuration: one typed struct, read once at start-up from
//! the environment and from a `.env` file when there is one.
//!
//! Every value is checked here, so a mistake stops start-up with a message that
//! names the variable instead of failing later in some request.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

use crate::{
    queue::{is_name, QueueOptions, RateLimit},
    redis_client::RedisUrl,
    reports::model::ModelSettings,
    telemetry::LogFormat,
};

/// Everything the server reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where Redis is; its password is kept out of `Debug` and `Display`.
    /// With `REDIS_CA_CERT` it carries the certificate authority to trust.
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
    /// The chat's limits and sizes.
    pub chat: ChatSettings,
    /// What this instance does: serve the web, run jobs, or both.
    pub role: Role,
    /// The report queue's tunables, for this instance's worker.
    pub queue: QueueSettings,
    /// The language model that writes reports; `None` without an API key,
    /// and reports are then written from their figures alone.
    pub model: Option<ModelSettings>,
    /// `APP_ENV=production` (default `development`): the admin pages and
    /// `/metrics` then need the admin login instead of being open.
    pub production: bool,
    /// `ADMIN_TOKEN`: the admin login. In production without it the admin
    /// pages and `/metrics` are closed to everyone.
    pub admin_token: Option<AdminToken>,
    /// `REDIS_DAILY_BUDGET` (10000): the Redis commands a day the queue
    /// dashboard measures the queue's own count against (a hosted free tier).
    pub redis_daily_budget: u64,
    /// `REPORT_REGENERATE_SECS` (60): how long after a report is written a
    /// new one of the same session may be asked for. Every report is a
    /// model call and a start within the queue's rate limit, which one
    /// session asking again and again would otherwise take from the rest.
    pub regenerate_after: Duration,
}

/// The admin login's secret; kept out of `Debug` so a logged configuration
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// The token itself, for comparing with what a request shows.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

/// `ROLE`: which parts of the platform this instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Pages, sockets, the API and the job worker (the default).
    All,
    /// Pages, sockets and the API; jobs are only enqueued here.
    Web,
    /// Jobs only; HTTP serves the health checks and nothing else.
    Worker,
}

impl Role {
    pub fn serves_web(self) -> bool {
        self != Role::Worker
    }

    pub fn runs_jobs(self) -> bool {
        self != Role::Web
    }
}

/// The name of the queue that writes reports, which every instance shares.
pub const REPORT_QUEUE: &str = "reports";

/// The report queue as configured; every value has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// `QUEUE_CONCURRENCY` (5): jobs this instance runs at once.
    pub concurrency: usize,
    /// `QUEUE_ATTEMPTS` (3): attempts before a job fails.
    pub attempts: u32,
    /// `QUEUE_BACKOFF_MS` (5000): the first retry's delay, doubled after.
    pub backoff: Duration,
    /// `QUEUE_LEASE_MS` (30000): how long a silent job keeps its worker.
    pub lease: Duration,
    /// `QUEUE_RATE_MAX` (10) jobs started per `QUEUE_RATE_WINDOW_MS` (60000)
    /// across every instance; a maximum of 0 turns the limit off.
    pub rate_limit: Option<RateLimit>,
}

impl QueueSettings {
    /// The queue's options for this instance.
    pub fn options(&self, instance_id: &str) -> QueueOptions {
        let mut options = QueueOptions::new(REPORT_QUEUE, instance_id);
        options.concurrency = self.concurrency;
        options.attempts = self.attempts;
        options.backoff = self.backoff;
        options.lease = self.lease;
        options.rate_limit = self.rate_limit;
        options
    }
}

/// What the chat may hold and accept; every value has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSettings {
    /// `CHAT_HISTORY_LEN` (1000): messages kept per session, the length the
    /// stream is trimmed to, and so the longest transcript a report sees.
    pub history_len: usize,
    /// `CHAT_MAX_MESSAGE_BYTES` (4096): the largest message text, in bytes.
    pub max_message_bytes: usize,
    /// `CHAT_MESSAGES_PER_SECOND` (5): per connection, with bursts as large.
    pub messages_per_second: u32,
    /// `CHAT_MAX_CONNECTIONS_PER_SESSION` (50): across every instance.
    pub max_connections_per_session: usize,
    /// `CHAT_PRESENCE_TTL_MS` (30000): how long a dead instance's members
    /// stay listed as online; refreshed every third of it.
    pub presence_ttl: Duration,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            history_len: 1000,
            max_message_bytes: 4096,
            messages_per_second: 5,
            max_connections_per_session: 50,
            presence_ttl: Duration::from_secs(30),
        }
    }
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
    /// Whether the queue dashboard and `/metrics` are open without a sign-in:
    /// in development, and only while the instance listens on a loopback
    /// address. An instance reachable from elsewhere with `APP_ENV` left at
    /// its default is treated as in production, so forgetting it cannot
    /// open the dashboard to the network.
    pub fn open_admin(&self) -> bool {
        !self.production && self.listen_addr.ip().is_loopback()
    }

    /// Reads the process environment, after loading `.env` when present.
    /// Variables already set win over the file.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A malformed `.env` is a mistake worth stopping for; a missing one
        // is the normal case in production.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(err) if err.not_found() => {}
            // dotenvy quotes the offending line, which may hold a secret:
            // say where it is, not what it says.
            Err(dotenvy::Error::LineParse(_, index)) => {
                return Err(ConfigError::Invalid(
                    ".env",
                    format!(
                        "a line does not parse (at its character {index}); quote values that hold spaces"
                    ),
                ))
            }
            Err(_) => {
                return Err(ConfigError::Invalid(
                    ".env",
                    "it exists but cannot be read".into(),
                ))
            }
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
        let redis_url = match get("REDIS_CA_CERT") {
            Some(path) => redis_url_with_ca(redis_url, path)?,
            None => redis_url,
        };

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
            Some(id) if is_name(id) => id.to_string(),
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

        let chat = chat_settings(&get)?;

        let role = match get("ROLE").unwrap_or("all") {
            "all" => Role::All,
            "web" => Role::Web,
            "worker" => Role::Worker,
            _ => {
                return Err(ConfigError::Invalid(
                    "ROLE",
                    "use all, web or worker".into(),
                ))
            }
        };
        let queue = queue_settings(&get)?;
        let model = model_settings(&get)?;
        let production = match get("APP_ENV").unwrap_or("development") {
            "development" => false,
            "production" => true,
            _ => {
                return Err(ConfigError::Invalid(
                    "APP_ENV",
                    "use development or production".into(),
                ))
            }
        };
        let admin_token = match get("ADMIN_TOKEN") {
            Some(token) if token.len() >= 16 => Some(AdminToken(token.to_string())),
            // The value is not quoted back: it is a secret, even a short one.
            Some(_) => {
                return Err(ConfigError::Invalid(
                    "ADMIN_TOKEN",
                    "use at least 16 characters".into(),
                ))
            }
            None => None,
        };

        let redis_daily_budget =
            whole_number(&get, "REDIS_DAILY_BUDGET", 10_000, 1, 1_000_000_000_000)?;
        let regenerate_after =
            Duration::from_secs(whole_number(&get, "REPORT_REGENERATE_SECS", 60, 0, 86_400)?);

        Ok(Config {
            redis_url,
            listen_addr,
            site_root,
            instance_id,
            log_format,
            chat,
            role,
            queue,
            model,
            production,
            admin_token,
            redis_daily_budget,
            regenerate_after,
        })
    }
}

/// `REDIS_CA_CERT`: a PEM file with the certificate authority that signed
/// a self-managed Redis's TLS certificate. Read here, so a wrong path stops
/// start-up instead of every connection failing later.
fn redis_url_with_ca(url: RedisUrl, path: &str) -> Result<RedisUrl, ConfigError> {
    if !url.is_tls() {
        return Err(ConfigError::Invalid(
            "REDIS_CA_CERT",
            "only a rediss:// REDIS_URL uses a certificate authority".into(),
        ));
    }
    let pem = std::fs::read(path).map_err(|err| {
        ConfigError::Invalid("REDIS_CA_CERT", format!("cannot read {path}: {err}"))
    })?;
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(ConfigError::Invalid(
            "REDIS_CA_CERT",
            format!("{path} holds no PEM certificate"),
        ));
    }
    Ok(url.with_ca(pem))
}

/// The variable `name` as a whole number from `min` to `max`, or `default`
/// when it is not set.
fn whole_number<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = get(name) else {
        return Ok(default);
    };
    match raw.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid(
            name,
            format!("expected a whole number from {min} to {max}"),
        )),
    }
}

/// Reads the queue's variables.
fn queue_settings<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<QueueSettings, ConfigError> {
    let number = |name, default, min, max| whole_number(get, name, default, min, max);
    let rate_max = number("QUEUE_RATE_MAX", 10, 0, 1_000_000)?;
    let rate_window = number("QUEUE_RATE_WINDOW_MS", 60_000, 10, 86_400_000)?;
    Ok(QueueSettings {
        concurrency: number("QUEUE_CONCURRENCY", 5, 1, 1_000)? as usize,
        attempts: number("QUEUE_ATTEMPTS", 3, 1, 100)? as u32,
        backoff: Duration::from_millis(number("QUEUE_BACKOFF_MS", 5_000, 10, 86_400_000)?),
        lease: Duration::from_millis(number("QUEUE_LEASE_MS", 30_000, 500, 3_600_000)?),
        rate_limit: (rate_max > 0).then(|| RateLimit {
            max: rate_max as u32,
            window: Duration::from_millis(rate_window),
        }),
    })
}

/// Reads the model's variables. Without `OPENAI_API_KEY` there is no model;
/// the key itself never appears in `Debug` output (see [`ModelSettings`]).
fn model_settings<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<Option<ModelSettings>, ConfigError> {
    let Some(api_key) = get("OPENAI_API_KEY") else {
        return Ok(None);
    };
    let base_url = match get("OPENAI_BASE_URL") {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Some(url.to_string())
        }
        Some(_) => {
            return Err(ConfigError::Invalid(
                "OPENAI_BASE_URL",
                "expected an http:// or https:// address, such as http://127.0.0.1:8080/v1".into(),
            ))
        }
        None => None,
    };
    let timeout = whole_number(get, "REPORT_TIMEOUT_SECS", 120, 5, 3_600)?;
    Ok(Some(ModelSettings {
        api_key: api_key.to_string(),
        base_url,
        model: get("REPORT_MODEL").unwrap_or("gpt-4o-mini").to_string(),
        timeout: Duration::from_secs(timeout),
    }))
}

/// Reads the chat's variables, each a whole number within its bounds.
fn chat_settings<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<ChatSettings, ConfigError> {
    let number = |name, default, min, max| whole_number(get, name, default, min, max);
    let defaults = ChatSettings::default();
    Ok(ChatSettings {
        history_len: number(
            "CHAT_HISTORY_LEN",
            defaults.history_len as u64,
            10,
            1_000_000,
        )? as usize,
        max_message_bytes: number(
            "CHAT_MAX_MESSAGE_BYTES",
            defaults.max_message_bytes as u64,
            16,
            65_536,
        )? as usize,
        messages_per_second: number(
            "CHAT_MESSAGES_PER_SECOND",
            defaults.messages_per_second.into(),
            1,
            100_000,
        )? as u32,
        max_connections_per_session: number(
            "CHAT_MAX_CONNECTIONS_PER_SESSION",
            defaults.max_connections_per_session as u64,
            2,
            1_000_000,
        )? as usize,
        presence_ttl: Duration::from_millis(number(
            "CHAT_PRESENCE_TTL_MS",
            defaults.presence_ttl.as_millis() as u64,
            300,
            3_600_000,
        )?),
    })
}

/// The host name and process id: unique among live instances, and readable.
fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| is_name(h))
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

    /// The start-up error for `name=value` beside a good `REDIS_URL`; fails
    /// the test when start-up accepts it or blames another variable.
    fn refusal(name: &str, value: &str) -> String {
        let err = Config::from_vars(&vars(&[("REDIS_URL", "redis://127.0.0.1"), (name, value)]))
            .expect_err("start-up refuses the value")
            .to_string();
        assert!(err.starts_with(&format!("{name} is invalid")), "{err}");
        err
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

        refusal("LISTEN_ADDR", "port five");
        refusal("INSTANCE_ID", "has spaces");
    }

    #[test]
    fn chat_settings_have_defaults_and_name_a_bad_variable() {
        let config = Config::from_vars(&vars(&[("REDIS_URL", "redis://127.0.0.1")])).unwrap();
        assert_eq!(config.chat, ChatSettings::default());
        assert_eq!(config.chat.max_message_bytes, 4096);

        let config = Config::from_vars(&vars(&[
            ("REDIS_URL", "redis://127.0.0.1"),
            ("CHAT_PRESENCE_TTL_MS", "900"),
        ]))
        .unwrap();
        assert_eq!(config.chat.presence_ttl, Duration::from_millis(900));

        for (name, value) in [
            ("CHAT_MAX_MESSAGE_BYTES", "0"),
            ("CHAT_MESSAGES_PER_SECOND", "many"),
            ("CHAT_HISTORY_LEN", "-5"),
            ("CHAT_PRESENCE_TTL_MS", "10"),
        ] {
            refusal(name, value);
        }
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

    #[test]
    fn redis_daily_budget_defaults_to_ten_thousand_and_names_a_bad_value() {
        let config = Config::from_vars(&vars(&[("REDIS_URL", "redis://127.0.0.1")])).unwrap();
        assert_eq!(config.redis_daily_budget, 10_000);
        refusal("REDIS_DAILY_BUDGET", "lots");
    }

    #[test]
    fn production_and_the_admin_token_are_read_and_the_token_is_never_shown() {
        let config = Config::from_vars(&vars(&[("REDIS_URL", "redis://127.0.0.1")])).unwrap();
        assert!(!config.production);
        assert_eq!(config.admin_token, None);

        let config = Config::from_vars(&vars(&[
            ("REDIS_URL", "redis://127.0.0.1"),
            ("APP_ENV", "production"),
            ("ADMIN_TOKEN", "a-long-admin-secret"),
        ]))
        .unwrap();
        assert!(config.production);
        assert_eq!(
            config.admin_token.as_ref().unwrap().expose(),
            "a-long-admin-secret"
        );
        assert!(!format!("{config:?}").contains("a-long-admin-secret"));

        for (name, value) in [("APP_ENV", "prod"), ("ADMIN_TOKEN", "short-secret")] {
            let err = refusal(name, value);
            assert!(!err.contains("short-secret"), "{err}");
        }
    }

    #[test]
    fn a_redis_ca_certificate_is_read_at_start_up_and_needs_a_tls_url() {
        let dir = std::env::temp_dir().join(format!("tutoring-ca-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pem = dir.join("ca.pem");
        std::fs::write(
            &pem,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let not_pem = dir.join("ca.txt");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        let path = |p: &std::path::Path| p.to_str().unwrap().to_string();

        let config = Config::from_vars(&vars(&[
            ("REDIS_URL", "rediss://app:pw@cache.internal:6380"),
            ("REDIS_CA_CERT", &path(&pem)),
        ]))
        .unwrap();
        assert!(config.redis_url.ca_pem().is_some());

        for (url, ca) in [
            ("redis://127.0.0.1", path(&pem)),
            ("rediss://127.0.0.1", path(&not_pem)),
            ("rediss://127.0.0.1", path(&dir.join("missing.pem"))),
        ] {
            let err = Config::from_vars(&vars(&[("REDIS_URL", url), ("REDIS_CA_CERT", &ca)]))
                .unwrap_err();
            assert!(
                err.to_string().starts_with("REDIS_CA_CERT is invalid"),
                "{err}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
