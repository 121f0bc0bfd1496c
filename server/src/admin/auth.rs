//! Who may use the queue dashboard, and the guard in front of its routes.
//!
//! In development the dashboard is open. In production it needs a session:
//! the admin signs in with `ADMIN_TOKEN` and gets a cookie that holds an
//! expiry time and an HMAC-SHA256 of it, keyed by a hash of the token. The
//! server keeps no session state, so every instance accepts every other's
//! cookies, and changing the token ends every session. The cost of being
//! stateless: signing out only makes this browser forget its cookie; a copy
//! taken before stays valid until it expires (12 hours at most).
//!
//! State-changing requests from another site are refused whatever their
//! cookies: the cookie is `SameSite=Strict`, and the guard checks
//! `Sec-Fetch-Site` and `Origin` as well.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use app::{admin::types::Access, api::AppError};
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    chat::tokens::hex,
    config::{AdminToken, Config},
};

/// The session cookie's name.
pub const COOKIE: &str = "queue_admin";
/// How long a sign-in lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Wrong admin tokens an instance answers in a burst, and then a minute.
/// Past that every sign-in waits, the right token too: letting it through
/// would let a guesser tell a hit from a miss.
pub const WRONG_TOKENS_BURST: u32 = 5;
pub const WRONG_TOKENS_PER_MINUTE: f64 = 5.0;
/// Where the dashboard's server functions live; the guard covers all of it.
pub const API_PREFIX: &str = "/api/admin/";

/// The dashboard's access rule, fixed at start-up.
#[derive(Clone)]
pub enum AdminAuth {
    /// Development: open to anyone.
    Open,
    /// Production with a token: sessions signed with `key`.
    Token {
        /// SHA-256 of the token, to compare a sign-in attempt in constant
        /// time whatever its length.
        token_digest: [u8; 32],
        /// The HMAC key of session cookies, derived from the token.
        key: [u8; 32],
    },
    /// Production without a token: nobody may use it.
    Off,
}

impl AdminAuth {
    /// The rule `config` asks for: open only where [`Config::open_admin`]
    /// says so.
    pub fn for_config(config: &Config) -> Self {
        AdminAuth::new(!config.open_admin(), config.admin_token.as_ref())
    }

    pub fn new(production: bool, token: Option<&AdminToken>) -> Self {
        match (production, token) {
            (false, _) => AdminAuth::Open,
            (true, None) => AdminAuth::Off,
            (true, Some(token)) => {
                let secret = token.expose().as_bytes();
                let mut key = Sha256::new();
                key.update(b"queue-dashboard-session\0");
                key.update(secret);
                AdminAuth::Token {
                    token_digest: Sha256::digest(secret).into(),
                    key: key.finalize().into(),
                }
            }
        }
    }

    /// Who the request with `headers` is, at `now`.
    pub fn access(&self, headers: &HeaderMap, now: SystemTime) -> Access {
        match self {
            AdminAuth::Open => Access::Open,
            AdminAuth::Off => Access::Off,
            AdminAuth::Token { key, .. } => {
                if session_end(key, headers, now).is_some() {
                    Access::SignedIn
                } else {
                    Access::SignInRequired
                }
            }
        }
    }

    /// When the sign-in the request with `headers` carries runs out; `None`
    /// when no sign-in is needed, or the request has none that is valid.
    pub fn session_end(&self, headers: &HeaderMap, now: SystemTime) -> Option<SystemTime> {
        match self {
            AdminAuth::Token { key, .. } => session_end(key, headers, now),
            AdminAuth::Open | AdminAuth::Off => None,
        }
    }

    /// Whether `shown` is the admin token; never outside token mode. The
    /// digests are compared in constant time, so response times do not leak
    /// how much of a guess was right.
    pub fn is_token(&self, shown: &str) -> bool {
        let AdminAuth::Token { token_digest, .. } = self else {
            return false;
        };
        let shown: [u8; 32] = Sha256::digest(shown.as_bytes()).into();
        bool::from(shown.ct_eq(token_digest))
    }

    /// Checks `token`; the `Set-Cookie` value of a new session when it is
    /// the admin token, `None` otherwise (and always outside token mode).
    pub fn login(&self, token: &str, now: SystemTime) -> Option<String> {
        let AdminAuth::Token { key, .. } = self else {
            return None;
        };
        if !self.is_token(token) {
            return None;
        }
        let expires = unix_secs(now) + SESSION_TTL.as_secs();
        let value = format!("{expires}.{}", hex(&sign(key, expires)));
        Some(format!(
            "{COOKIE}={value}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
            SESSION_TTL.as_secs()
        ))
    }
}

/// A cookie that replaces the session with an expired, empty one.
pub fn logout_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// The value of the session cookie among the request's cookies.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// When the session of the request's cookie ends, if the cookie is
/// `<expiry>.<hmac>` signed with `key` and not expired.
fn session_end(key: &[u8; 32], headers: &HeaderMap, now: SystemTime) -> Option<SystemTime> {
    let (expires, mac) = session_cookie(headers)?.split_once('.')?;
    let expires = expires.parse::<u64>().ok()?;
    let expected = hex(&sign(key, expires));
    let matches = bool::from(expected.as_bytes().ct_eq(mac.as_bytes()));
    (matches && expires > unix_secs(now)).then(|| UNIX_EPOCH + Duration::from_secs(expires))
}

/// The signature of a session that ends at `expires`.
fn sign(key: &[u8; 32], expires: u64) -> [u8; 32] {
    hmac_sha256(key, format!("queue-admin-session:{expires}").as_bytes())
}

/// HMAC-SHA256 (RFC 2104) with a key of at most one block (64 bytes).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut inner_pad = [0x36u8; 64];
    let mut outer_pad = [0x5cu8; 64];
    for (i, byte) in key.iter().take(64).enumerate() {
        inner_pad[i] ^= byte;
        outer_pad[i] ^= byte;
    }
    let inner = Sha256::new()
        .chain_update(inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether a request may change something: reads (GET, HEAD) always may;
/// anything else only when the browser says it comes from this site. A
/// client that is not a browser sends neither header and passes here, but
/// it still needs the session cookie. Behind a proxy that rewrites `Host`,
/// the proxy must pass the original on for the `Origin` check to agree.
pub fn same_origin(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (None, _) => true,
        (Some(origin), Some(host)) => {
            origin == format!("http://{host}") || origin == format!("https://{host}")
        }
        (Some(_), None) => false,
    }
}

/// In front of every route under [`API_PREFIX`]: refuses cross-site
/// state changes, and everything but the access check and the sign-in to
/// anyone without access, before any server function runs.
pub async fn guard(State(auth): State<AdminAuth>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if !path.starts_with(API_PREFIX) {
        return next.run(request).await;
    }
    if !same_origin(request.method(), request.headers()) {
        tracing::warn!(path, "cross-site request to the queue dashboard refused");
        return refusal(AppError::Forbidden(
            "Cross-site requests to the queue dashboard are refused.".into(),
        ));
    }
    let open_to_all = matches!(&path[API_PREFIX.len()..], "access" | "login" | "logout");
    if !open_to_all {
        if let Some(refused) = auth.access(request.headers(), SystemTime::now()).refusal() {
            return refusal(refused);
        }
    }
    next.run(request).await
}

/// A refusal as the server functions give theirs, so that the page reads
/// it as the same error a function would have returned.
fn refusal(error: AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::FORBIDDEN);
    let body = serde_json::to_string(&error).expect("an error always serialises");
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The rule of a configuration of `vars` beside a local `REDIS_URL`.
#[cfg(test)]
pub(crate) fn for_vars(vars: &[(&str, &str)]) -> AdminAuth {
    let mut all = vec![("REDIS_URL", "redis://127.0.0.1")];
    all.extend_from_slice(vars);
    let vars = all
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    AdminAuth::for_config(&Config::from_vars(&vars).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> AdminAuth {
        for_vars(&[
            ("APP_ENV", "production"),
            ("ADMIN_TOKEN", "correct horse battery staple"),
        ])
    }

    fn with_cookie(set_cookie: &str) -> HeaderMap {
        let pair = set_cookie.split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("other=1; {pair}").parse().unwrap());
        headers
    }

    #[test]
    fn a_signed_in_cookie_gives_access_until_it_expires() {
        let auth = auth();
        // On a whole second, as the cookie's expiry is.
        let now = UNIX_EPOCH + Duration::from_secs(unix_secs(SystemTime::now()));
        let cookie = auth
            .login("correct horse battery staple", now)
            .expect("the token is accepted");
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("Secure")
                && cookie.contains("SameSite=Strict")
        );
        assert_eq!(auth.access(&with_cookie(&cookie), now), Access::SignedIn);
        assert_eq!(
            auth.session_end(&with_cookie(&cookie), now)
                .and_then(|end| end.duration_since(now).ok())
                .map(|left| left.as_secs()),
            Some(SESSION_TTL.as_secs())
        );
        let later = now + SESSION_TTL + Duration::from_secs(1);
        assert_eq!(
            auth.access(&with_cookie(&cookie), later),
            Access::SignInRequired
        );
    }

    #[test]
    fn a_wrong_token_or_a_forged_cookie_is_refused() {
        let auth = auth();
        let now = SystemTime::now();
        assert!(auth.login("correct horse battery stapl", now).is_none());
        let cookie = auth.login("correct horse battery staple", now).unwrap();
        // A later expiry with the old signature does not verify.
        let value = cookie
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("queue_admin=");
        let (expires, mac) = value.split_once('.').unwrap();
        let later: u64 = expires.parse::<u64>().unwrap() + 86_400;
        let forged = format!("queue_admin={later}.{mac}");
        assert_eq!(
            auth.access(&with_cookie(&forged), now),
            Access::SignInRequired
        );
        assert_eq!(auth.access(&HeaderMap::new(), now), Access::SignInRequired);
    }

    #[test]
    fn the_hmac_matches_the_rfc_4231_test_vector() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn state_changes_from_another_origin_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:5000".parse().unwrap());
        headers.insert(header::ORIGIN, "http://127.0.0.1:5000".parse().unwrap());
        assert!(same_origin(&Method::POST, &headers));
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&Method::POST, &headers));
        assert!(same_origin(&Method::GET, &headers));

        let mut headers = HeaderMap::new();
        headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&Method::POST, &headers));
    }

    #[test]
    fn outside_production_it_is_open_and_without_a_token_it_is_off() {
        assert_eq!(
            AdminAuth::new(false, None).access(&HeaderMap::new(), SystemTime::now()),
            Access::Open
        );
        assert_eq!(
            AdminAuth::new(true, None).access(&HeaderMap::new(), SystemTime::now()),
            Access::Off
        );
        assert!(AdminAuth::new(true, None)
            .login("anything at all here", SystemTime::now())
            .is_none());
    }
}
