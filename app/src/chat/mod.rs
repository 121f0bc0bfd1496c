//! The chat as both ends share it: the wire protocol, the page's chat state
//! and components, and (in the browser) the WebSocket client.

#[cfg(feature = "hydrate")]
pub mod client;
pub mod protocol;
pub mod state;
mod view;

pub use view::ChatPanel;
