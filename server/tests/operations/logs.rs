//! What the binary prints: a line per request with its method, path, status
//! and latency, in text and in JSON, and never a secret.

use serde_json::Value as Json;
use server::testkit::RedisServer;

use crate::support::Binary;

const REDIS_PASSWORD: &str = "redis-pw-7c1e94";
const API_KEY: &str = "sk-ops-key-5d20af";
const ADMIN_TOKEN: &str = "admin-token-93be0c41";

/// Runs the binary with every secret set and debug logging in `format`,
/// makes requests (including failing ones and a secret in a query string)
/// and returns its output.
async fn logged_requests(redis: &RedisServer, format: &str) -> String {
    let url = format!(
        "redis://default:{REDIS_PASSWORD}@127.0.0.1:{}",
        redis.port()
    );
    let mut server = Binary::start(&[
        ("REDIS_URL", &url),
        ("OPENAI_API_KEY", API_KEY),
        ("APP_ENV", "production"),
        ("ADMIN_TOKEN", ADMIN_TOKEN),
        ("LOG_FORMAT", format),
        ("RUST_LOG", "debug"),
    ]);
    let http = reqwest::Client::new();
    server.wait_until_up(&http).await;

    let get = |path: &str| http.get(server.url(path)).send();
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    assert_eq!(get("/metrics").await.unwrap().status(), 401);
    let query = format!("/metrics?token={ADMIN_TOKEN}");
    assert_eq!(get(&query).await.unwrap().status(), 401);
    let authorised = http
        .get(server.url("/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(authorised.status(), 200);
    let missing = get("/api/reports/session/no-such-session/status")
        .await
        .unwrap();
    assert!(missing.status().is_client_error(), "{}", missing.status());
    server.stop()
}

fn assert_no_secret(output: &str) {
    for secret in [REDIS_PASSWORD, API_KEY, ADMIN_TOKEN] {
        assert!(!output.contains(secret), "{secret} was printed:\n{output}");
    }
}

#[tokio::test]
async fn request_lines_carry_method_path_status_and_latency_and_never_a_secret() {
    let redis = RedisServer::start_with(&["--requirepass", REDIS_PASSWORD]);

    let output = logged_requests(&redis, "text").await;
    assert_no_secret(&output);
    let lines: Vec<&str> = output.lines().filter(|l| l.contains("request{")).collect();
    for (path, status) in [("/readyz", "200"), ("/metrics", "401"), ("/metrics", "200")] {
        assert!(
            lines.iter().any(|l| l.contains("method=GET")
                && l.contains(&format!("path={path} "))
                && l.contains(&format!("status={status}"))
                && l.contains("latency_ms=")),
            "no request line for {path} {status}:\n{output}"
        );
    }
    assert!(output.contains("redis://default:***@127.0.0.1"), "{output}");
    assert!(output.contains("shutdown requested"), "{output}");

    let output = logged_requests(&redis, "json").await;
    assert_no_secret(&output);
    let requests: Vec<Json> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|l| l["span"]["name"] == "request")
        .collect();
    assert!(
        requests.iter().any(|l| l["span"]["path"] == "/metrics"
            && l["span"]["status"] == 401
            && l["span"]["method"] == "GET"
            && l["span"]["latency_ms"].is_number()),
        "no JSON request line for /metrics 401:\n{output}"
    );
}
