//! Server functions' own errors as a client should see them: arguments that
//! do not decode are the caller's mistake, a 400 with a message, not the 500
//! the server-function layer answers before any code of ours runs.

use app::api::AppError;
use axum::{
    extract::Request,
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// A server function whose arguments do not decode answers 500 before any
/// code of ours runs; that is the caller's mistake, so it becomes a 400 with
/// a message that says what was wrong.
pub async fn arguments_errors_as_400(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let failed = response.status() == StatusCode::INTERNAL_SERVER_ERROR;
    if !failed
        || !response
            .headers()
            .contains_key(leptos::server_fn::error::SERVER_FN_ERROR_HEADER)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let body = match serde_json::from_slice::<AppError>(&bytes) {
        Ok(AppError::BadRequest(_)) => {
            parts.status = StatusCode::BAD_REQUEST;
            bytes
        }
        Ok(AppError::Transport(message)) if message.starts_with("error deserializing") => {
            parts.status = StatusCode::BAD_REQUEST;
            let detail = message
                .split_once(": ")
                .map_or(message.as_str(), |(_, d)| d);
            let error = AppError::BadRequest(format!("The request is not valid: {detail}"));
            serde_json::to_vec(&error).unwrap_or_default().into()
        }
        _ => bytes,
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}
