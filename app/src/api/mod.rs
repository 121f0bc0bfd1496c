//! The server functions the pages call, and the types they exchange. The
//! function bodies run on the server; the browser gets a typed client for each.

pub mod admin;
mod error;
pub mod lines;
mod reports;
mod sessions;
mod system_check;

#[cfg(feature = "ssr")]
pub use error::with_status;
pub use error::AppError;
pub use reports::{
    follow_report, load_report, request_report, FollowReport, LoadReport, ReportView, RequestReport,
};
pub use sessions::{
    create_session, end_session, join_session, load_session, online_participants, CreateSession,
    CreatedSession, EndSession, JoinSession, LoadSession, OnlineParticipants, SessionView,
    MAX_NAME_CHARS, MAX_TITLE_CHARS,
};
pub use system_check::{redis_round_trip, RedisRoundTrip, RoundTrip, MAX_NOTE_CHARS};
