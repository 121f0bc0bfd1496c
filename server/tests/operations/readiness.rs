//! `/readyz` follows Redis: not ready while it is away, ready again when it
//! returns, without a restart of the instance.

use server::testkit::RedisServer;

use crate::{
    chat_support::lesson,
    metrics::{scrape, value},
    report,
    support::TestApp,
};

#[tokio::test]
async fn readiness_flips_when_redis_stops_and_recovers_when_it_returns() {
    let mut redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[("QUEUE_RATE_MAX", "0")]).await;
    app.wait_for_status("/readyz", 200).await;

    redis.kill();
    app.wait_for_status("/readyz", 503).await;
    // Still alive, and still telling what it knows.
    assert_eq!(app.status("/healthz").await, 200);
    let page = scrape(&app).await;
    assert_eq!(value(&page, "tutoring_redis_up", &[]), 0.0);

    redis.restart();
    app.wait_for_status("/readyz", 200).await;
    let page = scrape(&app).await;
    assert_eq!(value(&page, "tutoring_redis_up", &[]), 1.0);
    assert_eq!(value(&page, "tutoring_redis_subscription_up", &[]), 1.0);

    // The chat and the queue took up their work again without a restart.
    let session = lesson(&app).await;
    assert_eq!(report(&app, &session).await["status"], "completed");
}
