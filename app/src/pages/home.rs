//! The start page: what the platform is, and a check that the browser, the
//! server and Redis work together.

use leptos::prelude::*;

use crate::api::{CreateSession, RedisRoundTrip, MAX_NAME_CHARS, MAX_NOTE_CHARS, MAX_TITLE_CHARS};

/// The start page.
#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <header class="hero">
            <h1>"Tutoring sessions"</h1>
            <p>"Live chat between tutors and students, and AI reports of each session."</p>
        </header>
        <StartSession/>
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

/// The tutor's form to start a session, and the two links it gives back.
#[component]
fn StartSession() -> impl IntoView {
    let create = ServerAction::<CreateSession>::new();
    let result = create.value();

    view! {
        <section class="card" aria-labelledby="start-session">
            <h2 id="start-session">"Start a session"</h2>
            <ActionForm action=create attr:class="row">
                <label for="session-title">"Title"</label>
                <input id="session-title" name="title" maxlength=MAX_TITLE_CHARS required placeholder="Fractions"/>
                <label for="tutor-name">"Your name"</label>
                <input id="tutor-name" name="name" maxlength=MAX_NAME_CHARS required/>
                <button type="submit" disabled=move || create.pending().get()>"Start a session"</button>
            </ActionForm>
            {move || match result.get() {
                None => None,
                Some(Ok(created)) => Some(view! {
                    <p>"Your own link (keep it private): "
                        <a data-testid="tutor-link" href=created.tutor_link.clone()>"Open your session"</a>
                    </p>
                    <p>"Invite for students: "
                        <a data-testid="invite-link" href=created.invite_link.clone()>{created.invite_link.clone()}</a>
                    </p>
                }.into_any()),
                Some(Err(err)) => Some(view! {
                    <p role="alert">{format!("Could not start the session: {err}")}</p>
                }.into_any()),
            }}
        </section>
    }
}
