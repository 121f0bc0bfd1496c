//! The chat's part of the session page: connection state, who is online,
//! the messages, who is typing, and the form to write. Every message is
//! rendered as text; markup in it shows as the characters typed.

use leptos::{html, prelude::*};

use super::{
    protocol::{ChatMessage, Participant, Role},
    state::ChatState,
};

/// The live chat of one session for one participant.
#[component]
pub fn ChatPanel(session: String, token: String, you: Participant, ended: bool) -> impl IntoView {
    let state = ChatState::new(ended);
    let draft = RwSignal::new(String::new());
    let is_tutor = you.role == Role::Tutor;
    let list = NodeRef::<html::Ol>::new();

    // The client starts in the browser only (effects never run on the
    // server), once, and lives as long as the page.
    #[cfg(feature = "hydrate")]
    let outbox: StoredValue<Option<super::client::Outbox>> = StoredValue::new(None);
    #[cfg(feature = "hydrate")]
    {
        let you_id = you.id.clone();
        Effect::new(move |_| {
            if outbox.with_value(|o| o.is_none()) {
                let client =
                    super::client::start(session.clone(), token.clone(), you_id.clone(), state);
                outbox.set_value(Some(client));
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (session, token);
    #[cfg(feature = "hydrate")]
    let send = move |command: super::client::Command| {
        outbox.with_value(|o| {
            if let Some(o) = o {
                let _ = o.unbounded_send(command);
            }
        })
    };

    // New messages scroll the list to its end, unless the reader has
    // scrolled up to read something older.
    Effect::new(move |_| {
        state.messages.track();
        state.pending.track();
        if let Some(list) = list.get() {
            let distance = list.scroll_height() - list.scroll_top() - list.client_height();
            if distance < 160 {
                list.set_scroll_top(list.scroll_height());
            }
        }
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = draft.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        // Refused here rather than by the server, so the text stays in the
        // box to be shortened.
        if let Some(max) = state.max_message_bytes.get_untracked() {
            if text.len() > max {
                state.notice.set(Some(format!(
                    "This message is too long: {} bytes, and one message holds at most {max}.",
                    text.len()
                )));
                return;
            }
        }
        state.notice.set(None);
        #[cfg(feature = "hydrate")]
        {
            let client_id = super::client::new_client_id();
            state.pending.update(|p| {
                p.push(super::state::Pending {
                    client_id: client_id.clone(),
                    text,
                })
            });
            send(super::client::Command::Send(client_id));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = text;
        draft.set(String::new());
        if let Some(list) = list.get_untracked() {
            list.set_scroll_top(list.scroll_height());
        }
    };

    let typing = move |ev: leptos::ev::Event| {
        draft.set(event_target_value(&ev));
        #[cfg(feature = "hydrate")]
        send(super::client::Command::Typing);
    };

    let end = move || {
        #[cfg(feature = "hydrate")]
        send(super::client::Command::EndSession);
    };

    let you_id = you.id.clone();
    view! {
        <section class="card chat" id="chat" aria-labelledby="chat-title">
            <div class="chat-head">
                <h2 id="chat-title">"Chat"</h2>
                <span class="pill" data-testid="connection-state" data-state=move || state.connection.with(|c| c.key()) aria-live="polite">
                    {move || state.connection.with(|c| c.label())}
                </span>
                {is_tutor.then(|| view! { <EndSession ended=state.ended end/> })}
            </div>
            <div class="presence">
                <span class="muted" id="online-title">"Online now"</span>
                <ul data-testid="online" class="chips" aria-labelledby="online-title">
                    <For each=move || state.online.get() key=|p| p.id.clone() let:person>
                        <li class="chip" data-role=person.role.as_str()>
                            <span class="dot" aria-hidden="true"></span>
                            {person.name.clone()}
                            <span class="role">{person.role.as_str()}</span>
                        </li>
                    </For>
                </ul>
            </div>
            <ol data-testid="messages" class="messages" node_ref=list>
                <Show when=move || state.messages.with(Vec::is_empty) && state.pending.with(Vec::is_empty)>
                    <li class="empty muted">"No messages yet. Say hello to start the session."</li>
                </Show>
                <For each=move || state.messages.get() key=|m| m.id.clone() let:message>
                    <MessageItem mine=message.author.id == you_id message/>
                </For>
                <For each=move || state.pending.get() key=|p| p.client_id.clone() let:pending>
                    <li data-testid="pending-message" class="message mine pending">
                        <div class="meta">"Sending…"</div>
                        <div class="text">{pending.text.clone()}</div>
                    </li>
                </For>
            </ol>
            <p class="typing muted" data-testid="typing" aria-live="polite">
                {move || state.typing.get().map(|(name, _)| format!("{name} is typing…"))}
            </p>
            <p class="error" data-testid="chat-notice" role="alert">{move || state.notice.get()}</p>
            <Show
                when=move || !state.ended.get()
                fallback=|| view! { <p class="ended" data-testid="session-ended">"This session has ended."</p> }
            >
                <form class="composer" on:submit=submit>
                    <label for="chat-input" class="visually-hidden">"Message"</label>
                    <input
                        id="chat-input"
                        autocomplete="off"
                        placeholder="Write a message…"
                        prop:value=move || draft.get()
                        on:input=typing
                    />
                    <button type="submit" disabled=move || draft.with(|d| d.trim().is_empty())>"Send"</button>
                </form>
            </Show>
        </section>
    }
    // Erased, so the page's view type stays shallow enough for the compiler.
    .into_any()
}

/// One stored message: who wrote it, when, and its text.
#[component]
fn MessageItem(message: ChatMessage, mine: bool) -> impl IntoView {
    let ChatMessage {
        id,
        author,
        text,
        ts_ms,
        ..
    } = message;
    view! {
        <li data-testid="message" class="message" class:mine=mine data-role=author.role.as_str() data-id=id>
            <div class="meta">
                <span class="author">{author.name}</span>
                <span class="role">{author.role.as_str()}</span>
                <time>{clock(ts_ms)}</time>
            </div>
            <div class="text">{text}</div>
        </li>
    }
}

/// The tutor's button to end the session, which asks once more first: it
/// ends the chat for everyone.
#[component]
fn EndSession(
    ended: RwSignal<bool>,
    end: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    view! {
        <Show when=move || !ended.get()>
            <Show
                when=move || confirming.get()
                fallback=move || view! {
                    <button type="button" class="secondary small" on:click=move |_| confirming.set(true)>"End session"</button>
                }
            >
                <span class="confirm-end" role="group" aria-label="Confirm ending the session">
                    "End it for everyone?"
                    <button type="button" class="danger small" on:click=move |_| { confirming.set(false); end(); }>"End session now"</button>
                    <button type="button" class="secondary small" on:click=move |_| confirming.set(false)>"Keep it open"</button>
                </span>
            </Show>
        </Show>
    }
}

/// A message's time as the reader's clock shows it (hours and minutes).
/// Messages only arrive in the browser, so the server never renders one.
fn clock(ts_ms: u64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts_ms as f64));
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let minutes = ts_ms / 60_000;
        format!("{:02}:{:02}", (minutes / 60) % 24, minutes % 60)
    }
}
