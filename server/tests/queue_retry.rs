//! Failed attempts: exponential backoff, a handler's own retry delay,
//! permanent failure, per-job attempts, and each attempt's error kept.

mod queue_support;

use std::time::Duration;

use queue_support::{finished, next_event, Harness};
use serde_json::{json, Value};
use server::queue::{from_fn, EnqueueOptions, Event, JobContext, JobState, Outcome};

/// The start and failure times of each attempt, from the job's timeline.
fn times(job: &server::queue::Job, kind: &str) -> Vec<u64> {
    job.timeline
        .iter()
        .filter(|t| t.kind == kind)
        .map(|t| t.at)
        .collect()
}

#[tokio::test]
async fn a_failing_job_is_retried_with_exponential_backoff_then_fails_with_each_error() {
    let h = Harness::start().await;
    let mut options = h.options("backoff");
    options.backoff = Duration::from_millis(100);
    let queue = h.queue(options);
    let mut events = queue.events().await;
    let _worker = h
        .worker(
            &queue,
            from_fn(|job: JobContext<Value>| async move {
                Outcome::Failed(format!("attempt {} failed", job.attempt))
            }),
        )
        .await;

    let id = queue.enqueue(&json!({})).await.unwrap().id;
    let mine = |e: &Event| {
        e.job() == Some(id.as_str()) && matches!(e, Event::Retrying { .. } | Event::Failed { .. })
    };
    let first = next_event(&mut events, "first retry", &mine).await;
    let delays: Vec<u64> = [first, next_event(&mut events, "second retry", &mine).await]
        .into_iter()
        .map(|e| match e {
            Event::Retrying {
                delay_ms,
                state: JobState::Delayed,
                ..
            } => delay_ms,
            other => panic!("expected a retry, got {other:?}"),
        })
        .collect();
    assert_eq!(delays, [100, 200]);
    let failed = next_event(&mut events, "failure", &mine).await;
    assert_eq!(
        failed,
        Event::Failed {
            job: id.clone(),
            attempts: 3,
            error: "attempt 3 failed".into()
        }
    );

    let job = queue.get(&id).await.unwrap();
    assert_eq!(
        (job.summary.state, job.summary.attempts, job.failures),
        (JobState::Failed, 3, 3)
    );
    assert_eq!(job.summary.error.as_deref(), Some("attempt 3 failed"));
    let errors: Vec<&str> = job
        .timeline
        .iter()
        .filter_map(|t| t.error.as_deref())
        .collect();
    assert_eq!(
        errors,
        ["attempt 1 failed", "attempt 2 failed", "attempt 3 failed"]
    );
    let (starts, failures) = (times(&job, "started"), times(&job, "failed"));
    assert!(starts[1] >= failures[0] + 100, "{starts:?} {failures:?}");
    assert!(starts[2] >= failures[1] + 200, "{starts:?} {failures:?}");
}

#[tokio::test]
async fn a_handler_can_ask_for_its_own_retry_delay() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("retry-after"));
    let _worker = h
        .worker(
            &queue,
            from_fn(|job: JobContext<Value>| async move {
                if job.attempt == 1 {
                    Outcome::RetryAfter {
                        error: "429 Too Many Requests".into(),
                        delay: Duration::from_millis(400),
                    }
                } else {
                    Outcome::Completed(json!("second time lucky"))
                }
            }),
        )
        .await;

    let id = queue.enqueue(&json!({})).await.unwrap().id;
    let job = finished(&queue, &id).await;
    assert_eq!(job.summary.state, JobState::Completed);
    assert_eq!(job.result, Some(json!("second time lucky")));
    let (starts, failures) = (times(&job, "started"), times(&job, "failed"));
    assert!(
        starts[1] >= failures[0] + 400,
        "the job's own 50 ms backoff was not used"
    );
    assert_eq!(job.summary.error.as_deref(), Some("429 Too Many Requests"));
}

#[tokio::test]
async fn a_permanent_failure_skips_the_remaining_attempts() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("fatal"));
    let _worker = h
        .worker(
            &queue,
            from_fn(|_job: JobContext<Value>| async {
                Outcome::FailedPermanently("401 Unauthorized".into())
            }),
        )
        .await;

    let id = queue.enqueue(&json!({})).await.unwrap().id;
    let job = finished(&queue, &id).await;
    assert_eq!(
        (job.summary.state, job.summary.attempts),
        (JobState::Failed, 1)
    );
    assert_eq!(job.summary.error.as_deref(), Some("401 Unauthorized"));
}

#[tokio::test]
async fn attempts_and_backoff_can_be_set_per_job() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("per-job-attempts"));
    let _worker = h
        .worker(
            &queue,
            from_fn(|_job: JobContext<Value>| async { Outcome::Failed("nope".into()) }),
        )
        .await;

    let once = EnqueueOptions {
        attempts: Some(1),
        ..Default::default()
    };
    let id = queue.enqueue_with(&json!({}), once).await.unwrap().id;
    let job = finished(&queue, &id).await;
    assert_eq!((job.summary.attempts, job.summary.max_attempts), (1, 1));

    let slow = EnqueueOptions {
        attempts: Some(2),
        backoff: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let id = queue.enqueue_with(&json!({}), slow).await.unwrap().id;
    let job = finished(&queue, &id).await;
    assert_eq!((job.summary.attempts, job.backoff_ms), (2, 300));
    assert!(times(&job, "started")[1] >= times(&job, "failed")[0] + 300);
}

#[tokio::test]
async fn a_job_that_succeeds_on_its_last_attempt_completes_with_its_failures_recorded() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("third-time"));
    let _worker = h
        .worker(
            &queue,
            from_fn(|job: JobContext<Value>| async move {
                if job.attempt < job.max_attempts {
                    Outcome::Failed(format!("timeout on attempt {}", job.attempt))
                } else {
                    Outcome::Completed(json!({ "attempt": job.attempt }))
                }
            }),
        )
        .await;

    let id = queue.enqueue(&json!({})).await.unwrap().id;
    let job = finished(&queue, &id).await;
    assert_eq!(job.summary.state, JobState::Completed);
    assert_eq!(job.result, Some(json!({ "attempt": 3 })));
    assert_eq!(job.failures, 2);
    let metrics = queue.admin().metrics().await.unwrap();
    assert_eq!((metrics.completed, metrics.failed), (1, 0));
    assert_eq!(metrics.minutes.iter().map(|m| m.retried).sum::<u64>(), 2);
}
