#!/usr/bin/env bash
# Install whatever LLM Lab needs and is missing. Idempotent; only package
# managers are used (rustup, cargo, apt-get, npm): nothing is downloaded from
# anywhere else.
#
#   scripts/setup.sh serve   # what `scripts/serve.sh` needs
#   scripts/setup.sh test    # what `scripts/test.sh` needs (a superset)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-test}"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

command -v cargo >/dev/null || { say "cargo not found: install Rust with rustup first (https://rustup.rs)."; exit 1; }

# 1. Rust targets: the browser, and a bare-metal target proving core is no_std.
installed_targets="$(rustup target list --installed 2>/dev/null || true)"
for t in wasm32-unknown-unknown thumbv7m-none-eabi; do
  if ! grep -qx "$t" <<<"$installed_targets"; then
    say "adding Rust target $t"
    rustup target add "$t"
  fi
done

# 2. wasm-bindgen-cli pinned to the wasm-bindgen in Cargo.lock (they must match
#    exactly). Installed without --locked: the lock pins a crate the registry
#    mirror lacks.
wbg_version="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wbg_version" ]; then
  say "installing wasm-bindgen-cli $wbg_version"
  cargo install wasm-bindgen-cli --version "=$wbg_version" --force
fi

# 3. Trunk 0.21.x (0.22 needs a newer rustc).
if ! trunk --version 2>/dev/null | grep -q '^trunk 0\.21\.'; then
  say "installing trunk 0.21.14 (about 11 minutes)"
  cargo install trunk --version 0.21.14 --locked
fi

[ "$what" = "serve" ] && exit 0

# 4. Chromium and chromedriver for the browser tiers, from Debian packages.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing chromium and chromium-driver"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    say "Chromium is missing. Install it with: sudo apt-get install chromium chromium-driver"
    exit 1
  fi
fi

# 5. wasm-pack, so `wasm-pack test --headless --chrome crates/wasm` works.
if ! wasm-pack --version 2>/dev/null | grep -q '0\.15\.1'; then
  say "installing wasm-pack 0.15.1"
  cargo install wasm-pack --version 0.15.1 --locked || cargo install wasm-pack --version 0.15.1
fi

# 6. playwright-core (drives the Debian chromium; never downloads a browser).
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  say "installing playwright-core"
  (cd tests/e2e && npm ci --no-audit --no-fund --silent)
fi
