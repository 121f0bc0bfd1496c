//! Restarting one of two instances while a tutor talks and reports are
//! being written: every acknowledged message reaches the student once, in
//! order, and every job completes.

use std::time::{Duration, Instant};

use server::{queue::JobState, testkit::RedisServer};

use crate::{
    chat_support::{self, lesson},
    model_support::{self, Answer, FakeModel},
    report,
    support::TestApp,
    PATIENCE,
};

/// A chat socket read without the shared client, to see how it closes.
struct Listener {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

enum Heard {
    Message(app::chat::protocol::ChatMessage),
    Closed(u16),
}

impl Listener {
    /// Joins `session` on `addr`; returns the socket and the history.
    async fn join(
        addr: std::net::SocketAddr,
        session: &str,
        token: &str,
        after: Option<String>,
    ) -> (Listener, Vec<app::chat::protocol::ChatMessage>) {
        use app::chat::protocol::{ClientFrame, ServerFrame, PROTOCOL_VERSION};
        use futures::SinkExt;

        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        let join = ClientFrame::Join {
            v: PROTOCOL_VERSION,
            session: session.into(),
            token: token.into(),
            after,
        };
        let text = serde_json::to_string(&join).unwrap();
        ws.send(tokio_tungstenite::tungstenite::Message::text(text))
            .await
            .unwrap();
        let mut listener = Listener { ws };
        loop {
            match listener.frame().await {
                Some(ServerFrame::History { messages, .. }) => return (listener, messages),
                Some(_) => continue,
                None => panic!("the socket closed before the history"),
            }
        }
    }

    /// The next frame, or `None` once the server closed the socket.
    async fn frame(&mut self) -> Option<app::chat::protocol::ServerFrame> {
        self.next_raw().await.ok()
    }

    async fn next_raw(&mut self) -> Result<app::chat::protocol::ServerFrame, u16> {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame within the patience");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Ok(serde_json::from_str(text.as_str()).unwrap())
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map_or(0, |f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(0),
            }
        }
    }

    /// The next chat message, or how the socket closed.
    async fn hear(&mut self) -> Heard {
        use app::chat::protocol::ServerFrame;
        loop {
            match self.next_raw().await {
                Ok(ServerFrame::Message { message }) => return Heard::Message(message),
                Ok(_) => continue,
                Err(code) => return Heard::Closed(code),
            }
        }
    }
}

#[tokio::test]
async fn a_rolling_restart_under_chat_traffic_and_queued_jobs_loses_no_job_and_no_message() {
    let redis = RedisServer::start();
    let model = FakeModel::start().await;
    // Each report takes about a second, so jobs are running when an
    // instance stops.
    model.always(Answer::Stream {
        content: model_support::report_json("Steady work."),
        chunks: 6,
        gap: Duration::from_millis(150),
    });
    let base = model.base_url();
    let extra = [
        ("OPENAI_API_KEY", "sk-rolling"),
        ("OPENAI_BASE_URL", base.as_str()),
        ("QUEUE_CONCURRENCY", "2"),
        ("CHAT_MESSAGES_PER_SECOND", "100"),
    ];
    let a_vars = [&extra[..], &[("QUEUE_RATE_MAX", "0")]].concat();
    let b_vars = [&a_vars[..], &[("INSTANCE_ID", "instance-b")]].concat();
    let a = TestApp::spawn(&redis.url(), &a_vars).await;
    let b = TestApp::spawn(&redis.url(), &b_vars).await;

    // Sessions to report on, and one live session between the instances.
    let mut reported = Vec::new();
    for _ in 0..6 {
        reported.push(lesson(&a).await);
    }
    let live = chat_support::session(&a).await;
    let (mut tutor, _) =
        chat_support::Client::join(a.addr, &live.id, &live.tutor_token, None).await;
    let (mut student, _) = Listener::join(b.addr, &live.id, &live.student_token, None).await;

    for session in &reported {
        let (code, body) =
            chat_support::ask_report(&a, &session.id, &session.tutor_token, "").await;
        assert!((200..300).contains(&code), "{code}: {body}");
    }

    // The tutor keeps talking while instance B restarts.
    let talking = tokio::spawn(async move {
        let mut acked = Vec::new();
        for i in 0..40 {
            acked.push(tutor.post(&format!("m{i}"), &format!("message {i}")).await);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        acked
    });

    // B is stopped while it runs a job, which must still complete.
    let admin = crate::support::report_queue(&redis.url()).admin();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let active = admin.jobs(JobState::Active, 0, 50, None).await.unwrap();
        if active
            .jobs
            .iter()
            .any(|job| job.instance.as_deref() == Some("instance-b"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "instance B never ran a job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut heard: Vec<String> = Vec::new();
    let stopping = tokio::spawn(b.stop());
    let close_code = loop {
        match student.hear().await {
            Heard::Message(message) => heard.push(message.id),
            Heard::Closed(code) => break code,
        }
    };
    assert_eq!(close_code, 1001, "the socket closes with going away");
    stopping.await.unwrap();
    let b = TestApp::spawn(&redis.url(), &b_vars).await;

    // The student comes back on the new instance and resumes.
    let (mut student, missed) =
        Listener::join(b.addr, &live.id, &live.student_token, heard.last().cloned()).await;
    heard.extend(missed.into_iter().map(|m| m.id));
    let acked = talking.await.unwrap();
    while heard.len() < acked.len() {
        match student.hear().await {
            Heard::Message(message) => heard.push(message.id),
            Heard::Closed(code) => panic!("the socket closed with {code}"),
        }
    }
    assert_eq!(
        heard, acked,
        "every acknowledged message arrived once, in order"
    );

    for session in &reported {
        let status = report(&a, session).await;
        assert_eq!(status["status"], "completed", "{status}");
    }
    b.stop().await;
}
