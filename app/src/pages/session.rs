//! The tutoring session page (`/session/:id?token=…`): the chat, who is
//! online, and the report panel; and the join page
//! (`/session/:id/join?invite=…`) where a student picks a display name.
//!
//! The token in the address is the only key to a session, so these pages
//! ask browsers not to send their address on as a referrer.

use leptos::prelude::*;
use leptos_meta::Meta;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::{
    api::{load_session, JoinSession, SessionView, MAX_NAME_CHARS},
    chat::ChatPanel,
    reports::ReportPanel,
};

/// Asks for `Referrer-Policy: no-referrer` on the response (server side) and
/// in the document (for the browser's own navigation), and that no cache
/// keeps a page whose address is a key.
fn no_referrer() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.insert_header(
            http::header::REFERRER_POLICY,
            http::HeaderValue::from_static("no-referrer"),
        );
        response.insert_header(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
    }
    view! { <Meta name="referrer" content="no-referrer"/> }
}

/// A session as one participant sees it.
#[component]
pub fn SessionPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let session = move || params.read().get("id").unwrap_or_default();
    let token = move || query.read().get("token").unwrap_or_default();
    let loaded = Resource::new(move || (session(), token()), |(s, t)| load_session(s, t));

    view! {
        {no_referrer()}
        <Suspense fallback=|| view! { <p>"Opening the session…"</p> }>
            {move || Suspend::new(async move {
                match loaded.await {
                    Ok(view) => view! { <SessionBody view token=token()/> }.into_any(),
                    Err(err) => view! {
                        <section class="card" data-testid="session-error">
                            <h1>"Cannot open this session"</h1>
                            <p>{err.to_string()}</p>
                            <p><a href="/">"Back to the start"</a></p>
                        </section>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SessionBody(view: SessionView, token: String) -> impl IntoView {
    let SessionView {
        session_id,
        title,
        you,
        ended,
        invite_link,
    } = view;
    view! {
        <header class="hero">
            <h1 data-testid="session-title">{title}</h1>
            <p data-testid="you">"You are " {you.name.clone()} " (" {you.role.as_str()} ")."</p>
        </header>
        {invite_link.map(|link| view! { <InviteCard link/> })}
        <ChatPanel session=session_id.clone() token=token.clone() you ended/>
        <ReportPanel session=session_id token/>
    }
    // Erased, so the page's view type stays shallow enough for the compiler.
    .into_any()
}

/// The tutor's invite for students, with a button that copies the whole
/// address.
#[component]
fn InviteCard(link: String) -> impl IntoView {
    // The page's own origin is known in the browser only; the server renders
    // the link as a path, and the effect completes it after hydration.
    let full = RwSignal::new(link.clone());
    let copied = RwSignal::new(None::<&'static str>);
    #[cfg(feature = "hydrate")]
    {
        let link = link.clone();
        Effect::new(move |_| {
            if let Some(origin) = web_sys::window().and_then(|w| w.location().origin().ok()) {
                full.set(format!("{origin}{link}"));
            }
        });
    }
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let text = full.get_untracked();
            let written = match web_sys::window() {
                Some(window) => {
                    let promise = window.navigator().clipboard().write_text(&text);
                    wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
                }
                None => false,
            };
            copied.set(Some(if written {
                "Copied."
            } else {
                "This browser would not copy it: select the link and copy it by hand."
            }));
        });
    };

    view! {
        <section class="card invite" aria-labelledby="invite-title">
            <h2 id="invite-title">"Invite students"</h2>
            <p class="muted">"Anyone with this link can join as a student; give it only to your students."</p>
            <div class="row">
                <a class="invite-link" data-testid="invite-link" href=link>{move || full.get()}</a>
                <button type="button" class="secondary small" on:click=copy>"Copy link"</button>
                <span class="muted" aria-live="polite">{move || copied.get()}</span>
            </div>
        </section>
    }
    .into_any()
}

/// Where a student arrives with the invite and picks a display name.
#[component]
pub fn JoinPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let session = move || params.read().get("id").unwrap_or_default();
    let invite = move || query.read().get("invite").unwrap_or_default();
    let join = ServerAction::<JoinSession>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(link)) = join.value().get() {
            navigate(&link, Default::default());
        }
    });

    view! {
        {no_referrer()}
        <section class="card" aria-labelledby="join-title">
            <h1 id="join-title">"Join the tutoring session"</h1>
            <ActionForm action=join attr:class="row">
                <input type="hidden" name="session" prop:value=session/>
                <input type="hidden" name="invite" prop:value=invite/>
                <label for="join-name">"Your name"</label>
                <input id="join-name" name="name" maxlength=MAX_NAME_CHARS required/>
                <button type="submit" disabled=move || join.pending().get()>"Join"</button>
            </ActionForm>
            <p data-testid="join-error" role="alert">
                {move || match join.value().get() {
                    Some(Err(err)) => err.to_string(),
                    _ => String::new(),
                }}
            </p>
        </section>
    }
}
