//! Every admin operation the dashboard calls: counts, pages, retries,
//! removal, promotion, cleaning, pause and resume, retention, metrics and the
//! per-day command count.

mod queue_support;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use queue_support::{finished, next_event, reaches, Harness};
use serde::{Deserialize, Serialize};
use serde_json::json;
use server::queue::{
    from_fn, Counts, EnqueueOptions, Event, Handler, JobContext, JobState, Outcome, QueueError,
    Retention,
};
use tokio::sync::Notify;

/// What a test job should do.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Task {
    Complete,
    Fail,
    Hold,
    Sleep(u64),
}

/// Completes, fails for good while `broken`, holds until `release`, or sleeps.
fn tasks(broken: Arc<AtomicBool>, release: Arc<Notify>) -> impl Handler<Payload = Task> {
    from_fn(move |job: JobContext<Task>| {
        let (broken, release) = (broken.clone(), release.clone());
        async move {
            match job.payload {
                Task::Complete => Outcome::Completed(json!("ok")),
                Task::Fail if broken.load(Ordering::SeqCst) => {
                    Outcome::FailedPermanently("broken".into())
                }
                Task::Fail => Outcome::Completed(json!("fixed")),
                Task::Hold => {
                    release.notified().await;
                    Outcome::Completed(json!("released"))
                }
                Task::Sleep(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Outcome::Completed(json!(ms))
                }
            }
        }
    })
}

fn id(id: &str) -> EnqueueOptions {
    EnqueueOptions {
        id: Some(id.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn counts_show_every_state_and_the_paused_flag() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("counts"));
    let admin = queue.admin();
    let release = Arc::new(Notify::new());
    let _worker = h
        .worker(
            &queue,
            tasks(Arc::new(AtomicBool::new(true)), release.clone()),
        )
        .await;

    finished(
        &queue,
        &queue
            .enqueue_with(&Task::Complete, id("done"))
            .await
            .unwrap()
            .id,
    )
    .await;
    finished(
        &queue,
        &queue
            .enqueue_with(&Task::Fail, id("broken"))
            .await
            .unwrap()
            .id,
    )
    .await;
    queue.enqueue_with(&Task::Hold, id("held")).await.unwrap();
    reaches(&queue, "held", JobState::Active).await;
    admin.pause().await.unwrap();
    queue.enqueue(&Task::Complete).await.unwrap();
    queue.enqueue(&Task::Complete).await.unwrap();
    let later = EnqueueOptions {
        delay: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    queue.enqueue_with(&Task::Complete, later).await.unwrap();

    let counts = admin.counts().await.unwrap();
    let expected = Counts {
        waiting: 2,
        active: 1,
        delayed: 1,
        completed: 1,
        failed: 1,
        paused: true,
    };
    assert_eq!(counts, expected);
    assert_eq!(counts.of(JobState::Failed), 1);
    assert_eq!(
        admin.job("broken").await.unwrap().summary.error.as_deref(),
        Some("broken")
    );
    release.notify_one();
}

#[tokio::test]
async fn jobs_are_listed_newest_first_in_pages_with_a_total_and_an_id_filter() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("pages"));
    let admin = queue.admin();
    for name in [
        "report-a-1",
        "report-a-2",
        "report-a-3",
        "report-b-1",
        "report-b-2",
    ] {
        queue.enqueue_with(&Task::Complete, id(name)).await.unwrap();
    }
    let ids =
        |page: &server::queue::JobPage| page.jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>();

    let page = admin.jobs(JobState::Waiting, 0, 2, None).await.unwrap();
    assert_eq!(
        (ids(&page), page.total),
        (vec!["report-b-2".to_string(), "report-b-1".into()], 5)
    );
    let page = admin.jobs(JobState::Waiting, 2, 2, None).await.unwrap();
    assert_eq!(ids(&page), ["report-a-3", "report-a-2"]);

    let page = admin
        .jobs(JobState::Waiting, 0, 10, Some("-a-"))
        .await
        .unwrap();
    assert_eq!(
        (ids(&page), page.total),
        (
            vec![
                "report-a-3".into(),
                "report-a-2".into(),
                "report-a-1".into()
            ],
            3
        )
    );
    let page = admin
        .jobs(JobState::Waiting, 1, 1, Some("-a-"))
        .await
        .unwrap();
    assert_eq!(
        (ids(&page), page.total),
        (vec!["report-a-2".to_string()], 3)
    );
    assert_eq!(page.jobs[0].state, JobState::Waiting);

    // Finished jobs: the latest to finish first.
    let _worker = h
        .worker(&queue, tasks(Arc::default(), Arc::default()))
        .await;
    for name in [
        "report-a-1",
        "report-a-2",
        "report-a-3",
        "report-b-1",
        "report-b-2",
    ] {
        finished(&queue, name).await;
    }
    let page = admin.jobs(JobState::Completed, 0, 5, None).await.unwrap();
    let finished_at: Vec<u64> = page.jobs.iter().map(|j| j.finished_at.unwrap()).collect();
    assert!(
        finished_at.windows(2).all(|w| w[0] >= w[1]),
        "{finished_at:?}"
    );
    assert_eq!(page.total, 5);
}

#[tokio::test]
async fn a_failed_job_retried_by_an_admin_runs_again_and_completes() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("admin-retry"));
    let broken = Arc::new(AtomicBool::new(true));
    let _worker = h
        .worker(&queue, tasks(broken.clone(), Arc::default()))
        .await;
    let admin = queue.admin();

    let job_id = queue.enqueue(&Task::Fail).await.unwrap().id;
    assert_eq!(
        finished(&queue, &job_id).await.summary.state,
        JobState::Failed
    );
    let err = admin
        .retry(&queue.enqueue(&Task::Hold).await.unwrap().id)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            QueueError::WrongState {
                expected: "failed",
                ..
            }
        ),
        "{err}"
    );

    broken.store(false, Ordering::SeqCst);
    admin.retry(&job_id).await.unwrap();
    let job = finished(&queue, &job_id).await;
    assert_eq!(
        (job.summary.state, job.summary.attempts),
        (JobState::Completed, 2)
    );
    assert_eq!(job.result, Some(json!("fixed")));
    assert_eq!(job.summary.error, None);
    assert!(job.timeline.iter().any(|t| t.kind == "retried"));
}

#[tokio::test]
async fn all_failed_jobs_are_retried_at_once() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("retry-all"));
    let broken = Arc::new(AtomicBool::new(true));
    let _worker = h
        .worker(&queue, tasks(broken.clone(), Arc::default()))
        .await;
    let admin = queue.admin();

    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(queue.enqueue(&Task::Fail).await.unwrap().id);
    }
    for id in &ids {
        finished(&queue, id).await;
    }
    assert_eq!(admin.counts().await.unwrap().failed, 3);

    broken.store(false, Ordering::SeqCst);
    assert_eq!(admin.retry_all_failed().await.unwrap(), 3);
    for id in &ids {
        assert_eq!(
            finished(&queue, id).await.summary.state,
            JobState::Completed
        );
    }
    assert_eq!(admin.counts().await.unwrap().failed, 0);
}

#[tokio::test]
async fn a_removed_job_is_gone_but_an_active_one_cannot_be_removed() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("remove"));
    let admin = queue.admin();
    let mut events = queue.events().await;

    queue
        .enqueue_with(&Task::Complete, id("doomed"))
        .await
        .unwrap();
    admin.remove("doomed").await.unwrap();
    assert!(matches!(
        queue.get("doomed").await,
        Err(QueueError::NotFound(_))
    ));
    let removed = next_event(&mut events, "removal", |e| {
        matches!(e, Event::Removed { .. })
    })
    .await;
    assert_eq!(
        removed,
        Event::Removed {
            job: "doomed".into(),
            from: JobState::Waiting
        }
    );
    assert_eq!(admin.counts().await.unwrap().waiting, 0);

    let release = Arc::new(Notify::new());
    let _worker = h
        .worker(&queue, tasks(Arc::default(), release.clone()))
        .await;
    queue.enqueue_with(&Task::Hold, id("busy")).await.unwrap();
    reaches(&queue, "busy", JobState::Active).await;
    let err = admin.remove("busy").await.unwrap_err();
    assert!(
        matches!(
            err,
            QueueError::WrongState {
                state: JobState::Active,
                ..
            }
        ),
        "{err}"
    );

    release.notify_one();
    finished(&queue, "busy").await;
    admin.remove("busy").await.unwrap();
    assert_eq!(admin.counts().await.unwrap().completed, 0);
}

#[tokio::test]
async fn a_delayed_job_promoted_by_an_admin_runs_now() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("promote"));
    let _worker = h
        .worker(&queue, tasks(Arc::default(), Arc::default()))
        .await;
    let admin = queue.admin();

    let later = EnqueueOptions {
        delay: Some(Duration::from_secs(3600)),
        ..id("later")
    };
    queue.enqueue_with(&Task::Complete, later).await.unwrap();
    let err = admin
        .promote(&queue.enqueue(&Task::Sleep(5000)).await.unwrap().id)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            QueueError::WrongState {
                expected: "delayed",
                ..
            }
        ),
        "{err}"
    );

    admin.promote("later").await.unwrap();
    let job = finished(&queue, "later").await;
    assert_eq!(job.summary.state, JobState::Completed);
    assert!(job.timeline.iter().any(|t| t.kind == "promoted"));
}

#[tokio::test]
async fn clean_removes_finished_jobs_older_than_an_age() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("clean"));
    let broken = Arc::new(AtomicBool::new(true));
    let _worker = h.worker(&queue, tasks(broken, Arc::default())).await;
    let admin = queue.admin();
    for task in [Task::Complete, Task::Complete, Task::Fail] {
        let job_id = queue.enqueue(&task).await.unwrap().id;
        finished(&queue, &job_id).await;
    }

    assert_eq!(
        admin
            .clean(JobState::Failed, Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        admin
            .clean(JobState::Completed, Duration::ZERO)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        admin.clean(JobState::Failed, Duration::ZERO).await.unwrap(),
        1
    );
    let counts = admin.counts().await.unwrap();
    assert_eq!((counts.completed, counts.failed), (0, 0));
    assert!(admin
        .clean(JobState::Waiting, Duration::ZERO)
        .await
        .is_err());
}

#[tokio::test]
async fn pause_stops_new_work_everywhere_and_resume_wakes_the_idle_workers() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("pause"));
    let other = h.instance_of(&queue);
    let _a = h
        .worker(&queue, tasks(Arc::default(), Arc::default()))
        .await;
    let _b = h
        .worker(&other, tasks(Arc::default(), Arc::default()))
        .await;
    let admin = queue.admin();
    let mut events = queue.events().await;

    admin.pause().await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(queue.enqueue(&Task::Complete).await.unwrap().id);
    }
    // Nothing can be awaited for "nothing started": give the workers a
    // moment in which they would have started the jobs.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = admin.counts().await.unwrap();
    assert_eq!((counts.waiting, counts.active, counts.paused), (4, 0, true));
    next_event(&mut events, "the pause event", |e| *e == Event::Paused).await;

    admin.resume().await.unwrap();
    for id in &ids {
        assert_eq!(
            finished(&queue, id).await.summary.state,
            JobState::Completed
        );
    }
    assert!(!admin.counts().await.unwrap().paused);
}

#[tokio::test]
async fn retention_keeps_a_bounded_number_and_age_of_finished_jobs() {
    let h = Harness::start().await;
    let mut options = h.options("retention");
    options.keep_completed = Retention {
        count: 3,
        age: Duration::from_secs(3600),
    };
    options.keep_failed = Retention {
        count: 100,
        age: Duration::from_millis(200),
    };
    let queue = h.queue(options);
    let _worker = h
        .worker(
            &queue,
            tasks(Arc::new(AtomicBool::new(true)), Arc::default()),
        )
        .await;
    let admin = queue.admin();

    let mut ids = Vec::new();
    for _ in 0..8 {
        let job_id = queue.enqueue(&Task::Complete).await.unwrap().id;
        finished(&queue, &job_id).await;
        ids.push(job_id);
    }
    let failed = queue.enqueue(&Task::Fail).await.unwrap().id;
    finished(&queue, &failed).await;

    assert_eq!(admin.counts().await.unwrap().completed, 3);
    let kept: Vec<String> = admin
        .jobs(JobState::Completed, 0, 10, None)
        .await
        .unwrap()
        .jobs
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(kept, ids[5..].iter().rev().cloned().collect::<Vec<_>>());
    assert!(matches!(
        queue.get(&ids[0]).await,
        Err(QueueError::NotFound(_))
    ));
    // Every column of a trimmed job is gone, not only its place in the list.
    let stored: u64 = redis::cmd("HLEN")
        .arg("q:{retention}:data")
        .query_async(&mut h.raw().await)
        .await
        .unwrap();
    assert_eq!(stored, 3 + 1);

    // The failed job outlives its 200 ms; reading the counts trims it.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(admin.counts().await.unwrap().failed, 0);
    assert!(matches!(
        queue.get(&failed).await,
        Err(QueueError::NotFound(_))
    ));
}

#[tokio::test]
async fn metrics_count_the_last_hour_per_minute_with_processing_times() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("metrics"));
    let _worker = h
        .worker(
            &queue,
            tasks(Arc::new(AtomicBool::new(true)), Arc::default()),
        )
        .await;
    for task in [
        Task::Sleep(30),
        Task::Sleep(30),
        Task::Sleep(60),
        Task::Fail,
    ] {
        let job_id = queue.enqueue(&task).await.unwrap().id;
        finished(&queue, &job_id).await;
    }

    let metrics = queue.admin().metrics().await.unwrap();
    assert_eq!(metrics.minutes.len(), 60);
    assert_eq!((metrics.completed, metrics.failed), (3, 1));
    let per_minute: u64 = metrics.minutes.iter().map(|m| m.completed).sum();
    assert_eq!(per_minute, 3);
    assert!(metrics
        .minutes
        .windows(2)
        .all(|w| w[1].minute == w[0].minute + 60_000));
    let avg = metrics.avg_ms.unwrap();
    assert!(
        (40.0..200.0).contains(&avg),
        "average {avg} ms of 30, 30 and 60"
    );
    let p95 = metrics.p95_ms.unwrap();
    assert!((60.0..250.0).contains(&p95), "p95 {p95} ms");
}

#[tokio::test]
async fn commands_are_added_to_a_per_day_total_in_redis_without_commands_of_their_own() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("usage"));
    let producer = h.instance_of(&queue);
    let _worker = h
        .worker(&queue, tasks(Arc::default(), Arc::default()))
        .await;
    for _ in 0..5 {
        let job_id = producer.enqueue(&Task::Complete).await.unwrap().id;
        finished(&producer, &job_id).await;
    }

    let usage = producer.admin().command_usage().await.unwrap();
    assert_eq!(
        usage.today,
        queue.commands_sent() + producer.commands_sent()
    );
    assert_eq!(usage.days.len(), 1);
    assert!(usage.elapsed_today_ms < 86_400_000);
}
