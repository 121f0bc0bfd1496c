//! What the queue costs on Redis, counted by the queue and by Redis itself:
//! nothing while idle, one command per step of a job, a wake-up that skips
//! instances that are gone, and leases kept without polling.

mod queue_support;

use std::time::Duration;

use queue_support::{finished, processed_commands, until, Harness};
use serde_json::{json, Value};
use server::queue::{from_fn, JobContext, JobState, Outcome};

async fn evalsha_calls(h: &Harness) -> u64 {
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut h.raw().await)
        .await
        .unwrap();
    stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn noop_with_progress() -> impl server::queue::Handler<Payload = Value> {
    from_fn(|job: JobContext<Value>| async move {
        job.progress(50, "half").await.unwrap();
        Outcome::Completed(json!(null))
    })
}

#[tokio::test]
async fn an_idle_instance_sends_no_command_after_start_up() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("idle"));
    let _worker = h.worker(&queue, noop_with_progress()).await;
    let _events = queue.events().await;

    let sent = queue.commands_sent();
    let mut raw = h.raw().await;
    let before = processed_commands(&mut raw).await;
    // The measurement window itself: nothing happens in it, by design.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = processed_commands(&mut raw).await;

    assert_eq!(
        queue.commands_sent(),
        sent,
        "the queue counted no command while idle"
    );
    assert_eq!(
        after - before,
        1,
        "Redis processed only the first INFO in between"
    );
}

#[tokio::test]
async fn a_job_costs_one_command_each_to_enqueue_claim_and_complete_plus_one_per_progress() {
    let h = Harness::start().await;
    let worker_queue = h.queue(h.options("per-job"));
    let producer = h.instance_of(&worker_queue);
    let _worker = h.worker(&worker_queue, noop_with_progress()).await;

    // The first job loads the scripts into Redis; the second is measured.
    let warm_up = producer.enqueue(&json!(0)).await.unwrap().id;
    finished(&producer, &warm_up).await;
    let (worker_before, producer_before) = (worker_queue.commands_sent(), producer.commands_sent());
    let evalsha_before = evalsha_calls(&h).await;

    let id = producer.enqueue(&json!(1)).await.unwrap().id;
    let producer_after = producer.commands_sent();
    finished(&producer, &id).await;

    assert_eq!(
        producer_after - producer_before,
        1,
        "enqueue is one command"
    );
    // Woken for the job: claim, progress, complete (which also looked for
    // the next job in the same call).
    assert_eq!(worker_queue.commands_sent() - worker_before, 3);
    // `finished` read the job twice; Redis saw the same total.
    assert_eq!(evalsha_calls(&h).await - evalsha_before, 1 + 3 + 2);
}

#[tokio::test]
async fn in_a_busy_queue_completions_claim_the_next_job_so_a_job_with_one_progress_update_costs_three_commands(
) {
    let h = Harness::start().await;
    let worker_queue = h.queue(h.options("busy"));
    let producer = h.instance_of(&worker_queue);
    let observer = h.instance_of(&worker_queue);
    let admin = observer.admin();
    let _worker = h.worker(&worker_queue, noop_with_progress()).await;
    // A first job loads the scripts (see above), then the jobs pile up while
    // the queue is paused.
    let warm_up = producer.enqueue(&json!(0)).await.unwrap().id;
    finished(&observer, &warm_up).await;
    admin.pause().await.unwrap();
    let jobs = 200u64;
    let (producer_before, worker_before) = (producer.commands_sent(), worker_queue.commands_sent());
    for i in 0..jobs {
        producer.enqueue(&json!(i)).await.unwrap();
    }
    admin.resume().await.unwrap();
    until(&observer, "every job to complete", || async {
        let counts = admin.counts().await.unwrap();
        counts.waiting + counts.active == 0
    })
    .await;

    // Enqueue, progress and complete per job; the claims ride on the
    // completions, apart from the one after the wake-up.
    let total =
        producer.commands_sent() - producer_before + worker_queue.commands_sent() - worker_before;
    assert_eq!(total, 3 * jobs + 1);
    assert_eq!(admin.counts().await.unwrap().completed, jobs + 1);
}

#[tokio::test]
async fn a_job_enqueued_the_moment_the_last_one_completes_is_still_picked_up() {
    // Each enqueue lands just as the worker's completion made it idle, so
    // every job depends on one wake-up reaching it: 300 in a row.
    let h = Harness::start().await;
    let mut options = h.options("handoff");
    options.concurrency = 1;
    let queue = h.queue(options);
    let _worker = h.worker(&queue, noop_with_progress()).await;
    let mut events = queue.events().await;

    for n in 0..300 {
        let id = queue.enqueue(&json!(n)).await.unwrap().id;
        let completed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                match events.recv().await {
                    Ok(server::queue::Event::Completed { job, .. }) if job == id => return,
                    Ok(_) => {}
                    Err(gap) => panic!("event gap: {gap}"),
                }
            }
        })
        .await;
        assert!(completed.is_ok(), "job {n} was never picked up");
    }
}

#[tokio::test]
async fn a_wake_up_skips_an_instance_that_is_gone_and_reaches_a_live_one() {
    let h = Harness::start().await;
    let queue = h.queue(h.options("ghost"));
    let _worker = h.worker(&queue, noop_with_progress()).await;

    // An instance that registered as idle and then died, ahead in line.
    let mut raw = h.raw().await;
    let _: () = redis::cmd("ZADD")
        .arg("q:{ghost}:idle")
        .arg(0)
        .arg("ghost-1")
        .query_async(&mut raw)
        .await
        .unwrap();

    let id = queue.enqueue(&json!("x")).await.unwrap().id;
    let job = finished(&queue, &id).await;
    assert_eq!(
        job.summary.instance.as_deref(),
        Some(queue.options().instance_id.as_str())
    );
    let ghost: Option<f64> = redis::cmd("ZSCORE")
        .arg("q:{ghost}:idle")
        .arg("ghost-1")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        ghost, None,
        "the dead instance left the idle set when its wake-up found no listener"
    );
}

#[tokio::test]
async fn a_silent_job_keeps_its_lease_with_one_renewal_per_half_lease() {
    let h = Harness::start().await;
    let mut options = h.options("silent");
    options.lease = Duration::from_millis(400);
    let queue = h.queue(options);
    let _worker = h
        .worker(
            &queue,
            from_fn(|job: JobContext<u64>| async move {
                tokio::time::sleep(Duration::from_millis(job.payload)).await;
                Outcome::Completed(json!("slow"))
            }),
        )
        .await;
    // A job long enough for one renewal first, so every script is loaded
    // before the count.
    let warm_up = queue.enqueue(&250).await.unwrap().id;
    finished(&queue, &warm_up).await;

    let sent = queue.commands_sent();
    let id = queue.enqueue(&1300).await.unwrap().id;
    let job = finished(&queue, &id).await;

    assert_eq!(job.summary.state, JobState::Completed);
    assert_eq!(
        (job.summary.attempts, job.stalls),
        (1, 0),
        "the lease never ran out"
    );
    // Enqueue, claim, a renewal every 200 ms of the 1300 (6), complete, and
    // what `finished` costs (a SUBSCRIBE and two reads); no timer fired for
    // the lease.
    assert_eq!(queue.commands_sent() - sent, 1 + 1 + 6 + 1 + 3);
}
