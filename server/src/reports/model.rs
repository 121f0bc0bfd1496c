//! The language model client: any OpenAI-compatible endpoint, called through
//! async-openai with a streamed chat completion.
//!
//! Requests go through an HTTP service of our own so that a refusal keeps its
//! status and its `Retry-After`: the queue needs both to decide between
//! retrying later and failing at once.

use std::time::Duration;

use async_openai::{
    config::OpenAIConfig, error::OpenAIError, middleware::HttpRequestFactory, Client,
};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use app::reports::{Narrative, TokenUsage};

use super::narrative;

/// Where the model is and which one to use. `Debug` leaves the key out.
#[derive(Clone, PartialEq, Eq)]
pub struct ModelSettings {
    pub api_key: String,
    /// `None` means OpenAI's own endpoint.
    pub base_url: Option<String>,
    pub model: String,
    /// How long one completion may take from request to last token.
    pub timeout: Duration,
}

impl std::fmt::Debug for ModelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSettings")
            .field("api_key", &"***")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why the model did not give a narrative, sorted by what the queue should do.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    /// 429: try again, after the delay the provider asked for when it did.
    #[error("the model provider is rate limiting requests")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, a network failure or a timeout: try again with backoff.
    #[error("the model provider is unavailable ({0})")]
    Unavailable(String),
    /// 4xx other than 429 (a bad key, a bad request): retrying cannot help.
    #[error("the model provider refused the request ({0})")]
    Refused(String),
    /// The answer came but is not a report: this attempt failed.
    #[error("{0}")]
    BadAnswer(String),
}

/// A refusal as our HTTP service saw it, carried through async-openai.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status}: {message}")]
struct HttpRefusal {
    status: u16,
    retry_after: Option<Duration>,
    message: String,
}

/// A client for one configured model.
pub struct ModelClient {
    client: Client<OpenAIConfig>,
    settings: ModelSettings,
}

impl ModelClient {
    pub fn new(settings: ModelSettings) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|err| format!("cannot build the model's HTTP client: {err}"))?;
        let mut config = OpenAIConfig::new().with_api_key(settings.api_key.clone());
        if let Some(base) = &settings.base_url {
            config = config.with_api_base(base.trim_end_matches('/'));
        }
        let service = tower::service_fn(move |factory: HttpRequestFactory| {
            let http = http.clone();
            async move { send(&http, factory).await }
        });
        let client = Client::with_config(config).with_http_service(service);
        Ok(ModelClient { client, settings })
    }

    /// The model's name, as reports record it.
    pub fn model(&self) -> &str {
        &self.settings.model
    }

    /// Asks for the narrative of `document` (see [`narrative::session_document`]),
    /// streaming the answer; `received` counts the characters as they arrive so
    /// the caller can show progress.
    pub async fn write(
        &self,
        document: String,
        received: &watch::Sender<usize>,
    ) -> Result<(Narrative, TokenUsage), ModelError> {
        match tokio::time::timeout(self.settings.timeout, self.stream(document, received)).await {
            Ok(result) => result,
            Err(_) => Err(ModelError::Unavailable(format!(
                "no complete answer within {} s",
                self.settings.timeout.as_secs()
            ))),
        }
    }

    async fn stream(
        &self,
        document: String,
        received: &watch::Sender<usize>,
    ) -> Result<(Narrative, TokenUsage), ModelError> {
        let mut stream = self
            .client
            .chat()
            .create_stream_byot::<_, Chunk>(self.request(&document, true))
            .await
            .map_err(|err| self.classify(err))?;

        let mut answer = String::new();
        // Counted as it arrives: recounting the whole answer at every chunk
        // would grow with the square of its length.
        let mut chars = 0usize;
        let mut usage = TokenUsage::default();
        let mut chunks = 0usize;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|err| self.classify(err))?;
            chunks += 1;
            for choice in chunk.choices {
                if let Some(text) = choice.delta.content {
                    chars += text.chars().count();
                    answer.push_str(&text);
                }
            }
            if let Some(u) = chunk.usage {
                usage = u.into();
            }
            received.send_replace(chars);
        }
        if chunks == 0 {
            // Some local servers ignore `stream` and answer with one JSON
            // document, which reads as an empty event stream: ask again
            // without streaming.
            return self.whole(&document, received).await;
        }
        let narrative = narrative::parse_answer(&answer).map_err(ModelError::BadAnswer)?;
        Ok((narrative, usage))
    }

    /// The same request, answered in one piece.
    async fn whole(
        &self,
        document: &str,
        received: &watch::Sender<usize>,
    ) -> Result<(Narrative, TokenUsage), ModelError> {
        let answer: Whole = self
            .client
            .chat()
            .create_byot(self.request(document, false))
            .await
            .map_err(|err| self.classify(err))?;
        let content = answer
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .unwrap_or_default();
        received.send_replace(content.chars().count());
        let usage = answer.usage.map(TokenUsage::from).unwrap_or_default();
        let narrative = narrative::parse_answer(&content).map_err(ModelError::BadAnswer)?;
        Ok((narrative, usage))
    }

    fn request(&self, document: &str, stream: bool) -> serde_json::Value {
        let mut request = json!({
            "model": self.settings.model,
            "stream": stream,
            "temperature": 0.3,
            "messages": [
                { "role": "system", "content": narrative::INSTRUCTIONS },
                { "role": "user", "content": document },
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": { "name": "session_report", "strict": true, "schema": narrative::schema() },
            },
        });
        if stream {
            request["stream_options"] = json!({ "include_usage": true });
        }
        request
    }

    /// Sorts an error from async-openai. What the provider said goes to the
    /// log (with the API key and the endpoint's address taken out); the
    /// error itself, which becomes the job's reason and reaches every
    /// participant and the dashboard, only names the kind of failure and the
    /// HTTP status.
    fn classify(&self, err: OpenAIError) -> ModelError {
        let scrub = |text: String| {
            if self.settings.api_key.is_empty() {
                text
            } else {
                text.replace(&self.settings.api_key, "***")
            }
        };
        let by_status = |status: u16, detail: String| {
            tracing::warn!(status, cause = %scrub(detail), "the model provider answered with an error");
            match status {
                429 => ModelError::RateLimited { retry_after: None },
                500..=599 => ModelError::Unavailable(format!("HTTP {status}")),
                _ => ModelError::Refused(format!("HTTP {status}")),
            }
        };
        match err {
            OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpRefusal>() {
                Ok(refusal) => match by_status(refusal.status, refusal.message.clone()) {
                    ModelError::RateLimited { .. } => ModelError::RateLimited {
                        retry_after: refusal.retry_after,
                    },
                    other => other,
                },
                Err(other) => {
                    tracing::warn!(cause = %scrub(other.to_string()), "the model call failed");
                    ModelError::Unavailable("the request did not complete".into())
                }
            },
            OpenAIError::Reqwest(err) => {
                let public = if err.is_timeout() {
                    "the request timed out"
                } else if err.is_connect() {
                    "could not connect"
                } else {
                    "the request did not complete"
                };
                let err = err.without_url();
                tracing::warn!(cause = %scrub(err.to_string()), "the model call failed");
                ModelError::Unavailable(public.into())
            }
            OpenAIError::ApiError(api) => by_status(api.status_code.as_u16(), api.to_string()),
            OpenAIError::StreamError(err) => {
                tracing::warn!(cause = %scrub(err.to_string()), "the model's stream broke off");
                ModelError::Unavailable("the answer's stream broke off".into())
            }
            OpenAIError::JSONDeserialize(err, _) => {
                ModelError::BadAnswer(format!("the model's stream could not be read ({err})"))
            }
            other => {
                tracing::warn!(cause = %scrub(other.to_string()), "the model call failed");
                ModelError::Refused("the request could not be made".into())
            }
        }
    }
}

/// The longest wait a provider's `Retry-After` may ask for; a longer one (or
/// a nonsensical one) would hold a session's report back for days.
const LONGEST_RETRY_AFTER_SECS: f64 = 3600.0;

/// Sends one request; any status but success becomes an [`HttpRefusal`].
async fn send(
    http: &reqwest::Client,
    factory: HttpRequestFactory,
) -> Result<reqwest::Response, OpenAIError> {
    let request = factory.build().await?;
    let response = http.execute(request).await?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|secs| secs.is_finite() && *secs >= 0.0)
        .map(|secs| Duration::from_secs_f64(secs.min(LONGEST_RETRY_AFTER_SECS)));
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(200).collect());
    Err(OpenAIError::Boxed(Box::new(HttpRefusal {
        status: status.as_u16(),
        retry_after,
        message,
    })))
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<ChunkUsage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Delta,
}

#[derive(Deserialize, Default)]
struct Delta {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Whole {
    #[serde(default)]
    choices: Vec<WholeChoice>,
    usage: Option<ChunkUsage>,
}

#[derive(Deserialize)]
struct WholeChoice {
    message: Delta,
}

#[derive(Deserialize)]
struct ChunkUsage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

impl From<ChunkUsage> for TokenUsage {
    fn from(u: ChunkUsage) -> Self {
        TokenUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        }
    }
}
