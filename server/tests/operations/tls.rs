//! Redis over TLS with a user and a password, as hosted providers give it,
//! against a local `redis-server` and certificate authorities the test makes.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use app::api::RoundTrip;
use server::{
    redis_client::{self, RedisUrl},
    testkit::{free_port, RedisServer},
};

use crate::support::{Binary, TestApp};

/// A certificate authority in a folder of its own, made with the `openssl`
/// command, which can also sign a certificate for 127.0.0.1 and localhost.
struct Authority {
    dir: PathBuf,
}

/// Elliptic-curve keys: quick to make, and what a TLS 1.3 server uses.
const NEW_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

impl Authority {
    fn new(name: &str) -> Authority {
        let dir = std::env::temp_dir().join(format!("tutoring-ca-{name}-{}", free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        openssl(
            &dir,
            &format!(
                "req -x509 {NEW_KEY} -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca-{name} \
                 -addext basicConstraints=critical,CA:TRUE \
                 -addext keyUsage=critical,keyCertSign,cRLSign"
            ),
        );
        Authority { dir }
    }

    /// Signs a server certificate; returns (certificate, key).
    fn server_certificate(&self) -> (PathBuf, PathBuf) {
        let extensions = "subjectAltName=DNS:localhost,IP:127.0.0.1\n\
                          basicConstraints=CA:FALSE\n\
                          keyUsage=critical,digitalSignature\n\
                          extendedKeyUsage=serverAuth\n";
        std::fs::write(self.dir.join("server.ext"), extensions).unwrap();
        openssl(
            &self.dir,
            &format!("req {NEW_KEY} -keyout server.key -out server.csr -subj /CN=localhost"),
        );
        openssl(
            &self.dir,
            "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
             -out server.crt -days 2 -extfile server.ext",
        );
        (self.dir.join("server.crt"), self.dir.join("server.key"))
    }

    fn certificate(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
}

impl Drop for Authority {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `openssl` in `dir` with `args`, split on white space.
fn openssl(dir: &Path, args: &str) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args.split_whitespace())
        .output()
        .expect("the openssl command is installed");
    assert!(
        output.status.success(),
        "openssl {args} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

const TLS_USER: &str = "app";
const TLS_PASSWORD: &str = "tls-pw-61f0b2";

/// A Redis that speaks TLS only, with the certificate `authority` signed and
/// a user `app` as hosted providers give one.
fn tls_redis(authority: &Authority) -> RedisServer {
    let (cert, key) = authority.server_certificate();
    let password = format!(">{TLS_PASSWORD}");
    RedisServer::start_tls(
        &cert,
        &key,
        &authority.certificate(),
        &["--user", TLS_USER, "on", &password, "~*", "&*", "+@all"],
    )
}

fn tls_url(redis: &RedisServer) -> String {
    format!(
        "rediss://{TLS_USER}:{TLS_PASSWORD}@127.0.0.1:{}",
        redis.port()
    )
}

#[tokio::test]
async fn tls_redis_with_user_and_password_works_with_the_right_authority() {
    let authority = Authority::new("right");
    let redis = tls_redis(&authority);
    let ca = authority.certificate();
    let app = TestApp::spawn(&tls_url(&redis), &[("REDIS_CA_CERT", ca.to_str().unwrap())]).await;

    app.wait_for_status("/readyz", 200).await;
    let response = app.round_trip("over TLS").await;
    assert_eq!(response.status(), 200);
    let trip: RoundTrip = response.json().await.unwrap();
    assert_eq!(trip.value, "over TLS");
}

#[tokio::test]
async fn tls_redis_with_a_wrong_authority_is_refused_with_an_error_naming_the_certificate() {
    let authority = Authority::new("right");
    let stranger = Authority::new("wrong");
    let redis = tls_redis(&authority);
    let wrong_ca = stranger.certificate();

    // The client's own error says what is wrong, without the password.
    let url: RedisUrl = tls_url(&redis).parse().unwrap();
    redis_client::init_tls();
    let url = url.with_ca(std::fs::read(&wrong_ca).unwrap());
    let mut conn = redis_client::connect(&url).unwrap();
    let err = redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(!err.contains(TLS_PASSWORD), "{err}");

    // The server starts, reports it, and is not ready.
    let mut server = Binary::start(&[
        ("REDIS_URL", &tls_url(&redis)),
        ("REDIS_CA_CERT", wrong_ca.to_str().unwrap()),
    ]);
    let http = reqwest::Client::new();
    server.wait_until_up(&http).await;
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let output = server.stop();
    assert!(
        output.contains("certificate") && output.contains("REDIS_CA_CERT"),
        "start-up did not name the certificate problem:\n{output}"
    );
    assert!(!output.contains(TLS_PASSWORD), "{output}");
    assert!(!output.contains("panicked"), "{output}");
}
