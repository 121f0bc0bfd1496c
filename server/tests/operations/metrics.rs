//! `/metrics`: the page parses as Prometheus text, its figures move when
//! jobs run and messages flow, and production keeps it for the admin.

use prometheus_parse::{LineInfo, Scrape, Value};
use server::testkit::RedisServer;

use crate::{
    chat_support::{self, lesson},
    model_support::{Answer, FakeModel, USAGE},
    report,
    support::TestApp,
};

/// Reads `/metrics` and parses it, checking on the way that every line is a
/// comment or a sample the parser understood (it skips what it does not) and
/// that every family declares its type.
pub(crate) async fn scrape_with(app: &TestApp, token: Option<&str>) -> Scrape {
    let mut request = app.http.get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the server answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();

    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Doc { .. } | LineInfo::Type { .. } => {}
            LineInfo::Sample { metric_name, .. } => {
                let declared = text.lines().any(|l| {
                    l.strip_prefix("# TYPE ")
                        .and_then(|rest| rest.split(' ').next())
                        .is_some_and(|family| metric_name.starts_with(family))
                });
                assert!(declared, "{metric_name} has no TYPE line:\n{text}");
            }
            other => panic!("not a valid exposition line: {line:?} ({other:?})\n{text}"),
        }
    }
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("the page parses")
}

pub(crate) async fn scrape(app: &TestApp) -> Scrape {
    scrape_with(app, None).await
}

/// The value of the one sample of `name` with exactly `labels`.
pub(crate) fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one sample of {name} {labels:?}: {matching:?}"
    );
    match &matching[0].value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{name} is not a plain value: {other:?}"),
    }
}

/// The cumulative buckets of the histogram `name`, as (upper edge, count).
pub(crate) fn buckets(scrape: &Scrape, name: &str) -> Vec<(f64, f64)> {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name)
        .unwrap_or_else(|| panic!("no histogram {name}"));
    match &sample.value {
        Value::Histogram(counts) => counts.iter().map(|c| (c.less_than, c.count)).collect(),
        other => panic!("{name} is not a histogram: {other:?}"),
    }
}

const REPORTS: (&str, &str) = ("queue", "reports");

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_when_jobs_run() {
    let redis = RedisServer::start();
    let model = FakeModel::start().await;
    // The first report fails once and is retried; the second is refused
    // for good.
    model
        .then(Answer::Status {
            code: 500,
            retry_after: None,
            message: "upstream hiccup".into(),
        })
        .then(Answer::report("A good lesson."))
        .always(Answer::Status {
            code: 401,
            retry_after: None,
            message: "bad key".into(),
        });
    let base = model.base_url();
    // One start per two seconds: the retry, due after 200 ms, must wait.
    let app = TestApp::spawn(
        &redis.url(),
        &[
            ("OPENAI_API_KEY", "sk-ops-test"),
            ("OPENAI_BASE_URL", &base),
            ("QUEUE_BACKOFF_MS", "200"),
            ("QUEUE_RATE_MAX", "1"),
            ("QUEUE_RATE_WINDOW_MS", "2000"),
        ],
    )
    .await;

    let before = scrape(&app).await;
    for name in [
        "tutoring_queue_jobs_completed_total",
        "tutoring_queue_jobs_failed_total",
        "tutoring_queue_jobs_retried_total",
        "tutoring_queue_rate_limit_waits_total",
    ] {
        assert_eq!(value(&before, name, &[REPORTS]), 0.0, "{name}");
    }
    for state in ["waiting", "active", "delayed", "completed", "failed"] {
        let labels = [REPORTS, ("state", state)];
        assert_eq!(
            value(&before, "tutoring_queue_jobs", &labels),
            0.0,
            "{state}"
        );
    }
    assert_eq!(
        value(
            &before,
            "tutoring_queue_processing_seconds_count",
            &[REPORTS]
        ),
        0.0
    );
    assert_eq!(
        value(&before, "tutoring_chat_messages_received_total", &[]),
        0.0
    );
    assert_eq!(
        value(&before, "tutoring_chat_connection_errors_total", &[]),
        0.0
    );
    assert_eq!(
        value(
            &before,
            "tutoring_model_tokens_today",
            &[("kind", "prompt")]
        ),
        0.0
    );
    assert_eq!(value(&before, "tutoring_redis_up", &[]), 1.0);
    assert_eq!(value(&before, "tutoring_redis_subscription_up", &[]), 1.0);
    let queue_commands = value(
        &before,
        "tutoring_redis_commands_total",
        &[("engine", "queue")],
    );
    let chat_commands = value(
        &before,
        "tutoring_redis_commands_total",
        &[("engine", "chat")],
    );

    let first = lesson(&app).await;
    // A socket stays open while the scrape runs.
    let (_watcher, _) =
        chat_support::Client::join(app.addr, &first.id, &first.tutor_token, None).await;
    assert_eq!(report(&app, &first).await["status"], "completed");
    let second = lesson(&app).await;
    assert_eq!(report(&app, &second).await["status"], "failed");

    let after = scrape(&app).await;
    let counter = |name| value(&after, name, &[REPORTS]);
    assert_eq!(counter("tutoring_queue_jobs_completed_total"), 1.0);
    assert_eq!(counter("tutoring_queue_jobs_retried_total"), 1.0);
    assert_eq!(counter("tutoring_queue_jobs_failed_total"), 1.0);
    assert!(counter("tutoring_queue_rate_limit_waits_total") >= 1.0);
    let jobs = |state| value(&after, "tutoring_queue_jobs", &[REPORTS, ("state", state)]);
    assert_eq!((jobs("completed"), jobs("failed")), (1.0, 1.0));
    assert_eq!(
        (jobs("waiting"), jobs("active"), jobs("delayed")),
        (0.0, 0.0, 0.0)
    );

    // The one completed job is in the histogram, in every bucket from the
    // first edge at or above its time.
    let histogram = buckets(&after, "tutoring_queue_processing_seconds");
    assert!(histogram.len() > 5, "{histogram:?}");
    assert!(histogram
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    assert_eq!(histogram.last().unwrap(), &(f64::INFINITY, 1.0));
    assert_eq!(counter("tutoring_queue_processing_seconds_count"), 1.0);
    assert!(counter("tutoring_queue_processing_seconds_sum") > 0.0);

    let tokens = |kind| value(&after, "tutoring_model_tokens_today", &[("kind", kind)]);
    assert_eq!(tokens("prompt"), f64::from(USAGE.0));
    assert_eq!(tokens("completion"), f64::from(USAGE.1));
    assert_eq!(value(&after, "tutoring_reports_written_today", &[]), 1.0);

    assert_eq!(
        value(&after, "tutoring_chat_messages_received_total", &[]),
        8.0
    );
    assert!(value(&after, "tutoring_chat_messages_sent_total", &[]) >= 8.0);
    assert!(value(&after, "tutoring_chat_open_sockets", &[]) >= 1.0);
    assert!(value(&after, "tutoring_chat_delivery_lag_seconds_count", &[]) >= 8.0);
    assert!(
        value(
            &after,
            "tutoring_redis_commands_total",
            &[("engine", "queue")]
        ) > queue_commands
    );
    assert!(
        value(
            &after,
            "tutoring_redis_commands_total",
            &[("engine", "chat")]
        ) > chat_commands
    );
}

#[tokio::test]
async fn in_production_the_metrics_need_the_admin_token_or_the_dashboard_sign_in() {
    let redis = RedisServer::start();
    let token = "admin-token-for-the-ops-test";
    let app = TestApp::spawn(
        &redis.url(),
        &[("APP_ENV", "production"), ("ADMIN_TOKEN", token)],
    )
    .await;

    assert_eq!(app.status("/metrics").await, 401);
    let wrong = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("admin-token-for-the-ops-tesT")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let page = scrape_with(&app, Some(token)).await;
    assert_eq!(value(&page, "tutoring_redis_up", &[]), 1.0);

    // An admin signed in to the dashboard may open it in the browser too.
    let session = app.sign_in(token).await;
    let with_cookie = app.get_with_cookie("/metrics", &session).await;
    assert_eq!(with_cookie.status(), 200);
    let forged = app
        .get_with_cookie("/metrics", "queue_admin=4102444800.00ff")
        .await;
    assert_eq!(forged.status(), 401);
}

#[tokio::test]
async fn in_development_the_metrics_are_open() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[("ADMIN_TOKEN", "a-token-nobody-shows")]).await;
    let page = scrape(&app).await;
    assert_eq!(value(&page, "tutoring_redis_up", &[]), 1.0);
}
