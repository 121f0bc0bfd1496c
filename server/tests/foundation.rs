//! The foundation end to end, without a browser: the server function's round
//! trip through Redis, surviving a Redis restart, readiness, and secrets kept
//! out of what the process prints.

mod support;

use std::time::{Duration, Instant};

use app::api::{CreateSession, RoundTrip};
use leptos::server_fn::ServerFn;
use server::testkit::RedisServer;
use support::{Binary, TestApp};

#[tokio::test]
async fn the_server_function_writes_a_note_to_redis_and_reads_it_back() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[]).await;

    let response = app.round_trip("  hello from a test  ").await;
    assert_eq!(response.status(), 200);
    let trip: RoundTrip = response.json().await.unwrap();
    assert_eq!(trip.value, "hello from a test");
    assert_eq!(trip.count, 1);
    assert_eq!(trip.instance, "test-instance");

    let trip: RoundTrip = app.round_trip("again").await.json().await.unwrap();
    assert_eq!((trip.value.as_str(), trip.count), ("again", 2));
}

#[tokio::test]
async fn a_server_function_missing_an_argument_or_sent_a_huge_body_gets_a_client_error() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[]).await;

    let missing = app
        .http
        .post(app.url(CreateSession::PATH))
        .form(&[("title", "Fractions")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let message = missing.text().await.unwrap();
    assert!(message.contains("missing field `name`"), "{message}");

    let huge = app
        .http
        .post(app.url(CreateSession::PATH))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("title=Fractions&name={}", "a".repeat(1 << 20)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
}

#[tokio::test]
async fn in_production_the_system_check_is_refused() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[("APP_ENV", "production")]).await;
    let response = app.round_trip("hello").await;
    assert_eq!(response.status(), 403);
    let message = response.text().await.unwrap();
    assert!(message.contains("development only"), "{message}");
}

#[tokio::test]
async fn an_empty_or_oversized_note_is_refused_with_a_message() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[]).await;

    for note in ["   ", &"x".repeat(201)] {
        let response = app.round_trip(note).await;
        assert_eq!(response.status(), 400);
        let body = response.text().await.unwrap();
        assert!(body.contains("BadRequest"), "{body}");
    }
}

#[tokio::test]
async fn the_connection_survives_a_redis_restart_and_readiness_follows_it() {
    let mut redis = RedisServer::start_with(&["--appendonly", "yes"]);
    let app = TestApp::spawn(&redis.url(), &[]).await;
    assert_eq!(app.round_trip("before").await.status(), 200);
    assert_eq!(app.status("/readyz").await, 200);

    redis.kill();
    assert_eq!(app.status("/readyz").await, 503);
    assert_eq!(app.status("/healthz").await, 200);

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = app.round_trip("after").await;
        if response.status() == 200 {
            let trip: RoundTrip = response.json().await.unwrap();
            assert_eq!(trip.value, "after");
            // Persistence was on, so the count carried over the restart.
            assert_eq!(trip.count, 2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no round trip within 15 s of the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.status("/readyz").await, 200);
}

/// Runs the server binary with `vars` and debug logging for a moment, and
/// returns its exit code and everything it printed.
fn run_binary(vars: &[(&str, &str)], for_how_long: Duration) -> (Option<i32>, String) {
    run_binary_with(vars, None, for_how_long)
}

/// The same, in a folder whose `.env` holds `dotenv` when given.
fn run_binary_with(
    vars: &[(&str, &str)],
    dotenv: Option<&str>,
    for_how_long: Duration,
) -> (Option<i32>, String) {
    let vars = [&[("RUST_LOG", "debug")], vars].concat();
    Binary::start_with(&vars, dotenv).run_for(for_how_long)
}

#[test]
fn start_up_stops_with_a_message_naming_a_missing_variable() {
    let (code, output) = run_binary(&[], Duration::from_secs(5));
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("REDIS_URL is not set"), "{output}");
}

#[test]
fn a_malformed_env_file_stops_start_up_without_printing_its_lines() {
    let dotenv = "REDIS_URL=redis://127.0.0.1:1\nADMIN_TOKEN=correct horse 'battery staple\n";
    let (code, output) = run_binary_with(&[], Some(dotenv), Duration::from_secs(5));
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains(".env is invalid"), "{output}");
    assert!(
        !output.contains("battery"),
        "a line of .env was printed: {output}"
    );
}

#[test]
fn the_redis_password_never_appears_in_the_log() {
    let redis = RedisServer::start_with(&["--requirepass", "correct-horse-battery"]);
    // Right password, then a wrong one: neither may be printed.
    for password in ["correct-horse-battery", "wrong-staple-4711"] {
        let url = format!("redis://default:{password}@127.0.0.1:{}", redis.port());
        let (_, output) = run_binary(&[("REDIS_URL", &url)], Duration::from_secs(3));
        assert!(output.contains("redis://default:***@127.0.0.1"), "{output}");
        assert!(
            !output.contains(password),
            "the password was printed:\n{output}"
        );
    }
}
