//! What the server functions need from the server, as traits. The server
//! implements them and puts an `Arc<dyn Trait>` of each in the Leptos context,
//! so this crate never names a Redis type and tests can hand in their own.

use std::sync::Arc;

use async_trait::async_trait;
use leptos::prelude::use_context;

use crate::api::{AppError, RoundTrip};

/// The Redis round trip of the system check.
#[async_trait]
pub trait SystemCheck: Send + Sync {
    /// Stores `note` and reads it back.
    async fn round_trip(&self, note: &str) -> Result<RoundTrip, AppError>;
}

/// The backend of type `T` that the server provided, or an error the page can
/// show when the server was started without it.
pub fn get<T: ?Sized + Send + Sync + 'static>() -> Result<Arc<T>, AppError> {
    use_context::<Arc<T>>().ok_or_else(|| {
        AppError::Unavailable("This part of the service is not running here.".into())
    })
}
