//! Workers in separate processes (the `queue-worker` binary): the rate limit
//! holds across all of them, and a worker killed with SIGKILL mid-job loses
//! the job only until its lease runs out.

mod queue_support;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use queue_support::{finished, next_event, next_instance, Harness};
use serde_json::json;
use server::queue::{from_fn, Event, JobContext, JobState, Outcome, Queue};

/// A `queue-worker` process, killed when dropped.
struct WorkerProcess {
    child: Child,
    instance: String,
}

impl WorkerProcess {
    /// Starts one and waits until it listens for work.
    fn start(h: &Harness, queue: &str, extra: &[&str]) -> WorkerProcess {
        let instance = next_instance();
        let mut child = Command::new(env!("CARGO_BIN_EXE_queue-worker"))
            .args([
                "--redis-url",
                &h.server.url(),
                "--queue",
                queue,
                "--instance",
                &instance,
            ])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the queue-worker binary starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line == "ready" => break,
                Some(Ok(_)) => {}
                _ => panic!("queue-worker {instance} exited before it was ready"),
            }
        }
        // Keep reading so the process never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        WorkerProcess { child, instance }
    }

    /// Kills it at once, as a crash would: no hand-back, no clean-up.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A quick in-process worker that completes whatever it is given.
async fn rescuer(h: &Harness, queue: &Queue) -> server::queue::Worker {
    h.worker(
        queue,
        from_fn(|_job: JobContext<serde_json::Value>| async {
            Outcome::Completed(json!("rescued"))
        }),
    )
    .await
}

#[tokio::test]
async fn the_rate_limit_holds_in_every_window_across_worker_processes() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("rated"));
    let (max, window_ms) = (4usize, 500u64);
    let rate = format!("{max}/{window_ms}");
    let workers: Vec<WorkerProcess> = (0..3)
        .map(|_| WorkerProcess::start(&h, "rated", &["--concurrency", "2", "--rate", &rate]))
        .collect();

    let mut ids = Vec::new();
    for _ in 0..16 {
        ids.push(queue.enqueue(&json!({ "sleep_ms": 20 })).await.unwrap().id);
    }
    let mut starts = Vec::new();
    let mut instances = std::collections::HashSet::new();
    for id in &ids {
        let job = finished(&queue, id).await;
        assert_eq!(job.summary.state, JobState::Completed);
        instances.insert(job.summary.instance.clone().unwrap());
        starts.extend(
            job.timeline
                .iter()
                .filter(|t| t.kind == "started")
                .map(|t| t.at),
        );
    }

    // Every window that opens at a start holds at most `max` starts; any
    // other window holds no more than the one opening at its first start.
    starts.sort_unstable();
    for (i, &from) in starts.iter().enumerate() {
        let inside = starts[i..]
            .iter()
            .take_while(|&&t| t < from + window_ms)
            .count();
        assert!(
            inside <= max,
            "{inside} starts in the {window_ms} ms from {from}: {starts:?}"
        );
    }
    // At 4 per 500 ms, 16 jobs need at least three full windows.
    assert!(starts[15] - starts[0] >= 3 * window_ms, "{starts:?}");
    assert!(
        instances.len() >= 2,
        "the work spread over the processes: {instances:?}"
    );
    assert!(instances
        .iter()
        .all(|i| workers.iter().any(|w| &w.instance == i)));
}

#[tokio::test]
async fn a_job_of_a_worker_killed_mid_job_completes_later_exactly_once() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("killed"));
    let mut events = queue.events().await;
    let mut doomed = WorkerProcess::start(&h, "killed", &["--lease-ms", "1000"]);

    let id = queue
        .enqueue(&json!({ "sleep_ms": 60_000 }))
        .await
        .unwrap()
        .id;
    let mine = |e: &Event| e.job() == Some(id.as_str());
    let active = next_event(&mut events, "the job to start", |e| {
        mine(e) && matches!(e, Event::Active { .. })
    })
    .await;
    assert!(matches!(active, Event::Active { instance, .. } if instance == doomed.instance));
    next_event(&mut events, "its progress", |e| {
        mine(e) && matches!(e, Event::Progress { .. })
    })
    .await;
    doomed.kill();

    let _rescuer = rescuer(&h, &queue).await;
    let mut completions = 0;
    loop {
        match next_event(&mut events, "the job to finish", &mine).await {
            Event::Completed { .. } => completions += 1,
            Event::Failed { .. } => panic!("the job failed"),
            _ => continue,
        }
        break;
    }
    let job = queue.get(&id).await.unwrap();
    assert_eq!(job.summary.state, JobState::Completed);
    assert_eq!(job.result, Some(json!("rescued")));
    assert_eq!((job.summary.attempts, job.stalls), (2, 1));
    let kinds: Vec<&str> = job.timeline.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, ["started", "stalled", "started", "completed"]);
    assert_eq!(
        job.timeline[0].instance.as_deref(),
        Some(doomed.instance.as_str())
    );

    // No second completion follows.
    let late = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Ok(Event::Completed { job, .. }) = events.recv().await {
                if job == id {
                    return;
                }
            }
        }
    });
    assert!(late.await.is_err());
    assert_eq!(completions, 1);
}

#[tokio::test]
async fn a_job_whose_workers_keep_dying_fails_as_stalled_too_many_times() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("stalls"));
    let mut events = queue.events().await;
    let id = queue
        .enqueue(&json!({ "sleep_ms": 60_000 }))
        .await
        .unwrap()
        .id;
    let started = |e: &Event| e.job() == Some(id.as_str()) && matches!(e, Event::Active { .. });

    // Default: one stall is forgiven, the second fails the job.
    for attempt in 1..=2u32 {
        let mut doomed = WorkerProcess::start(&h, "stalls", &["--lease-ms", "500"]);
        let active = next_event(&mut events, "the job to start", started).await;
        assert!(matches!(active, Event::Active { attempt: a, .. } if a == attempt));
        doomed.kill();
    }
    let _watcher = rescuer(&h, &queue).await;
    let job = finished(&queue, &id).await;
    assert_eq!(job.summary.state, JobState::Failed);
    assert_eq!(job.summary.error.as_deref(), Some("stalled too many times"));
    assert_eq!((job.summary.attempts, job.stalls), (2, 2));
}
