#!/usr/bin/env bash
# Installs what this project needs and a fresh machine lacks, skipping
# whatever is already there. Called by dev.sh ("app") and test.sh ("test").
#
#   app:  the wasm target, the wasm-bindgen CLI at the version Cargo.lock
#         pins, cargo-leptos, redis-server and redis-cli
#   test: all of the above, plus rustfmt and clippy, the openssl command (the
#         TLS tests make their certificates with it), npm, Debian's Chromium
#         and the Playwright package
set -euo pipefail

cd "$(dirname "$0")/.."
what="${1:-app}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

CARGO_LEPTOS_VERSION=0.3.11

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Runs a command as root, through sudo when this user is not root.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=no
apt_install() {
  if [ "$apt_updated" = no ]; then
    as_root apt-get update -qq
    apt_updated=yes
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# cargo-leptos uses the wasm-bindgen on PATH without checking its version, and
# a mismatch with the crate only shows later as a "schema version" error.
wasm_bindgen_version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$wasm_bindgen_version" ]; then
  say "installing wasm-bindgen-cli $wasm_bindgen_version"
  # Not --locked: the CLI's own lockfile names a yanked crate. --force, since
  # cargo skips a version it believes installed even when the binary is gone.
  cargo install --force wasm-bindgen-cli --version "$wasm_bindgen_version"
fi

if ! cargo leptos --version >/dev/null 2>&1; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 20 minutes on two cores)"
  # Its lockfile names a cargo-util-schemas that needs a newer rustc than this
  # toolchain, and without --locked newer dependencies need newer still: build
  # it from its source with that one dependency held back.
  cargo info "cargo-leptos@$CARGO_LEPTOS_VERSION" >/dev/null
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"cargo-leptos-$CARGO_LEPTOS_VERSION" | head -n 1)
  build=$(mktemp -d)
  cp -r "$src/." "$build"
  (cd "$build" && cargo update -q -p cargo-util-schemas --precise 0.14.1 && cargo install --path . --locked)
  rm -rf "$build"
fi

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  say "installing redis-server"
  apt_install redis-server redis-tools
fi

if [ "$what" = test ]; then
  for component in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^$component"; then
      say "adding the $component component"
      rustup component add "$component"
    fi
  done
  for tool in openssl npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      say "installing $tool"
      apt_install "$tool"
    fi
  done
  if [ ! -x /usr/bin/chromium ]; then
    say "installing Debian's chromium"
    apt_install chromium
  fi
  if [ ! -d end2end/node_modules/@playwright/test ]; then
    say "installing Playwright (it uses Debian's chromium; it downloads no browser)"
    (cd end2end && npm ci --no-audit --no-fund)
  fi
fi
