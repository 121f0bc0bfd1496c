//! The chat end to end over real sockets: two instances on one Redis,
//! messages crossing between them, resume, refusals, limits and bad frames.

mod chat_support;
mod support;

use app::{
    api::{EndSession, LoadSession},
    chat::protocol::{ClientFrame, ErrorCode, ServerFrame},
};
use chat_support::{session, Client};
use leptos::server_fn::ServerFn;
use server::testkit::RedisServer;
use support::TestApp;

async fn two_instances(redis: &RedisServer, extra: &[(&str, &str)]) -> (TestApp, TestApp) {
    let mut a_vars = vec![("INSTANCE_ID", "chat-a")];
    a_vars.extend_from_slice(extra);
    let mut b_vars = vec![("INSTANCE_ID", "chat-b")];
    b_vars.extend_from_slice(extra);
    (
        TestApp::spawn(&redis.url(), &a_vars).await,
        TestApp::spawn(&redis.url(), &b_vars).await,
    )
}

#[tokio::test]
async fn messages_cross_instances_in_order_and_reach_everyone_once() {
    let redis = RedisServer::start();
    let (a, b) = two_instances(&redis, &[("CHAT_MESSAGES_PER_SECOND", "1000")]).await;
    let s = session(&a).await;
    let (mut tutor, _) = Client::join(a.addr, &s.id, &s.tutor_token, None).await;
    let (mut student, _) = Client::join(b.addr, &s.id, &s.student_token, None).await;

    for n in 0..30 {
        tutor
            .send(&ClientFrame::Send {
                client_id: format!("t{n}"),
                text: format!("line {n}"),
            })
            .await;
    }
    for n in 0..30 {
        assert_eq!(student.next_message().await.text, format!("line {n}"));
    }
    // The sender sees its own messages once each, in the same order.
    for n in 0..30 {
        assert_eq!(tutor.next_message().await.text, format!("line {n}"));
    }

    student.post("s1", "and back").await;
    let reply = tutor.next_message().await;
    assert_eq!(
        (reply.text.as_str(), reply.author.name.as_str()),
        ("and back", "Sam")
    );
    assert_eq!(student.next_message().await.text, "and back");
}

#[tokio::test]
async fn resume_after_a_dropped_connection_loses_and_duplicates_nothing() {
    let redis = RedisServer::start();
    let (a, b) = two_instances(&redis, &[("CHAT_MESSAGES_PER_SECOND", "1000")]).await;
    let s = session(&a).await;
    let (mut tutor, _) = Client::join(a.addr, &s.id, &s.tutor_token, None).await;
    let (mut student, _) = Client::join(b.addr, &s.id, &s.student_token, None).await;

    tutor.post("before", "seen before the drop").await;
    let last_seen = student.next_message().await.id;
    student.drop_connection();

    for n in 0..5 {
        tutor
            .post(&format!("missed{n}"), &format!("missed {n}"))
            .await;
    }
    let (mut student, replayed) =
        Client::join(b.addr, &s.id, &s.student_token, Some(&last_seen)).await;
    let texts: Vec<&str> = replayed.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        ["missed 0", "missed 1", "missed 2", "missed 3", "missed 4"]
    );

    // A message whose acknowledgement was lost is sent again with the same
    // client id: it is acknowledged with the first id and stored once.
    let first = student.post("retry-1", "sent twice").await;
    let again = student.post("retry-1", "sent twice").await;
    assert_eq!(first, again);
    let (_, history) = Client::join(a.addr, &s.id, &s.tutor_token, None).await;
    assert_eq!(history.iter().filter(|m| m.text == "sent twice").count(), 1);
    assert_eq!(history.len(), 7);
}

#[tokio::test]
async fn a_resume_past_the_kept_history_is_told_of_the_gap() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(
        &redis.url(),
        &[
            ("CHAT_MESSAGES_PER_SECOND", "1000"),
            ("CHAT_HISTORY_LEN", "10"),
        ],
    )
    .await;
    let s = session(&app).await;
    let (mut tutor, _) = Client::join(app.addr, &s.id, &s.tutor_token, None).await;
    let first = tutor.post("c0", "the first").await;
    // Far past the bound, so trimming (approximate, a node of the stream at
    // a time) has certainly dropped the first message.
    let mut last = first.clone();
    for n in 1..400 {
        last = tutor.post(&format!("c{n}"), &format!("message {n}")).await;
    }

    let (_, replayed, gap) =
        Client::join_noting_gap(app.addr, &s.id, &s.student_token, Some(&first)).await;
    assert!(gap, "a resume from a trimmed id must be told");
    assert!(
        !replayed.is_empty() && replayed.len() < 399,
        "{}",
        replayed.len()
    );
    assert_eq!(replayed.last().map(|m| m.id.as_str()), Some(last.as_str()));

    let (_, replayed, gap) =
        Client::join_noting_gap(app.addr, &s.id, &s.student_token, Some(&replayed[0].id)).await;
    assert!(!gap, "the resume point is still stored");
    assert_eq!(replayed.last().map(|m| m.id.as_str()), Some(last.as_str()));
}

#[tokio::test]
async fn a_socket_without_a_valid_token_is_refused_and_closed() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let s = session(&app).await;

    // The tutor's token with its last digit changed: always a different
    // digit, or one token in sixteen would be left valid.
    let (kept, last) = s.tutor_token.split_at(s.tutor_token.len() - 1);
    let forged = format!("{kept}{}", if last == "0" { "1" } else { "0" });
    for token in [
        "",
        "not-a-token",
        &s.student_token.replace('.', "x"),
        &forged,
    ] {
        let mut client = Client::ask_to_join(app.addr, &s.id, token, None).await;
        assert_eq!(
            client.next_error().await,
            ErrorCode::Unauthorized,
            "token {token:?}"
        );
        assert_eq!(client.closed_with().await, Some(1008));
    }

    // Nothing before a join is served.
    let mut client = Client::connect(app.addr).await;
    client
        .send(&ClientFrame::Send {
            client_id: "c".into(),
            text: "hi".into(),
        })
        .await;
    assert_eq!(client.next_error().await, ErrorCode::NotJoined);
}

#[tokio::test]
async fn server_functions_refuse_a_bad_token_and_a_student_ending_the_session() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let s = session(&app).await;
    let call = |path: &'static str, token: String| {
        app.http
            .post(app.url(path))
            .form(&[("session", s.id.clone()), ("token", token)])
            .send()
    };

    let response = call(LoadSession::PATH, "nope".into()).await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("not valid for this session"));
    assert_eq!(
        call(LoadSession::PATH, s.student_token.clone())
            .await
            .unwrap()
            .status(),
        200
    );

    let (mut student, _) = Client::join(app.addr, &s.id, &s.student_token, None).await;
    assert_eq!(
        call(EndSession::PATH, s.student_token.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    student.send(&ClientFrame::EndSession).await;
    assert_eq!(student.next_error().await, ErrorCode::Forbidden);
    student
        .post("still-open", "the session is still open")
        .await;

    assert_eq!(
        call(EndSession::PATH, s.tutor_token.clone())
            .await
            .unwrap()
            .status(),
        200
    );
    student
        .next_where(|f| matches!(f, ServerFrame::Ended))
        .await;
    student
        .send(&ClientFrame::Send {
            client_id: "late".into(),
            text: "too late".into(),
        })
        .await;
    assert_eq!(student.next_error().await, ErrorCode::SessionEnded);
}

#[tokio::test]
async fn limits_give_error_frames_and_the_connection_goes_on() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(
        &redis.url(),
        &[
            ("CHAT_MAX_MESSAGE_BYTES", "64"),
            ("CHAT_MESSAGES_PER_SECOND", "3"),
            ("CHAT_MAX_CONNECTIONS_PER_SESSION", "2"),
        ],
    )
    .await;
    let s = session(&app).await;
    let (mut tutor, _) = Client::join(app.addr, &s.id, &s.tutor_token, None).await;

    tutor
        .send(&ClientFrame::Send {
            client_id: "big".into(),
            text: "x".repeat(65),
        })
        .await;
    match tutor
        .next_where(|f| matches!(f, ServerFrame::Error { .. }))
        .await
    {
        ServerFrame::Error {
            code, client_id, ..
        } => {
            assert_eq!(
                (code, client_id.as_deref()),
                (ErrorCode::TooLarge, Some("big"))
            );
        }
        _ => unreachable!(),
    }

    for n in 0..3 {
        tutor.post(&format!("r{n}"), "within the rate").await;
    }
    tutor
        .send(&ClientFrame::Send {
            client_id: "r3".into(),
            text: "over the rate".into(),
        })
        .await;
    assert_eq!(tutor.next_error().await, ErrorCode::RateLimited);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    tutor.post("r4", "after a pause").await;

    let (_student, _) = Client::join(app.addr, &s.id, &s.student_token, None).await;
    let mut third = Client::ask_to_join(app.addr, &s.id, &s.student_token, None).await;
    assert_eq!(third.next_error().await, ErrorCode::SessionFull);
}

/// Joins with `token` and returns the error the join got.
async fn refused_join(app: &TestApp, session: &str, token: &str) -> (ErrorCode, String) {
    let mut client = Client::ask_to_join(app.addr, session, token, None).await;
    match client
        .next_where(|f| matches!(f, ServerFrame::Error { .. }))
        .await
    {
        ServerFrame::Error { code, message, .. } => (code, message),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn the_last_seat_waits_for_the_tutor_and_one_person_cannot_fill_a_session() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[("CHAT_MAX_CONNECTIONS_PER_SESSION", "3")]).await;
    let s = session(&app).await;

    // Without the tutor, students get all seats but the last.
    let mut students = Vec::new();
    for _ in 0..2 {
        students.push(Client::join(app.addr, &s.id, &s.student_token, None).await);
    }
    let (code, message) = refused_join(&app, &s.id, &s.student_token).await;
    assert_eq!(code, ErrorCode::SessionFull, "{message}");
    let _tutor = Client::join(app.addr, &s.id, &s.tutor_token, None).await;

    // One participant holds at most five connections, however large the
    // session.
    let big = TestApp::spawn(&redis.url(), &[("INSTANCE_ID", "big")]).await;
    let t = session(&big).await;
    let mut tabs = Vec::new();
    for _ in 0..server::chat::MAX_CONNECTIONS_PER_PARTICIPANT {
        tabs.push(Client::join(big.addr, &t.id, &t.student_token, None).await);
    }
    let (code, message) = refused_join(&big, &t.id, &t.student_token).await;
    assert_eq!(code, ErrorCode::SessionFull);
    assert!(message.contains("close one first"), "{message}");
    let _tutor = Client::join(big.addr, &t.id, &t.tutor_token, None).await;
}

#[tokio::test]
async fn resuming_after_the_largest_possible_id_joins_with_nothing_to_replay() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let s = session(&app).await;
    let (mut tutor, _) = Client::join(app.addr, &s.id, &s.tutor_token, None).await;
    tutor.post("c1", "stored").await;
    let max = format!("{}-{}", u64::MAX, u64::MAX);
    let (_, replayed) = Client::join(app.addr, &s.id, &s.student_token, Some(&max)).await;
    assert!(replayed.is_empty(), "{replayed:?}");
}

#[tokio::test]
async fn bad_frames_get_an_error_and_the_connection_keeps_working() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[("CHAT_MAX_MESSAGE_BYTES", "100")]).await;
    let s = session(&app).await;
    let (mut tutor, _) = Client::join(app.addr, &s.id, &s.tutor_token, None).await;

    tutor.send_raw("this is not json").await;
    assert_eq!(tutor.next_error().await, ErrorCode::BadFrame);
    tutor.send_raw(r#"{"type":"shout","text":"hi"}"#).await;
    assert_eq!(tutor.next_error().await, ErrorCode::BadFrame);
    tutor
        .send_raw(&format!(
            r#"{{"type":"send","client_id":"x","text":"{}"}}"#,
            "y".repeat(5000)
        ))
        .await;
    assert_eq!(tutor.next_error().await, ErrorCode::TooLarge);

    tutor.send(&ClientFrame::Ping { nonce: 7 }).await;
    assert_eq!(
        tutor
            .next_where(|f| matches!(f, ServerFrame::Pong { .. }))
            .await,
        ServerFrame::Pong { nonce: 7 }
    );
    tutor.post("fine", "still working").await;
    assert_eq!(tutor.next_message().await.text, "still working");
}

#[tokio::test]
async fn shutting_an_instance_down_closes_its_sockets_with_going_away() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let s = session(&app).await;
    let (mut tutor, _) = Client::join(app.addr, &s.id, &s.tutor_token, None).await;
    drop(app);
    assert_eq!(tutor.closed_with().await, Some(1001));
}

#[tokio::test]
async fn a_client_too_slow_to_keep_up_is_resynchronised_from_the_stream() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(
        &redis.url(),
        &[
            ("CHAT_MESSAGES_PER_SECOND", "100000"),
            ("CHAT_HISTORY_LEN", "100000"),
        ],
    )
    .await;
    let s = session(&app).await;
    let (mut tutor, _) = Client::join(app.addr, &s.id, &s.tutor_token, None).await;
    // The student reads nothing while thousands of messages go by, so its
    // socket's buffers fill and it falls far behind its room.
    let (mut student, _) = Client::join(app.addr, &s.id, &s.student_token, None).await;

    let total = 4000;
    let padding = "p".repeat(2000);
    for batch in 0..total / 100 {
        for n in batch * 100..(batch + 1) * 100 {
            let text = format!("{n:05} {padding}");
            tutor
                .send(&ClientFrame::Send {
                    client_id: format!("m{n}"),
                    text,
                })
                .await;
        }
        for _ in 0..100 {
            tutor
                .next_where(|f| matches!(f, ServerFrame::Ack { .. }))
                .await;
        }
    }

    let mut seen: Vec<usize> = Vec::new();
    let mut resynchronised = false;
    while seen.len() < total {
        let texts: Vec<String> = match student.next().await {
            ServerFrame::Message { message } => vec![message.text],
            ServerFrame::History {
                messages, resumed, ..
            } => {
                resynchronised |= resumed;
                messages.into_iter().map(|m| m.text).collect()
            }
            _ => continue,
        };
        seen.extend(
            texts
                .iter()
                .map(|t| t[..5].parse::<usize>().expect("numbered")),
        );
    }
    assert!(
        resynchronised,
        "the student never fell behind; the test proves nothing"
    );
    assert_eq!(seen, (0..total).collect::<Vec<_>>());
}
