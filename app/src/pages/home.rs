//! The start page: what the platform is, and a check that the browser, the
//! server and Redis work together.

use leptos::prelude::*;

use crate::api::{RedisRoundTrip, MAX_NOTE_CHARS};

/// The start page.
#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <header class="hero">
            <h1>"Tutoring sessions"</h1>
            <p>"Live chat between tutors and students, and AI reports of each session."</p>
        </header>
        <SystemCheck/>
    }
}

/// A form that stores a note in Redis through a server function and shows
/// what came back.
#[component]
fn SystemCheck() -> impl IntoView {
    let round_trip = ServerAction::<RedisRoundTrip>::new();
    let result = round_trip.value();

    view! {
        <section class="card" aria-labelledby="system-check">
            <h2 id="system-check">"System check"</h2>
            <p>"Store a note in Redis and read it back through the server."</p>
            <ActionForm action=round_trip attr:class="row">
                <label for="note">"Note"</label>
                <input id="note" name="note" maxlength=MAX_NOTE_CHARS required placeholder="hello"/>
                <button type="submit" disabled=move || round_trip.pending().get()>"Store in Redis"</button>
            </ActionForm>
            <p class="result" data-testid="round-trip-result" aria-live="polite">
                {move || match result.get() {
                    None => "Nothing stored yet.".to_string(),
                    Some(Ok(trip)) => format!(
                        "Redis returned \u{201c}{}\u{201d} (round trip {} of all, served by {}).",
                        trip.value, trip.count, trip.instance,
                    ),
                    Some(Err(err)) => format!("Could not store the note: {err}"),
                }}
            </p>
        </section>
    }
}
