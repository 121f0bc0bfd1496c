//! The page at `/admin/queues`: asks the server who may use the dashboard,
//! then shows the development banner and the dashboard, the sign-in form, or
//! a note that the dashboard is off.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{
    board::{Board, LiveState},
    detail::JobDetailView,
    jobs::JobsView,
    overview::OverviewView,
    types::{Access, AdminAction},
};
use crate::api::admin::{dashboard_access, dashboard_login, dashboard_logout};

#[component]
pub fn QueueDashboardPage() -> impl IntoView {
    let access = Resource::new(|| (), |_| dashboard_access());
    view! {
        <Title text="Queue dashboard"/>
        <div class="dashboard">
            <h1>"Report queue"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading the dashboard\u{2026}"</p> }>
                {move || Suspend::new(async move {
                    match access.await {
                        Ok(initial) => view! { <Gate initial/> }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </div>
    }
    .into_any()
}

/// Shows what the current access allows; signing in or out switches it
/// without a reload.
#[component]
fn Gate(initial: Access) -> impl IntoView {
    let access = RwSignal::new(initial);
    move || {
        match access.get() {
        Access::Off => view! {
            <section class="card" data-testid="dashboard-off">
                <p>"The queue dashboard is switched off on this server: it runs in production without an ADMIN_TOKEN."</p>
            </section>
        }
        .into_any(),
        Access::SignInRequired => view! { <SignIn access/> }.into_any(),
        Access::Open => view! {
            <p class="banner" role="note" data-testid="dev-banner">
                "Development mode: this dashboard is open to anyone who can reach this server. "
                "Set APP_ENV=production and ADMIN_TOKEN to require a sign-in."
            </p>
            <Dashboard/>
        }
        .into_any(),
        Access::SignedIn => view! {
            <div class="row spread">
                <p class="muted">"Signed in as admin."</p>
                <button class="secondary" data-testid="sign-out" on:click=move |_| {
                    leptos::task::spawn_local(async move {
                        if let Ok(next) = dashboard_logout().await {
                            access.set(next);
                        }
                    });
                }>"Sign out"</button>
            </div>
            <Dashboard/>
        }
        .into_any(),
    }
    }
}

/// The admin token form of production mode.
#[component]
fn SignIn(access: RwSignal<Access>) -> impl IntoView {
    let token = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match dashboard_login(token.get_untracked()).await {
                Ok(next) => access.set(next),
                Err(err) => error.set(Some(err.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card" data-testid="sign-in" aria-labelledby="sign-in-title">
            <h2 id="sign-in-title">"Sign in"</h2>
            <p>"This dashboard runs in production mode. Enter the admin token to use it."</p>
            <form class="row" on:submit=submit>
                <label for="admin-token">"Admin token"</label>
                <input id="admin-token" type="password" autocomplete="current-password" required
                    prop:value=move || token.get() on:input=move |ev| token.set(event_target_value(&ev))/>
                <button type="submit" disabled=move || busy.get()>"Sign in"</button>
            </form>
            <p class="error" role="alert" data-testid="sign-in-error">{move || error.get()}</p>
        </section>
    }
    .into_any()
}

/// The dashboard itself, with its state in the context.
#[component]
fn Dashboard() -> impl IntoView {
    let board = Board::new();
    provide_context(board);

    // Effects run in the browser only: loads start once the page is live.
    Effect::new(move |_| {
        board.load_overview();
        board.follow();
    });
    Effect::new(move |_| {
        let _ = (board.tab.get(), board.page.get(), board.filter.get());
        board.load_list();
    });

    let paused = move || board.counts.get().paused;
    view! {
        <div class="row spread toolbar">
            <p class="live" data-testid="live-state" data-state=move || board.live.get().as_str()>
                {move || match board.live.get() {
                    LiveState::Connecting => "Connecting\u{2026}",
                    LiveState::Live => "Live",
                    LiveState::Reconnecting => "Reconnecting\u{2026}",
                    LiveState::Stopped => "Not live",
                }}
            </p>
            <p data-testid="queue-paused" data-paused=move || paused().to_string() class:paused=paused>
                {move || if paused() { "Paused: no new jobs start" } else { "Running" }}
            </p>
            <div class="row">
                <Show
                    when=paused
                    fallback=move || view! {
                        <button class="secondary" data-testid="pause" disabled=move || board.busy.get()
                            on:click=move |_| board.ask(AdminAction::Pause)>"Pause"</button>
                    }
                >
                    <button data-testid="resume" disabled=move || board.busy.get()
                        on:click=move |_| board.ask(AdminAction::Resume)>"Resume"</button>
                </Show>
            </div>
        </div>
        <Confirm/>
        <p class="outcome" role="status" data-testid="action-outcome"
            class:error=move || matches!(board.outcome.get(), Some(Err(_)))>
            {move || board.outcome.get().map(|o| o.unwrap_or_else(|e| e))}
        </p>
        <OverviewView/>
        <div class="panes">
            <JobsView/>
            <JobDetailView/>
        </div>
    }
    .into_any()
}

/// The confirmation step of a destructive action.
#[component]
fn Confirm() -> impl IntoView {
    let board = expect_context::<Board>();
    move || {
        board.confirming.get().map(|action| {
            let question = action.describe();
            let warning = match action {
                AdminAction::Pause => "? Active jobs finish; no new ones start until you resume.",
                _ => "? This cannot be undone.",
            };
            view! {
                <div class="confirm card" role="alertdialog" aria-labelledby="confirm-text" data-testid="confirm">
                    <p id="confirm-text"><strong>{question}</strong>{warning}</p>
                    <div class="row">
                        <button class="danger" data-testid="confirm-yes"
                            on:click=move |_| board.run(action.clone())>"Confirm"</button>
                        <button class="secondary" data-testid="confirm-no"
                            on:click=move |_| board.confirming.set(None)>"Cancel"</button>
                    </div>
                </div>
            }
        })
    }
}
