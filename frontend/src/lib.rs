//! The browser's entry point: hydrates the page the server rendered.

// The pages' view types nest deeply (the session page above all), and the
// compiler's default depth of 128 is not enough to lay out their hydration.
#![recursion_limit = "256"]

/// Called by the generated loader once the WebAssembly module is ready.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
