//! A Redis URL whose password never reaches a log line or an error message.

use std::{fmt, str::FromStr, sync::Arc};

use redis::IntoConnectionInfo;

/// A checked `redis://` or `rediss://` URL. `Display` and `Debug` show it with
/// the password replaced by `***`; only [`RedisUrl::expose`] gives it whole.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    full: String,
    redacted: String,
    /// The certificate authority (PEM) that a `rediss://` server's
    /// certificate must chain to, when it is not one the system trusts, as
    /// with a self-managed Redis. `None` uses the system's trust store.
    ca_pem: Option<Arc<[u8]>>,
}

impl RedisUrl {
    /// The URL with its password, for the Redis client and nothing else.
    pub fn expose(&self) -> &str {
        &self.full
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.full.starts_with("rediss://")
    }

    /// The same URL, trusting only the certificate authority in `pem` for
    /// its TLS connections.
    pub fn with_ca(mut self, pem: Vec<u8>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// The certificate authority set with [`RedisUrl::with_ca`].
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.ca_pem.as_deref()
    }
}

impl FromStr for RedisUrl {
    type Err = String;

    /// Checks the scheme and the form without ever quoting the input back,
    /// since it may hold a password.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        const FORM: &str = "expected redis://[user:password@]host[:port][/db] or rediss://…";
        let parsed = url::Url::parse(raw).map_err(|_| format!("not a URL; {FORM}"))?;
        if !matches!(parsed.scheme(), "redis" | "rediss") {
            return Err(format!("the scheme must be redis or rediss; {FORM}"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(format!("the host is missing; {FORM}"));
        }
        raw.into_connection_info()
            .map_err(|_| format!("the Redis client cannot use it; {FORM}"))?;

        let mut shown = parsed.clone();
        if shown.password().is_some() {
            // Setting a password only fails on URLs that cannot have one,
            // which the checks above have already ruled out.
            let _ = shown.set_password(Some("***"));
        }
        Ok(RedisUrl {
            full: raw.to_string(),
            redacted: shown.to_string(),
            ca_pem: None,
        })
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.redacted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_password_are_accepted_and_the_password_is_hidden() {
        let url: RedisUrl = "redis://app:s3cret@127.0.0.1:6380/2".parse().unwrap();
        assert_eq!(url.to_string(), "redis://app:***@127.0.0.1:6380/2");
        assert_eq!(url.expose(), "redis://app:s3cret@127.0.0.1:6380/2");
        assert!(!url.is_tls());
    }

    #[test]
    fn tls_urls_are_recognised() {
        let url: RedisUrl = "rediss://default:pw@eu1.cache.example:6379"
            .parse()
            .unwrap();
        assert!(url.is_tls());
        assert!(!format!("{url:?}").contains("pw@"));
    }

    #[test]
    fn other_schemes_and_garbage_are_refused_without_echoing_them() {
        for raw in [
            "http://h:6379",
            "redis://",
            "not a url at all",
            "redis://u:topsecret@",
        ] {
            let err = raw.parse::<RedisUrl>().unwrap_err();
            assert!(!err.contains("topsecret"), "{raw}: {err}");
        }
    }
}
