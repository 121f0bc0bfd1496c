//! A fake OpenAI-compatible server of the tests' own, on loopback: each test
//! scripts its answers (a streamed report, a plain JSON answer, a 429 with
//! Retry-After, a 500, a 401, a slow stream) and reads back what was asked.

#![allow(dead_code)]

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde_json::{json, Value};

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A streamed completion of `content`, cut into `chunks` pieces sent
    /// `gap` apart, then the usage chunk.
    Stream {
        content: String,
        chunks: usize,
        gap: Duration,
    },
    /// One JSON completion, not streamed (what some local servers do).
    Plain { content: String },
    /// An error status with an OpenAI-style body and an optional Retry-After.
    Status {
        code: u16,
        retry_after: Option<u64>,
        message: String,
    },
}

impl Answer {
    /// A well-formed report, streamed in a few pieces.
    pub fn report(summary: &str) -> Answer {
        Answer::Stream {
            content: report_json(summary),
            chunks: 6,
            gap: Duration::from_millis(30),
        }
    }
}

/// The JSON a model would answer with for a good report.
pub fn report_json(summary: &str) -> String {
    json!({
        "summary": summary,
        "went_well": ["The student explained their reasoning."],
        "to_work_on": ["Check units before answering."],
        "next_steps": ["Practise three word problems."],
    })
    .to_string()
}

/// A request the fake received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: Instant,
    pub body: Value,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Script {
    answers: VecDeque<Answer>,
    /// Used once the scripted answers run out.
    fallback: Option<Answer>,
    seen: Vec<Seen>,
}

/// The running fake; it stops with the test's runtime.
#[derive(Clone)]
pub struct FakeModel {
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

pub const USAGE: (u32, u32) = (120, 45);

impl FakeModel {
    pub async fn start() -> FakeModel {
        let script = Arc::new(Mutex::new(Script::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeModel { addr, script }
    }

    /// What `OPENAI_BASE_URL` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Answers the next requests with these, in order.
    pub fn then(&self, answer: Answer) -> &Self {
        self.script.lock().unwrap().answers.push_back(answer);
        self
    }

    /// Answers every request after the scripted ones with this.
    pub fn always(&self, answer: Answer) -> &Self {
        self.script.lock().unwrap().fallback = Some(answer);
        self
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script.lock().unwrap().seen.clone()
    }
}

async fn completions(
    State(script): State<Arc<Mutex<Script>>>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let answer = {
        let mut script = script.lock().unwrap();
        script.seen.push(Seen {
            at: Instant::now(),
            body: body.clone(),
            authorization: headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(String::from),
        });
        script
            .answers
            .pop_front()
            .or_else(|| script.fallback.clone())
    };
    match answer {
        None => (StatusCode::INTERNAL_SERVER_ERROR, "nothing scripted").into_response(),
        Some(Answer::Status { code, retry_after, message }) => {
            let mut response = (
                StatusCode::from_u16(code).unwrap(),
                Json(json!({ "error": { "message": message, "type": "test", "param": null, "code": null } })),
            )
                .into_response();
            if let Some(secs) = retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, secs.to_string().parse().unwrap());
            }
            response
        }
        Some(Answer::Plain { content }) => Json(json!({
            "id": "cmpl-test", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{ "index": 0, "finish_reason": "stop",
                          "message": { "role": "assistant", "content": content } }],
            "usage": { "prompt_tokens": USAGE.0, "completion_tokens": USAGE.1, "total_tokens": USAGE.0 + USAGE.1 },
        }))
        .into_response(),
        Some(Answer::Stream { content, chunks, gap }) => stream(content, chunks.max(1), gap),
    }
}

fn stream(content: String, chunks: usize, gap: Duration) -> Response {
    let chars: Vec<char> = content.chars().collect();
    let size = chars.len().div_ceil(chunks).max(1);
    let mut events: Vec<String> = chars
        .chunks(size)
        .map(|piece| {
            let delta = json!({ "content": piece.iter().collect::<String>() });
            chunk(
                json!([{ "index": 0, "delta": delta, "finish_reason": null }]),
                Value::Null,
            )
        })
        .collect();
    let usage = json!({ "prompt_tokens": USAGE.0, "completion_tokens": USAGE.1, "total_tokens": USAGE.0 + USAGE.1 });
    events.push(chunk(json!([]), usage));
    events.push("data: [DONE]\n\n".to_string());

    let body = futures::stream::unfold(events.into_iter(), move |mut events| async move {
        let event = events.next()?;
        tokio::time::sleep(gap).await;
        Some((Ok::<_, std::io::Error>(event), events))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}

fn chunk(choices: Value, usage: Value) -> String {
    let event = json!({
        "id": "cmpl-test", "object": "chat.completion.chunk", "created": 0, "model": "fake",
        "choices": choices, "usage": usage,
    });
    format!("data: {event}\n\n")
}
