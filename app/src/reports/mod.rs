//! Session reports as both ends share them: the report and status types, and
//! the panel of the session page that asks for one and shows it.

mod panel;
mod types;

pub use panel::ReportPanel;
pub use types::{Narrative, ParticipantStats, Report, ReportStatus, SessionAnalytics, TokenUsage};
