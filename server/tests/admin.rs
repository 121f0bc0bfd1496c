//! The queue dashboard's access rules and its server functions over real
//! HTTP: a real Redis, a real instance on port 0, requests as a browser or a
//! script would send them.

mod support;

use std::time::{Duration, SystemTime};

use app::api::AppError;

use futures::StreamExt;
use serde_json::{json, Value};
use server::{
    admin::auth::{AdminAuth, SESSION_TTL},
    queue::EnqueueOptions,
    redis_client::{self, RedisUrl},
    testkit::RedisServer,
};
use support::TestApp;

const TOKEN: &str = "a-long-enough-admin-token-for-tests";

async fn production(redis: &RedisServer) -> TestApp {
    TestApp::spawn(
        &redis.url(),
        &[("APP_ENV", "production"), ("ADMIN_TOKEN", TOKEN)],
    )
    .await
}

/// A server function call: `form` for the plain ones, JSON for the rest.
#[derive(Debug)]
enum Body {
    Form(Vec<(&'static str, String)>),
    Json(Value),
}

async fn call(app: &TestApp, path: &str, body: Body, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = app.http.post(app.url(path));
    request = match body {
        Body::Form(fields) => request.form(&fields),
        Body::Json(value) => request.json(&value),
    };
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the server answers");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

fn empty() -> Body {
    Body::Form(Vec::new())
}

/// The page says the dashboard is off, and its reads are not found.
async fn assert_dashboard_off(app: &TestApp) {
    let (status, body) = call(app, "/api/admin/access", empty(), &[]).await;
    assert_eq!((status, body.as_str()), (200, "\"off\""));
    let (status, _) = call(app, "/api/admin/overview", empty(), &[]).await;
    assert_eq!(status, 404);
}

fn jobs_form() -> Body {
    Body::Form(vec![
        ("state", "failed".into()),
        ("page", "0".into()),
        ("per_page", "20".into()),
        ("filter", String::new()),
    ])
}

#[tokio::test]
async fn in_production_every_read_and_action_is_refused_without_the_session_cookie() {
    let redis = RedisServer::start();
    let app = production(&redis).await;

    let calls = [
        ("/api/admin/overview", empty()),
        ("/api/admin/jobs", jobs_form()),
        (
            "/api/admin/job",
            Body::Form(vec![("id", "report-x".into())]),
        ),
        ("/api/admin/live", empty()),
        (
            "/api/admin/action",
            Body::Json(json!({ "action": { "action": "pause" } })),
        ),
        (
            "/api/admin/action",
            Body::Json(json!({ "action": { "action": "retry_all_failed" } })),
        ),
    ];
    for (path, body) in calls {
        let (status, text) = call(&app, path, body, &[]).await;
        assert_eq!(status, 403, "{path}: {text}");
    }
    // A made-up cookie is no better than none.
    let (status, _) = call(
        &app,
        "/api/admin/overview",
        empty(),
        &[("cookie", "queue_admin=1.abc")],
    )
    .await;
    assert_eq!(status, 403);
    let paused = support::report_queue(&redis.url())
        .admin()
        .counts()
        .await
        .unwrap()
        .paused;
    assert!(!paused, "the refused pause must not have happened");
}

#[tokio::test]
async fn signing_in_with_the_admin_token_sets_a_strict_http_only_secure_cookie() {
    let redis = RedisServer::start();
    let app = production(&redis).await;

    let response = app
        .http
        .post(app.url("/api/admin/login"))
        .json(&json!({ "token": TOKEN }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{attribute} missing");
    }
    assert!(
        !set_cookie.contains(TOKEN),
        "the cookie must not carry the token"
    );

    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let (status, body) = call(&app, "/api/admin/overview", empty(), &[("cookie", &cookie)]).await;
    assert_eq!(status, 200, "{body}");
    let overview: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(overview["command_budget"], 10_000);
    let (status, body) = call(&app, "/api/admin/access", empty(), &[("cookie", &cookie)]).await;
    assert_eq!((status, body.as_str()), (200, "\"signed_in\""));
}

#[tokio::test]
async fn a_wrong_admin_token_is_refused_and_sets_no_cookie() {
    let redis = RedisServer::start();
    let app = production(&redis).await;

    let response = app
        .http
        .post(app.url("/api/admin/login"))
        .json(&json!({ "token": "not-the-admin-token-at-all" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none());
    let body = response.text().await.unwrap();
    assert!(!body.contains(TOKEN));
}

#[tokio::test]
async fn after_a_burst_of_wrong_tokens_every_sign_in_waits_its_turn() {
    let redis = RedisServer::start();
    let app = production(&redis).await;
    let attempt = |token: &str| {
        call(
            &app,
            "/api/admin/login",
            Body::Json(json!({ "token": token })),
            &[],
        )
    };

    // The right token does not use up the allowance of wrong ones.
    assert_eq!(attempt(TOKEN).await.0, 200);
    for _ in 0..5 {
        assert_eq!(attempt("a-wrong-guess-of-the-token").await.0, 403);
    }
    let (status, body) = attempt("a-wrong-guess-of-the-token").await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("try again in"), "{body}");
    // Not even the right token is compared now, so a guesser learns nothing.
    assert_eq!(attempt(TOKEN).await.0, 429);
}

#[tokio::test]
async fn actions_from_another_origin_are_refused_even_with_the_session_cookie() {
    let redis = RedisServer::start();
    let app = production(&redis).await;
    let cookie = app.sign_in(TOKEN).await;
    let pause = || Body::Json(json!({ "action": { "action": "pause" } }));

    let (status, _) = call(
        &app,
        "/api/admin/action",
        pause(),
        &[("cookie", &cookie), ("origin", "https://attacker.example")],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        "/api/admin/action",
        pause(),
        &[("cookie", &cookie), ("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        !support::report_queue(&redis.url())
            .admin()
            .counts()
            .await
            .unwrap()
            .paused
    );

    // The same action from the dashboard's own origin goes through.
    let origin = format!("http://{}", app.addr);
    let (status, body) = call(
        &app,
        "/api/admin/action",
        pause(),
        &[
            ("cookie", &cookie),
            ("origin", &origin),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("paused"), "{body}");
    assert!(
        support::report_queue(&redis.url())
            .admin()
            .counts()
            .await
            .unwrap()
            .paused
    );
}

#[tokio::test]
async fn an_instance_listening_beyond_loopback_never_opens_the_dashboard_to_all() {
    // APP_ENV left at development, as a deployment might forget it.
    let redis = RedisServer::start();
    let bare = TestApp::spawn(&redis.url(), &[("LISTEN_ADDR", "0.0.0.0:0")]).await;
    assert_dashboard_off(&bare).await;
    assert_eq!(bare.status("/metrics").await, 401);

    let with_token = TestApp::spawn(
        &redis.url(),
        &[("LISTEN_ADDR", "0.0.0.0:0"), ("ADMIN_TOKEN", TOKEN)],
    )
    .await;
    let (status, _) = call(&with_token, "/api/admin/overview", empty(), &[]).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn in_production_without_an_admin_token_the_dashboard_is_off() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[("APP_ENV", "production")]).await;

    assert_dashboard_off(&app).await;
    let (status, _) = call(
        &app,
        "/api/admin/login",
        Body::Json(json!({ "token": "anything-sixteen-chars" })),
        &[],
    )
    .await;
    assert_eq!(status, 400);
    let page = app.text("/admin/queues").await;
    assert!(page.contains("switched off"), "{page}");
}

#[tokio::test]
async fn the_page_shows_a_sign_in_form_in_production_and_a_banner_in_development() {
    let redis = RedisServer::start();
    let prod = production(&redis).await;
    let page = prod.text("/admin/queues").await;
    assert!(page.contains("data-testid=\"sign-in\""), "{page}");
    assert!(!page.contains("dev-banner"));

    let dev = TestApp::spawn(&redis.url(), &[]).await;
    let page = dev.text("/admin/queues").await;
    assert!(page.contains("data-testid=\"dev-banner\""), "{page}");
    assert!(!page.contains("data-testid=\"sign-in\""));
}

#[tokio::test]
async fn in_development_the_dashboard_is_open_and_pause_and_resume_show_in_the_counts() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let action = |name: &str| Body::Json(json!({ "action": { "action": name } }));

    let (status, body) = call(&app, "/api/admin/action", action("pause"), &[]).await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = call(&app, "/api/admin/overview", empty(), &[]).await;
    let overview: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(overview["counts"]["paused"], true);

    let (status, _) = call(&app, "/api/admin/action", action("resume"), &[]).await;
    assert_eq!(status, 200);
    let (_, body) = call(&app, "/api/admin/overview", empty(), &[]).await;
    let overview: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(overview["counts"]["paused"], false);
}

#[tokio::test]
async fn bad_input_gets_a_client_error_with_a_message() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[]).await;

    let jobs = |state: &str, per_page: &str| {
        Body::Form(vec![
            ("state", state.into()),
            ("page", "0".into()),
            ("per_page", per_page.into()),
            ("filter", String::new()),
        ])
    };
    let action = |action: Value| Body::Json(json!({ "action": action }));
    // Each request, the status it must get, and words its message must hold.
    let cases = [
        (
            "/api/admin/action",
            action(json!({ "action": "explode" })),
            400,
            "",
        ),
        (
            "/api/admin/job",
            Body::Form(vec![("id", "x".repeat(300))]),
            400,
            "",
        ),
        (
            "/api/admin/job",
            Body::Form(vec![("id", "no-such-job".into())]),
            404,
            "no-such-job",
        ),
        ("/api/admin/jobs", jobs("failed", "5000"), 400, ""),
        ("/api/admin/jobs", jobs("lost", "20"), 400, ""),
        (
            "/api/admin/action",
            action(json!({ "action": "retry", "id": "no-such-job" })),
            404,
            "no-such-job",
        ),
        (
            "/api/admin/action",
            action(json!({ "action": "clean", "state": "waiting", "older_than_secs": 0 })),
            400,
            "",
        ),
    ];
    for (path, body, expected, words) in cases {
        let asked = format!("{path} with {body:?}");
        let (status, message) = call(&app, path, body, &[]).await;
        assert_eq!(status, expected, "{asked}: {message}");
        assert!(
            message.trim().len() > 10,
            "{asked} got no message: {message:?}"
        );
        assert!(message.contains(words), "{asked}: {message}");
    }
}

#[tokio::test]
async fn the_live_stream_sends_the_counts_then_each_new_job() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let response = app
        .http
        .post(app.url("/api/admin/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut pending = String::new();

    let first = read_until(&mut body, &mut pending, "a first update", |_| true).await;
    assert_eq!(first["type"], "counts", "the counts come first");
    let queue = support::report_queue(&redis.url());
    let delayed = EnqueueOptions {
        id: Some("report-live-test".into()),
        delay: Some(Duration::from_secs(600)),
        ..Default::default()
    };
    queue
        .enqueue_with(&json!({ "session_id": "live" }), delayed)
        .await
        .unwrap();
    // The job's own change is passed on at once; the counts follow it.
    let added = read_until(&mut body, &mut pending, "the new job is pushed", |l| {
        l["type"] == "job" && l["change"]["kind"] == "added"
    })
    .await;
    read_until(
        &mut body,
        &mut pending,
        "counts with the delayed job",
        |l| l["type"] == "counts" && l["counts"]["delayed"] == 1,
    )
    .await;
    assert_eq!(added["change"]["id"], "report-live-test");
    assert_eq!(added["change"]["state"], "delayed");
}

#[tokio::test]
async fn a_signed_in_live_stream_ends_when_its_sign_in_does() {
    let redis = RedisServer::start();
    let app = production(&redis).await;
    // A sign-in made as if long ago, so that it has two seconds left.
    let config = server::config::Config::from_vars(
        &[
            ("REDIS_URL", redis.url()),
            ("APP_ENV", "production".into()),
            ("ADMIN_TOKEN", TOKEN.into()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect(),
    )
    .unwrap();
    let auth = AdminAuth::for_config(&config);
    let signed_at = SystemTime::now() - SESSION_TTL + Duration::from_secs(2);
    let set_cookie = auth.login(TOKEN, signed_at).expect("the token signs in");
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    let response = app
        .http
        .post(app.url("/api/admin/live"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut pending = String::new();
    read_until(&mut body, &mut pending, "the counts", |line| {
        line["type"] == "counts"
    })
    .await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived the sign-in");

    // Opening it again is refused, as a server function's own error.
    let (status, text) = call(&app, "/api/admin/live", empty(), &[("cookie", &cookie)]).await;
    assert_eq!(status, 403);
    let error: AppError = serde_json::from_str(&text).expect("a server function error");
    assert!(matches!(error, AppError::Forbidden(_)), "{error:?}");
}

/// Reads lines from a live stream until one satisfies `done`, and returns
/// that one; `what` names it if it does not come in time.
async fn read_until(
    body: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    pending: &mut String,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            let update = serde_json::from_str(line.trim()).unwrap();
            if done(&update) {
                return update;
            }
        }
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .unwrap_or_else(|_| panic!("updates arrive in time: {what}"))
            .expect("the stream stays open")
            .unwrap();
        pending.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

async fn script_calls(redis: &RedisServer) -> u64 {
    let url: RedisUrl = redis.url().parse().unwrap();
    let mut conn = redis_client::connect(&url).unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let calls = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    calls("evalsha") + calls("eval")
}

#[tokio::test]
async fn open_pages_share_one_feed_instead_of_each_reading_redis() {
    let redis = RedisServer::start();
    // No worker on this instance, so every script call after the pages
    // connect is either an enqueue below or a read of the counts.
    let app = TestApp::spawn(&redis.url(), &[("ROLE", "web")]).await;
    const PAGES: usize = 8;
    const JOBS: u64 = 10;

    let mut pages = Vec::new();
    for _ in 0..PAGES {
        let response = app
            .http
            .post(app.url("/api/admin/live"))
            .send()
            .await
            .unwrap();
        let mut body = response.bytes_stream();
        let mut pending = String::new();
        read_until(&mut body, &mut pending, "the counts", |l| {
            l["type"] == "counts"
        })
        .await;
        pages.push((body, pending));
    }

    let queue = support::report_queue(&redis.url());
    let before = script_calls(&redis).await;
    for i in 0..JOBS {
        let options = EnqueueOptions {
            id: Some(format!("report-shared-{i}")),
            delay: Some(Duration::from_secs(600)),
            ..Default::default()
        };
        queue
            .enqueue_with(&json!({ "n": i }), options)
            .await
            .unwrap();
    }
    for (body, pending) in &mut pages {
        read_until(body, pending, "the counts of every job", |l| {
            l["type"] == "counts" && l["counts"]["delayed"] == JOBS
        })
        .await;
    }
    let reads = script_calls(&redis).await - before - JOBS;
    // One read at the first event and at most a couple more while the
    // burst lasts: not one per page.
    assert!(reads <= 3, "{reads} count reads for {PAGES} pages");
}

#[tokio::test]
async fn jobs_are_listed_newest_first_in_pages_and_filtered_by_session_id() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[("ROLE", "web")]).await;
    let queue = support::report_queue(&redis.url());
    for i in 0..25 {
        let session = if i % 5 == 0 {
            format!("aaaa{i:02}")
        } else {
            format!("bbbb{i:02}")
        };
        let options = EnqueueOptions {
            id: Some(format!("report-{session}")),
            delay: Some(Duration::from_secs(600)),
            ..Default::default()
        };
        queue
            .enqueue_with(&json!({ "session_id": session }), options)
            .await
            .unwrap();
    }
    let list = |page: u32, filter: &str| {
        Body::Form(vec![
            ("state", "delayed".into()),
            ("page", page.to_string()),
            ("per_page", "20".into()),
            ("filter", filter.into()),
        ])
    };
    let ids = |body: &str| -> (Vec<String>, u64) {
        let list: Value = serde_json::from_str(body).unwrap();
        let ids = list["jobs"].as_array().unwrap().iter();
        (
            ids.map(|j| j["id"].as_str().unwrap().to_string()).collect(),
            list["total"].as_u64().unwrap(),
        )
    };

    let (status, body) = call(&app, "/api/admin/jobs", list(0, ""), &[]).await;
    assert_eq!(status, 200, "{body}");
    let (first, total) = ids(&body);
    assert_eq!((first.len(), total), (20, 25));
    // Delayed jobs are listed latest due first: the last enqueued leads.
    assert_eq!(first[0], "report-bbbb24");
    let (_, body) = call(&app, "/api/admin/jobs", list(1, ""), &[]).await;
    let (second, _) = ids(&body);
    assert_eq!(second.len(), 5);
    assert!(second.iter().all(|id| !first.contains(id)));

    let (_, body) = call(&app, "/api/admin/jobs", list(0, "aaaa"), &[]).await;
    let (filtered, total) = ids(&body);
    assert_eq!(total, 5);
    assert!(
        filtered.iter().all(|id| id.contains("aaaa")),
        "{filtered:?}"
    );
}
