//! One module per page.

mod home;
mod not_found;
mod session;

pub use home::HomePage;
pub use not_found::NotFound;
pub use session::{JoinPage, SessionPage};
