//! A job's life through the queue: enqueue, claim, progress, completion,
//! dedupe by id, delays, and bad input that fails clearly and loses nothing.

mod queue_support;

use std::{
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
    time::Duration,
};

use queue_support::{finished, next_event, patiently, Harness};
use serde::{Deserialize, Serialize};
use serde_json::json;
use server::queue::{from_fn, EnqueueOptions, Event, JobState, Outcome, QueueError};
use tokio::sync::Notify;

#[derive(Debug, Serialize, Deserialize)]
struct Greet {
    name: String,
}

fn greet(name: &str) -> Greet {
    Greet {
        name: name.to_string(),
    }
}

#[tokio::test]
async fn enqueued_job_runs_through_waiting_active_and_completed_with_its_result() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("life"));
    let mut events = queue.events().await;
    let _worker = h
        .worker(
            &queue,
            from_fn(|job: server::queue::JobContext<Greet>| async move {
                job.progress(50, "halfway").await.unwrap();
                Outcome::Completed(json!({ "greeting": format!("hello {}", job.payload.name) }))
            }),
        )
        .await;

    let enqueued = queue.enqueue(&greet("ada")).await.unwrap();
    assert!(enqueued.created);
    assert_eq!(enqueued.state, JobState::Waiting);

    let id = enqueued.id.clone();
    let mine = |e: &Event| e.job() == Some(id.as_str());
    let added = next_event(&mut events, "added", &mine).await;
    assert_eq!(
        added,
        Event::Added {
            job: id.clone(),
            state: JobState::Waiting
        }
    );
    let active = next_event(&mut events, "active", &mine).await;
    assert!(
        matches!(active, Event::Active { attempt: 1, .. }),
        "{active:?}"
    );
    let progress = next_event(&mut events, "progress", &mine).await;
    assert_eq!(
        progress,
        Event::Progress {
            job: id.clone(),
            progress: 50,
            message: "halfway".into()
        }
    );
    let completed = next_event(&mut events, "completed", &mine).await;
    assert!(
        matches!(completed, Event::Completed { .. }),
        "{completed:?}"
    );

    let job = queue.get(&id).await.unwrap();
    let s = &job.summary;
    assert_eq!(s.state, JobState::Completed);
    assert_eq!(job.result, Some(json!({ "greeting": "hello ada" })));
    assert_eq!(job.payload, json!({ "name": "ada" }));
    assert_eq!(
        (s.progress, s.message.as_str(), s.attempts, s.max_attempts),
        (100, "halfway", 1, 3)
    );
    assert_eq!(
        s.instance.as_deref(),
        Some(queue.options().instance_id.as_str())
    );
    let started = s.started_at.unwrap();
    assert!(s.created_at <= started && started <= s.finished_at.unwrap());
    let kinds: Vec<&str> = job.timeline.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, ["started", "completed"]);
}

#[tokio::test]
async fn a_caller_given_id_returns_the_unfinished_job_instead_of_a_duplicate() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("dedupe"));
    let with_id = |id: &str| EnqueueOptions {
        id: Some(id.into()),
        ..Default::default()
    };

    // Waiting.
    let first = queue
        .enqueue_with(&greet("a"), with_id("report-1"))
        .await
        .unwrap();
    let again = queue
        .enqueue_with(&greet("b"), with_id("report-1"))
        .await
        .unwrap();
    assert!(first.created && !again.created);
    assert_eq!(again.state, JobState::Waiting);
    assert_eq!(
        queue.get("report-1").await.unwrap().payload,
        json!({ "name": "a" })
    );

    // Delayed.
    let delayed = EnqueueOptions {
        delay: Some(Duration::from_secs(60)),
        ..with_id("report-2")
    };
    assert_eq!(
        queue
            .enqueue_with(&greet("c"), delayed)
            .await
            .unwrap()
            .state,
        JobState::Delayed
    );
    let again = queue
        .enqueue_with(&greet("d"), with_id("report-2"))
        .await
        .unwrap();
    assert_eq!((again.created, again.state), (false, JobState::Delayed));

    // Active: the handler holds the job until released.
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    let _worker = h
        .worker(
            &queue,
            from_fn(move |_job: server::queue::JobContext<Greet>| {
                let gate = gate.clone();
                async move {
                    gate.notified().await;
                    Outcome::Completed(json!(null))
                }
            }),
        )
        .await;
    queue_support::reaches(&queue, "report-1", JobState::Active).await;
    let again = queue
        .enqueue_with(&greet("e"), with_id("report-1"))
        .await
        .unwrap();
    assert_eq!((again.created, again.state), (false, JobState::Active));
    assert_eq!(queue.admin().counts().await.unwrap().active, 1);

    // Finished: the id is free again and a new job replaces the old one.
    release.notify_one();
    finished(&queue, "report-1").await;
    let fresh = queue
        .enqueue_with(&greet("f"), with_id("report-1"))
        .await
        .unwrap();
    assert!(fresh.created);
    let job = queue.get("report-1").await.unwrap();
    assert_eq!(job.payload, json!({ "name": "f" }));
    release.notify_one();
    assert_eq!(finished(&queue, "report-1").await.summary.attempts, 1);
}

#[tokio::test]
async fn following_a_job_yields_each_progress_step_then_the_finished_job() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("follow"));
    let id = queue.enqueue(&greet("grace")).await.unwrap().id;
    let mut follow = queue.follow(&id).await.unwrap();
    let first = follow.next().await.unwrap().unwrap();
    assert_eq!((first.state, first.progress), (JobState::Waiting, 0));

    let _worker = h
        .worker(
            &queue,
            from_fn(|job: server::queue::JobContext<Greet>| async move {
                for (pct, step) in [
                    (10, "transcript loaded"),
                    (60, "analytics done"),
                    (90, "saved"),
                ] {
                    job.progress(pct, step).await.unwrap();
                }
                Outcome::Completed(json!("done"))
            }),
        )
        .await;

    let mut steps = Vec::new();
    patiently("the followed job to finish", async {
        while let Some(update) = follow.next().await {
            let update = update.unwrap();
            steps.push((update.state, update.progress, update.message.clone()));
        }
    })
    .await;
    let progress: Vec<u8> = steps
        .iter()
        .filter(|s| s.0 == JobState::Active)
        .map(|s| s.1)
        .collect();
    assert_eq!(progress, [0, 10, 60, 90]);
    assert_eq!(
        steps.last().unwrap(),
        &(JobState::Completed, 100, "saved".to_string())
    );
}

#[tokio::test]
async fn unknown_and_invalid_job_ids_give_clear_errors() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("unknown"));
    let admin = queue.admin();

    assert!(matches!(queue.get("nope").await, Err(QueueError::NotFound(id)) if id == "nope"));
    assert!(matches!(
        admin.retry("nope").await,
        Err(QueueError::NotFound(_))
    ));
    assert!(matches!(
        admin.remove("nope").await,
        Err(QueueError::NotFound(_))
    ));
    assert!(matches!(
        admin.promote("nope").await,
        Err(QueueError::NotFound(_))
    ));
    assert!(matches!(
        queue.follow("nope").await,
        Err(QueueError::NotFound(_))
    ));
    let err = queue.get("nope").await.unwrap_err();
    assert_eq!(err.public_message(), "no job with id \"nope\"");

    let spaced = EnqueueOptions {
        id: Some("has space".into()),
        ..Default::default()
    };
    assert!(matches!(
        queue.enqueue_with(&greet("x"), spaced).await,
        Err(QueueError::InvalidId(_))
    ));
    assert_eq!(admin.counts().await.unwrap().waiting, 0);
}

#[tokio::test]
async fn a_payload_that_does_not_deserialize_fails_the_job_at_once_and_is_kept() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("bad-payload"));
    let runs = Arc::new(AtomicU32::new(0));
    let seen = runs.clone();
    let _worker = h
        .worker(
            &queue,
            from_fn(move |_job: server::queue::JobContext<Greet>| {
                seen.fetch_add(1, Ordering::SeqCst);
                async { Outcome::Completed(json!(null)) }
            }),
        )
        .await;

    let id = queue
        .enqueue(&json!({ "unexpected": true }))
        .await
        .unwrap()
        .id;
    let job = finished(&queue, &id).await;
    assert_eq!(job.summary.state, JobState::Failed);
    let error = job.summary.error.unwrap();
    assert!(
        error.contains("payload does not match the job type"),
        "{error}"
    );
    assert!(
        error.contains("name"),
        "the reason names the missing field: {error}"
    );
    assert_eq!(
        job.summary.attempts, 1,
        "no retry for a payload that can never fit"
    );
    assert_eq!(job.payload, json!({ "unexpected": true }));
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the handler never saw it");
}

#[tokio::test]
async fn a_delayed_job_waits_its_delay_then_runs() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("delayed"));
    let _worker = h
        .worker(
            &queue,
            from_fn(|_job: server::queue::JobContext<Greet>| async {
                Outcome::Completed(json!(1))
            }),
        )
        .await;

    let options = EnqueueOptions {
        delay: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let enqueued = queue.enqueue_with(&greet("later"), options).await.unwrap();
    assert_eq!(enqueued.state, JobState::Delayed);
    let pending = queue.get(&enqueued.id).await.unwrap().summary;
    assert_eq!(pending.state, JobState::Delayed);
    assert!(pending.due_at.unwrap() >= pending.created_at + 300);

    let job = finished(&queue, &enqueued.id).await;
    assert_eq!(job.summary.state, JobState::Completed);
    assert!(job.summary.started_at.unwrap() >= job.summary.created_at + 300);
}

#[tokio::test]
async fn a_panicking_handler_fails_the_attempt_and_the_retry_completes() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("panic"));
    let _worker = h
        .worker(
            &queue,
            from_fn(|job: server::queue::JobContext<Greet>| async move {
                if job.attempt == 1 {
                    panic!("boom on the first attempt");
                }
                Outcome::Completed(json!(job.attempt))
            }),
        )
        .await;

    let id = queue.enqueue(&greet("p")).await.unwrap().id;
    let job = finished(&queue, &id).await;
    assert_eq!(job.summary.state, JobState::Completed);
    assert_eq!(job.result, Some(json!(2)));
    let failure = job.timeline.iter().find(|t| t.kind == "failed").unwrap();
    assert!(failure
        .error
        .as_deref()
        .unwrap()
        .contains("boom on the first attempt"));
}
