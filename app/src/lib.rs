//! The tutoring platform as the browser and the server both render it: the
//! pages, their components, the server functions they call and the types both
//! ends share.
//!
//! Built with `hydrate` for the browser, this crate pulls in nothing of Redis,
//! tokio or the model client. Built with `ssr`, the server halves of the
//! server functions reach the backend through [`backend`], which the server
//! fills in through the Leptos context.

// The pages' views are nested generic types, and laying out the futures that
// render and hydrate them goes deeper than the compiler's default of 128;
// without this a clean build fails where an incremental one may not.
#![recursion_limit = "256"]

pub mod admin;
pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod chat;
pub mod pages;
pub mod reports;
pub mod words;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    ParamSegment, StaticSegment,
};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The root component: the routes of every page.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    // Effects run only in the browser, so this marker tells a reader (and the
    // end-to-end tests) that the page is hydrated and its buttons are live.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <Stylesheet id="leptos" href="/pkg/tutoring.css"/>
        <Title text="Tutoring sessions"/>
        <Router>
            <main data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=pages::NotFound>
                    <Route path=StaticSegment("") view=pages::HomePage/>
                    <Route path=(StaticSegment("admin"), StaticSegment("queues")) view=admin::QueueDashboardPage/>
                    <Route path=(StaticSegment("session"), ParamSegment("id")) view=pages::SessionPage/>
                    <Route
                        path=(StaticSegment("session"), ParamSegment("id"), StaticSegment("join"))
                        view=pages::JoinPage
                    />
                </Routes>
            </main>
        </Router>
    }
}
