#!/usr/bin/env bash
# Quick start, command 2: installs what the tests need and runs every test:
# formatting, clippy for the server and the wasm target, the unit and
# integration tests (each suite starts its own redis-server on a free port),
# and the Playwright suite in Debian's Chromium against real instances.
set -euo pipefail

cd "$(dirname "$0")/.."
scripts/setup.sh test
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "clippy: server and app (native)"
cargo clippy -p server -p app --all-targets -- -D warnings

step "clippy: frontend and app (wasm32)"
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

step "unit and integration tests"
cargo test -p server -p app

step "build the site and the server (cargo leptos build)"
cargo leptos build

step "end-to-end tests (Playwright, Debian's Chromium)"
cd end2end
npx playwright test
