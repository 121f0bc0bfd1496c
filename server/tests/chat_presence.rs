//! Who is online across instances, a crashed instance's members expiring,
//! and the small API the report generator reads the chat through.

mod chat_support;
mod support;

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use app::chat::protocol::Role;
use chat_support::{session, Client};
use server::{
    chat::{ChatEngine, ChatError},
    config::ChatSettings,
    redis_client::{self, RedisUrl},
    testkit::{free_port, RedisServer},
};
use support::TestApp;
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

/// A server process of its own, so the test can kill it as a crash would.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn spawn_process(redis_url: &str, ttl_ms: &str) -> (ServerProcess, std::net::SocketAddr) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_server"))
        .env("REDIS_URL", redis_url)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("INSTANCE_ID", "doomed")
        .env("CHAT_PRESENCE_TTL_MS", ttl_ms)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server binary starts");
    let process = ServerProcess(child);
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return (process, addr);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server process did not listen within 5 s");
}

#[tokio::test]
async fn a_killed_instance_members_vanish_after_the_presence_expiry() {
    let redis = RedisServer::start();
    let a = TestApp::spawn(
        &redis.url(),
        &[("INSTANCE_ID", "survivor"), ("CHAT_PRESENCE_TTL_MS", "900")],
    )
    .await;
    let (mut doomed, doomed_addr) = spawn_process(&redis.url(), "900").await;
    let s = session(&a).await;

    let (mut tutor, _) = Client::join(a.addr, &s.id, &s.tutor_token, None).await;
    let (_student, _) = Client::join(doomed_addr, &s.id, &s.student_token, None).await;
    tutor.wait_for_presence(&["Sam", "Tess"]).await;

    // SIGKILL: no socket is closed, no member removed; only expiry helps.
    doomed.0.kill().expect("the process can be killed");
    let _ = doomed.0.wait();
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
