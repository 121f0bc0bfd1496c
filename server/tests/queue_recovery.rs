//! When things go wrong or end: a Redis restart, a worker shutting down with
//! jobs in hand, and a worker that lost its lease while it was stuck.

mod queue_support;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use queue_support::{finished, next_instance, patiently, reaches, until, Harness};
use serde_json::{json, Value};
use server::{
    queue::{from_fn, JobContext, JobState, Outcome, Queue, QueueError, Worker, WorkerStats},
    redis_client::{self, Subscriber},
};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn workers_carry_on_after_a_redis_restart_and_nothing_is_lost() {
    let mut h = Harness::start_with(&["--appendonly", "yes"]).await;
    let mut options = h.options("restart");
    options.concurrency = 4;
    let queue = h.queue(options);
    let done = Arc::new(AtomicU64::new(0));
    let counted = done.clone();
    let _worker = h
        .worker(
            &queue,
            from_fn(move |job: JobContext<u64>| {
                let counted = counted.clone();
                async move {
                    let _ = job.progress(50, "working").await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    counted.fetch_add(1, Ordering::SeqCst);
                    Outcome::Completed(json!(job.payload))
                }
            }),
        )
        .await;

    let mut ids = Vec::new();
    for i in 0..40u64 {
        ids.push(queue.enqueue(&i).await.unwrap().id);
    }
    patiently("some jobs to run", async {
        while done.load(Ordering::SeqCst) < 10 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    // Killed without warning, restarted from its append-only file.
    h.server.restart();
    for i in 40..80u64 {
        let id = patiently("an enqueue after the restart", async {
            loop {
                match queue.enqueue(&i).await {
                    Ok(enqueued) => return enqueued.id,
                    Err(err) if err.is_unavailable() => {
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                    Err(err) => panic!("{err}"),
                }
            }
        })
        .await;
        ids.push(id);
    }

    let admin = queue.admin();
    until(&queue, "all 80 jobs to complete", || async {
        admin.counts().await.is_ok_and(|c| c.completed == 80)
    })
    .await;
    let counts = admin.counts().await.unwrap();
    assert_eq!(
        (counts.waiting, counts.active, counts.delayed, counts.failed),
        (0, 0, 0, 0)
    );
    for (i, id) in ids.iter().enumerate() {
        let job = queue.get(id).await.unwrap();
        assert_eq!(
            (job.summary.state, job.result),
            (JobState::Completed, Some(json!(i)))
        );
    }
}

#[tokio::test]
async fn a_stopping_worker_lets_active_jobs_finish_and_takes_no_new_work() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("graceful"));
    let stop = CancellationToken::new();
    let worker = Worker::spawn(
        queue.clone(),
        from_fn(|_job: JobContext<Value>| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Outcome::Completed(json!("finished in time"))
        }),
        stop.clone(),
    )
    .await;
    let a = queue.enqueue(&json!(1)).await.unwrap().id;
    let b = queue.enqueue(&json!(2)).await.unwrap().id;
    reaches(&queue, &a, JobState::Active).await;
    reaches(&queue, &b, JobState::Active).await;

    stop.cancel();
    patiently("the worker to stop", worker.join()).await;
    for id in [&a, &b] {
        assert_eq!(
            queue.get(id).await.unwrap().summary.state,
            JobState::Completed
        );
    }

    // It left the idle set: a new job waits for a live instance.
    let late = queue.enqueue(&json!(3)).await.unwrap().id;
    let idle: Option<f64> = redis::cmd("ZSCORE")
        .arg("q:{graceful}:idle")
        .arg(&queue.options().instance_id)
        .query_async(&mut h.raw().await)
        .await
        .unwrap();
    assert_eq!(idle, None);
    assert_eq!(
        queue.get(&late).await.unwrap().summary.state,
        JobState::Waiting
    );
}

#[tokio::test]
async fn a_job_unfinished_after_the_grace_period_is_handed_back_and_runs_elsewhere() {
    let h = Harness::start().await;
    let mut options = h.options("hand-back");
    options.shutdown_grace = Duration::from_millis(300);
    let queue = h.queue(options);
    let handler = || {
        from_fn(|job: JobContext<Value>| async move {
            if job.attempt == 1 {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            Outcome::Completed(json!({ "attempt": job.attempt }))
        })
    };
    let stop = CancellationToken::new();
    let worker = Worker::spawn(queue.clone(), handler(), stop.clone()).await;
    let id = queue.enqueue(&json!(null)).await.unwrap().id;
    reaches(&queue, &id, JobState::Active).await;

    stop.cancel();
    let stats = patiently("the worker to stop", worker.join()).await;
    assert_eq!(stats.handed_back, 1);
    let job = queue.get(&id).await.unwrap();
    assert_eq!(job.summary.state, JobState::Waiting);
    assert_eq!(job.timeline.last().unwrap().kind, "handed_back");
    assert_eq!(job.stalls, 0, "a hand-back is not a stall");

    let other = h.instance_of(&queue);
    let _next = h.worker(&other, handler()).await;
    let job = finished(&queue, &id).await;
    assert_eq!(job.result, Some(json!({ "attempt": 2 })));
    assert_eq!(
        job.summary.instance.as_deref(),
        Some(other.options().instance_id.as_str())
    );
}

/// Runs a worker on a runtime of its own thread whose handler blocks that
/// thread, so the worker cannot renew its lease. Returns its stats once the
/// test cancels `stop`.
fn stuck_worker(
    url: String,
    name: &str,
    stop: CancellationToken,
    started: std::sync::mpsc::Sender<()>,
) -> std::thread::JoinHandle<WorkerStats> {
    let name = name.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let url = url.parse().unwrap();
            let redis = redis_client::connect(&url).unwrap();
            let subscriber = Subscriber::spawn(redis_client::client(&url).unwrap(), stop.clone());
            let mut options = server::queue::QueueOptions::new(&name, &next_instance());
            options.lease = Duration::from_millis(500);
            options.rate_limit = None;
            let queue = Queue::new(&redis, subscriber, options).unwrap();
            let worker = Worker::spawn(
                queue,
                from_fn(move |_job: JobContext<Value>| {
                    let started = started.clone();
                    async move {
                        let _ = started.send(());
                        // Blocks the runtime: no renewal can run meanwhile.
                        std::thread::sleep(Duration::from_millis(1500));
                        Outcome::Completed(json!("from the stuck worker"))
                    }
                }),
                stop,
            )
            .await;
            worker.join().await
        })
    })
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_cannot_overwrite_the_outcome() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("lease-lost"));
    let stop = CancellationToken::new();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let stuck = stuck_worker(h.server.url(), "lease-lost", stop.clone(), started_tx);

    let id = patiently("an enqueue", async {
        loop {
            // The stuck worker's start-up races the enqueue; it is woken
            // either way.
            match queue.enqueue(&json!(null)).await {
                Ok(enqueued) => return enqueued.id,
                Err(QueueError::Redis(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(err) => panic!("{err}"),
            }
        }
    })
    .await;
    tokio::task::spawn_blocking(move || started_rx.recv_timeout(Duration::from_secs(15)))
        .await
        .unwrap()
        .expect("the stuck worker started the job");

    // Another instance takes the job over once the lease runs out.
    let _rescuer = h
        .worker(
            &queue,
            from_fn(|_job: JobContext<Value>| async {
                Outcome::Completed(json!("from the rescuer"))
            }),
        )
        .await;
    let job = finished(&queue, &id).await;
    assert_eq!(job.result, Some(json!("from the rescuer")));

    stop.cancel();
    let stats = tokio::task::spawn_blocking(move || stuck.join().unwrap())
        .await
        .unwrap();
    assert_eq!((stats.lease_lost, stats.completed), (1, 0));
    let job = queue.get(&id).await.unwrap();
    assert_eq!(
        job.result,
        Some(json!("from the rescuer")),
        "the late outcome was dropped"
    );
    assert_eq!(
        job.timeline
            .iter()
            .filter(|t| t.kind == "completed")
            .count(),
        1
    );
    assert_eq!((job.summary.attempts, job.stalls), (2, 1));
}
