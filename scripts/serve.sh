#!/usr/bin/env bash
# Build the playground (release) and serve it at http://127.0.0.1:8080.
# Installs what is missing first. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/setup.sh serve
echo "[serve] building the site (release)…" >&2
trunk build --release --offline
python3 scripts/strip_wasm_names.py dist   # debug names only; keeps the first load small
echo "[serve] LLM Lab is at http://127.0.0.1:${PORT:-8080}/" >&2
exec python3 -m http.server "${PORT:-8080}" --bind 127.0.0.1 --directory dist
