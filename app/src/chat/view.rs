//! The chat's part of the session page: connection state, who is online,
//! the messages, who is typing, and the form to write. Every message is
//! rendered as text; markup in it shows as the characters typed.

use leptos::prelude::*;

use super::{
    protocol::{Participant, Role},
    state::ChatState,
};

/// The live chat of one session for one participant.
#[component]
pub fn ChatPanel(session: String, token: String, you: Participant, ended: bool) -> impl IntoView {
    let state = ChatState::new(ended);
    let draft = RwSignal::new(String::new());
    let is_tutor = you.role == Role::Tutor;

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

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = draft.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        #[cfg(feature = "hydrate")]
        {
            let client_id = super::client::new_client_id();
            state.pending.update(|p| {
                p.push(super::state::Pending {
                    client_id: client_id.clone(),
                    text,
                })
            });
            outbox.with_value(|o| {
                if let Some(o) = o {
                    let _ = o.unbounded_send(super::client::Command::Send(client_id));
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = text;
        draft.set(String::new());
    };

    let typing = move |ev: leptos::ev::Event| {
        draft.set(event_target_value(&ev));
        #[cfg(feature = "hydrate")]
        outbox.with_value(|o| {
            if let Some(o) = o {
                let _ = o.unbounded_send(super::client::Command::Typing);
            }
        });
    };

    let end = move |_| {
        #[cfg(feature = "hydrate")]
        outbox.with_value(|o| {
            if let Some(o) = o {
                let _ = o.unbounded_send(super::client::Command::EndSession);
            }
        });
    };

    view! {
        <section class="card" id="chat" aria-labelledby="chat-title">
            <div class="row">
                <h2 id="chat-title">"Chat"</h2>
                <span data-testid="connection-state" data-state=move || state.connection.with(|c| c.key()) aria-live="polite">
                    {move || state.connection.with(|c| c.label())}
                </span>
            </div>
            <div class="row" aria-label="Online now">
                <strong>"Online now: "</strong>
                <ul data-testid="online" class="row" style="list-style:none;padding:0;margin:0">
                    <For each=move || state.online.get() key=|p| p.id.clone() let:person>
                        <li data-role=person.role.as_str()>{person.name.clone()} " (" {person.role.as_str()} ")"</li>
                    </For>
                </ul>
            </div>
            <ol data-testid="messages" style="list-style:none;padding:0">
                <For each=move || state.messages.get() key=|m| m.id.clone() let:message>
                    <li data-testid="message" data-id=message.id.clone()>
                        <strong>{message.author.name.clone()}</strong>
                        <span class="muted">" (" {message.author.role.as_str()} "): "</span>
                        <span class="text" style="white-space:pre-wrap">{message.text.clone()}</span>
                    </li>
                </For>
                <For each=move || state.pending.get() key=|p| p.client_id.clone() let:pending>
                    <li data-testid="pending-message" style="opacity:0.6">
                        <span class="text" style="white-space:pre-wrap">{pending.text.clone()}</span>
                        " (sending…)"
                    </li>
                </For>
            </ol>
            <p data-testid="typing" aria-live="polite">
                {move || state.typing.get().map(|(name, _)| format!("{name} is typing…"))}
            </p>
            <p data-testid="chat-notice" role="alert">{move || state.notice.get()}</p>
            <Show
                when=move || !state.ended.get()
                fallback=|| view! { <p data-testid="session-ended">"This session has ended."</p> }
            >
                <form class="row" on:submit=submit>
                    <label for="chat-input">"Message"</label>
                    <input id="chat-input" autocomplete="off" prop:value=move || draft.get() on:input=typing/>
                    <button type="submit">"Send"</button>
                </form>
                {is_tutor.then(|| view! { <button type="button" on:click=end>"End session"</button> })}
            </Show>
        </section>
    }
}
