//! Roles from one binary: a `web` instance serves pages and enqueues, a
//! `worker` instance runs the jobs and answers only its health checks and
//! metrics.

use server::testkit::RedisServer;

use crate::{
    chat_support::lesson,
    metrics::{scrape, value},
    report,
    support::TestApp,
};

#[tokio::test]
async fn a_web_instance_enqueues_and_a_worker_instance_runs_the_job() {
    let redis = RedisServer::start();
    let web = TestApp::spawn(
        &redis.url(),
        &[
            ("ROLE", "web"),
            ("INSTANCE_ID", "web-1"),
            ("QUEUE_RATE_MAX", "0"),
        ],
    )
    .await;
    let worker = TestApp::spawn(
        &redis.url(),
        &[
            ("ROLE", "worker"),
            ("INSTANCE_ID", "worker-1"),
            ("QUEUE_RATE_MAX", "0"),
        ],
    )
    .await;

    // The worker serves no pages, sockets or API.
    assert_eq!(worker.status("/").await, 404);
    assert_eq!(worker.status("/api/reports/session/x/status").await, 404);
    assert_eq!(worker.status("/healthz").await, 200);
    assert_eq!(worker.status("/readyz").await, 200);

    let session = lesson(&web).await;
    assert_eq!(report(&web, &session).await["status"], "completed");

    // The job ran on the worker: only it has a worker's counters.
    let on_worker = scrape(&worker).await;
    let reports = [("queue", "reports")];
    assert_eq!(
        value(&on_worker, "tutoring_queue_jobs_completed_total", &reports),
        1.0
    );
    let on_web = scrape(&web).await;
    assert!(
        !on_web
            .samples
            .iter()
            .any(|s| s.metric == "tutoring_queue_jobs_completed_total"),
        "a web instance runs no jobs"
    );
    assert_eq!(
        value(
            &on_web,
            "tutoring_queue_jobs",
            &[reports[0], ("state", "completed")]
        ),
        1.0
    );
    assert_eq!(
        value(&on_web, "tutoring_chat_messages_received_total", &[]),
        4.0
    );
}
