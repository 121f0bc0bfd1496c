//! Who is online across instances, a crashed instance's members expiring,
//! and the small API the report generator reads the chat through.

mod chat_support;
mod support;

use std::time::Duration;

use app::chat::protocol::Role;
use chat_support::{session, Client};
use server::{
    chat::{ChatEngine, ChatError},
    config::ChatSettings,
    redis_client::{self, RedisUrl},
    testkit::RedisServer,
};
use support::{Binary, TestApp};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn presence_shows_participants_on_every_instance_and_follows_a_leave() {
    let redis = RedisServer::start();
    let a = TestApp::spawn(&redis.url(), &[("INSTANCE_ID", "presence-a")]).await;
    let b = TestApp::spawn(&redis.url(), &[("INSTANCE_ID", "presence-b")]).await;
    let s = session(&a).await;

    let (mut tutor, _) = Client::join(a.addr, &s.id, &s.tutor_token, None).await;
    tutor.wait_for_presence(&["Tess"]).await;
    let (mut student, _) = Client::join(b.addr, &s.id, &s.student_token, None).await;
    tutor.wait_for_presence(&["Sam", "Tess"]).await;
    student.wait_for_presence(&["Sam", "Tess"]).await;

    student.drop_connection();
    tutor.wait_for_presence(&["Tess"]).await;
}

#[tokio::test]
async fn a_killed_instance_members_vanish_after_the_presence_expiry() {
    let redis = RedisServer::start();
    let a = TestApp::spawn(
        &redis.url(),
        &[("INSTANCE_ID", "survivor"), ("CHAT_PRESENCE_TTL_MS", "900")],
    )
    .await;
    // A process of its own, so the test can kill it as a crash would.
    let mut doomed = Binary::start(&[
        ("REDIS_URL", &redis.url()),
        ("INSTANCE_ID", "doomed"),
        ("CHAT_PRESENCE_TTL_MS", "900"),
    ]);
    doomed.wait_until_up(&a.http).await;
    let s = session(&a).await;

    let (mut tutor, _) = Client::join(a.addr, &s.id, &s.tutor_token, None).await;
    let (_student, _) = Client::join(doomed.addr, &s.id, &s.student_token, None).await;
    tutor.wait_for_presence(&["Sam", "Tess"]).await;

    // SIGKILL: no socket is closed, no member removed; only expiry helps.
    doomed.kill();
    let started = std::time::Instant::now();
    tutor.wait_for_presence(&["Tess"]).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn reports_check_access_and_read_the_transcript_through_the_engine() {
    let redis = RedisServer::start();
    let url: RedisUrl = redis.url().parse().expect("a redis url");
    let shutdown = CancellationToken::new();
    let connection = redis_client::connect(&url).expect("a client");
    let subscriber =
        redis_client::Subscriber::spawn(redis_client::client(&url).unwrap(), shutdown.clone());
    let engine = ChatEngine::start(
        &connection,
        subscriber,
        ChatSettings::default(),
        "reports",
        shutdown.clone(),
    );
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let s = session(&app).await;

    let (mut student, _) = Client::join(app.addr, &s.id, &s.student_token, None).await;
    student.post("q1", "What is 1/2 + 1/4?").await;

    assert!(engine.session_exists(&s.id).await.unwrap());
    assert!(!engine
        .session_exists("0123456789abcdef0123456789abcdef")
        .await
        .unwrap());
    assert!(!engine.session_exists("../bad").await.unwrap());

    let tutor = engine.check_token(&s.id, &s.tutor_token).await.unwrap();
    assert_eq!((tutor.name.as_str(), tutor.role), ("Tess", Role::Tutor));
    let sam = engine.check_token(&s.id, &s.student_token).await.unwrap();
    assert_eq!(sam.role, Role::Student);
    assert!(matches!(
        engine.check_token(&s.id, "forged").await,
        Err(ChatError::Unauthorized)
    ));

    let transcript = engine.transcript(&s.id).await.unwrap();
    assert_eq!(transcript.len(), 1);
    assert_eq!(transcript[0].text, "What is 1/2 + 1/4?");
    assert_eq!(
        (
            transcript[0].author.name.as_str(),
            transcript[0].author.role
        ),
        ("Sam", Role::Student)
    );
    assert!(transcript[0].ts_ms > 0);
    assert!(engine.commands_sent() > 0);
    shutdown.cancel();
}
