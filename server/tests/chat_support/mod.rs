//! What the chat's integration tests share: sessions made through the
//! server functions, and a WebSocket client that speaks the protocol.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use app::{
    api::{CreateSession, CreatedSession, JoinSession},
    chat::protocol::{ClientFrame, ErrorCode, ServerFrame, PROTOCOL_VERSION},
};
use futures::{SinkExt, StreamExt};
use leptos::server_fn::ServerFn;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

use crate::support::{self, TestApp};

/// How long a test waits for a frame before failing.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A session with a tutor and one student.
pub struct Session {
    pub id: String,
    pub tutor_token: String,
    pub student_token: String,
}

fn query_value(link: &str, name: &str) -> String {
    let (_, query) = link.split_once('?').expect("the link has a query");
    let (_, value) = query
        .split_once(&format!("{name}="))
        .expect("the query has the value");
    value.to_string()
}

/// Creates a session on `app` and lets a student called Sam in.
pub async fn session(app: &TestApp) -> Session {
    let response = app
        .http
        .post(app.url(CreateSession::PATH))
        .form(&[("title", "Fractions"), ("name", "Tess")])
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 200);
    let created: CreatedSession = response.json().await.expect("a created session");
    let invite = query_value(&created.invite_link, "invite");
    let student_link = join(app, &created.session_id, &invite, "Sam").await;
    Session {
        tutor_token: query_value(&created.tutor_link, "token"),
        student_token: query_value(&student_link, "token"),
        id: created.session_id,
    }
}

/// A session with a short lesson in it: four messages, one of them the
/// student's question; its sockets closed again.
pub async fn lesson(app: &TestApp) -> Session {
    let session = session(app).await;
    let (mut tutor, _) = Client::join(app.addr, &session.id, &session.tutor_token, None).await;
    let (mut student, _) = Client::join(app.addr, &session.id, &session.student_token, None).await;
    tutor
        .post("t1", "What is three quarters plus one quarter?")
        .await;
    student.post("s1", "Is it one whole?").await;
    tutor.post("t2", "Yes. Why?").await;
    student.post("s2", "Because four quarters make one").await;
    session
}

/// The address of `session`'s report API, with `tail` after it.
pub fn report_url(app: &TestApp, session: &str, tail: &str) -> String {
    app.url(&format!("/api/reports/session/{session}{tail}"))
}

/// Asks for a report of `session` with `token` (and a `query` such as
/// `?regenerate=true`); returns the status and the JSON body.
pub async fn ask_report(app: &TestApp, session: &str, token: &str, query: &str) -> (u16, Value) {
    let response = app
        .http
        .post(report_url(app, session, query))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers");
    (
        response.status().as_u16(),
        response.json().await.expect("a JSON body"),
    )
}

/// GETs `tail` of `session`'s report API; returns the status and the JSON
/// body.
pub async fn get_report(
    app: &TestApp,
    session: &str,
    token: Option<&str>,
    tail: &str,
) -> (u16, Value) {
    let mut request = app.http.get(report_url(app, session, tail));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the server answers");
    (
        response.status().as_u16(),
        response.json().await.expect("a JSON body"),
    )
}

/// Waits until the report job of `session` is finished; returns its status.
pub async fn finished_report(app: &TestApp, session: &str, token: &str) -> Value {
    let deadline = Instant::now() + support::PATIENCE;
    loop {
        let (code, body) = get_report(app, session, Some(token), "/status").await;
        assert_eq!(code, 200, "{body}");
        if body["status"] == "completed" || body["status"] == "failed" {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "the report did not finish: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Joins `session` through the invite; returns the student's link.
pub async fn join(app: &TestApp, session: &str, invite: &str, name: &str) -> String {
    let response = app
        .http
        .post(app.url(JoinSession::PATH))
        .form(&[("session", session), ("invite", invite), ("name", name)])
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 200);
    response.json().await.expect("a link")
}

/// A WebSocket client of the chat.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Opens a socket to `addr` without joining.
    pub async fn connect(addr: std::net::SocketAddr) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("the socket opens");
        Client { ws }
    }

    /// Opens a socket to `addr` and asks to join, without waiting for the
    /// answer.
    pub async fn ask_to_join(
        addr: std::net::SocketAddr,
        session: &str,
        token: &str,
        after: Option<&str>,
    ) -> Client {
        let mut client = Client::connect(addr).await;
        client
            .send(&ClientFrame::Join {
                v: PROTOCOL_VERSION,
                session: session.into(),
                token: token.into(),
                after: after.map(String::from),
            })
            .await;
        client
    }

    /// Opens a socket and joins; returns it with the history it was given.
    pub async fn join(
        addr: std::net::SocketAddr,
        session: &str,
        token: &str,
        after: Option<&str>,
    ) -> (Client, Vec<app::chat::protocol::ChatMessage>) {
        let (client, messages, _) = Client::join_noting_gap(addr, session, token, after).await;
        (client, messages)
    }

    /// Like [`Client::join`], with whether the server said the history has
    /// a gap.
    pub async fn join_noting_gap(
        addr: std::net::SocketAddr,
        session: &str,
        token: &str,
        after: Option<&str>,
    ) -> (Client, Vec<app::chat::protocol::ChatMessage>, bool) {
        let mut client = Client::ask_to_join(addr, session, token, after).await;
        match client.next().await {
            ServerFrame::Joined { .. } => {}
            other => panic!("expected joined, got {other:?}"),
        }
        match client.next().await {
            ServerFrame::History { messages, gap, .. } => (client, messages, gap),
            other => panic!("expected history, got {other:?}"),
        }
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        let text = serde_json::to_string(frame).expect("frames serialise");
        self.send_raw(&text).await;
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws
            .send(Message::text(text))
            .await
            .expect("the socket takes the frame");
    }

    /// Posts `text` as `client_id` and waits for its acknowledgement id.
    pub async fn post(&mut self, client_id: &str, text: &str) -> String {
        self.send(&ClientFrame::Send {
            client_id: client_id.into(),
            text: text.into(),
        })
        .await;
        match self
            .next_where(|f| matches!(f, ServerFrame::Ack { .. } | ServerFrame::Error { .. }))
            .await
        {
            ServerFrame::Ack {
                client_id: acked,
                id,
            } if acked == client_id => id,
            other => panic!("expected an ack for {client_id}, got {other:?}"),
        }
    }

    /// The next frame from the server.
    pub async fn next(&mut self) -> ServerFrame {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame within the patience")
                .expect("the socket is open")
                .expect("the socket reads");
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str())
                        .expect("the server speaks the protocol")
                }
                Message::Close(frame) => panic!("the server closed the socket: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The next frame that `wanted` accepts, skipping others.
    pub async fn next_where(&mut self, wanted: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
        loop {
            let frame = self.next().await;
            if wanted(&frame) {
                return frame;
            }
        }
    }

    /// The next error frame's code.
    pub async fn next_error(&mut self) -> ErrorCode {
        match self
            .next_where(|f| matches!(f, ServerFrame::Error { .. }))
            .await
        {
            ServerFrame::Error { code, .. } => code,
            _ => unreachable!(),
        }
    }

    /// The next live message's text and id.
    pub async fn next_message(&mut self) -> app::chat::protocol::ChatMessage {
        match self
            .next_where(|f| matches!(f, ServerFrame::Message { .. }))
            .await
        {
            ServerFrame::Message { message } => message,
            _ => unreachable!(),
        }
    }

    /// Waits until a presence frame lists exactly `names` (in any order).
    pub async fn wait_for_presence(&mut self, names: &[&str]) {
        let mut wanted: Vec<&str> = names.to_vec();
        wanted.sort();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "presence never became {wanted:?}"
            );
            if let ServerFrame::Presence { online } = self
                .next_where(|f| matches!(f, ServerFrame::Presence { .. }))
                .await
            {
                let mut seen: Vec<&str> = online.iter().map(|p| p.name.as_str()).collect();
                seen.sort();
                if seen == wanted {
                    return;
                }
            }
        }
    }

    /// Reads until the server closes; returns the close code.
    pub async fn closed_with(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("closes in time")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code.into()),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Drops the connection without a close handshake, as a lost network does.
    pub fn drop_connection(self) {
        drop(self.ws);
    }
}
