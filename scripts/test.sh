#!/usr/bin/env bash
# Run every test tier of LLM Lab and print the counts. Installs what is
# missing first.
#
#   1. native:   cargo test (core, wasm protocol, cli), with parity fixtures
#   2. no_std:   llmlab-core without std for thumbv7m-none-eabi and wasm32
#   3. browser:  wasm-bindgen-test in headless Chromium (wasm API via
#                wasm-pack, Leptos components via cargo + the test runner)
#   4. site:     trunk release build and its gzipped size
#   5. e2e:      Playwright (playwright-core + Debian chromium) on the built
#                site served from 127.0.0.1; screenshots in target/e2e/
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/setup.sh test || exit 1

logdir=target/test-logs
mkdir -p "$logdir"
passed=0; failed=0; ignored=0; failed_tiers=()

# Sum `test result:` lines of cargo/wasm-bindgen-test output.
count_cargo() {
  local log="$1" p f i
  p=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END{print s+0}')
  f=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END{print s+0}')
  i=$(grep -Eo '[0-9]+ ignored' "$log" | awk '{s+=$1} END{print s+0}')
  passed=$((passed + p)); failed=$((failed + f)); ignored=$((ignored + i))
  echo "    -> $p passed, $f failed, $i ignored"
}

tier() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

tier "1. native cargo test"
cargo test --workspace --exclude llmlab-web 2>&1 | tee "$logdir/native.log"
status=${PIPESTATUS[0]}
count_cargo "$logdir/native.log"
[ "$status" = 0 ] || failed_tiers+=("native")

tier "2. no_std proof: llmlab-core without std"
nostd_ok=1
for target in thumbv7m-none-eabi wasm32-unknown-unknown; do
  if cargo build -p llmlab-core --no-default-features --target "$target" 2>&1 | tail -3; then
    echo "    -> llmlab-core builds for $target without std"
  else
    nostd_ok=0
  fi
done
if [ $nostd_ok = 1 ]; then passed=$((passed + 2)); else failed=$((failed + 1)); failed_tiers+=("no_std"); fi

tier "3. browser: wasm-bindgen-test in headless Chromium"
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}"
export WASM_BINDGEN_TEST_TIMEOUT=120
( cd crates/wasm && wasm-pack test --headless --chrome . ) 2>&1 | tee "$logdir/wasm-pack.log"
status=${PIPESTATUS[0]}
count_cargo "$logdir/wasm-pack.log"
[ "$status" = 0 ] || failed_tiers+=("wasm-pack")
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown -p llmlab-web 2>&1 | tee "$logdir/web-components.log"
status=${PIPESTATUS[0]}
count_cargo "$logdir/web-components.log"
[ "$status" = 0 ] || failed_tiers+=("leptos-components")

tier "4. site: trunk release build"
if trunk build --release --offline 2>&1 | tail -5 && python3 scripts/strip_wasm_names.py dist; then
  # First load: the UI and the essentials worker. The lab worker
  # (lab_worker*) loads when a lab tab first opens; reported apart.
  app_bytes=0; lab_bytes=0
  for f in dist/*.wasm dist/*.js; do
    [ -e "$f" ] || continue
    gz=$(gzip -9 -c "$f" | wc -c)
    printf '    %-48s %9d bytes gzipped\n' "$(basename "$f")" "$gz"
    case "$(basename "$f")" in
      lab_worker*) lab_bytes=$((lab_bytes + gz)) ;;
      *) app_bytes=$((app_bytes + gz)) ;;
    esac
  done
  printf '    -> first load (UI + essentials worker, wasm + js): %d bytes gzipped (%.2f MB; budget 1.50 MB; model weights not counted)\n' \
    "$app_bytes" "$(awk -v b="$app_bytes" 'BEGIN{print b/1000000}')"
  printf '    -> lab worker, loaded on first use of a lab tab: %d bytes gzipped\n' "$lab_bytes"
  echo "$app_bytes" > "$logdir/size-gzip-bytes"
  echo "$lab_bytes" > "$logdir/size-lab-gzip-bytes"
  if [ "$app_bytes" -gt 1500000 ]; then
    echo "    -> over the first-load budget of 1,500,000 bytes"
    failed=$((failed + 1)); failed_tiers+=("size budget")
  else
    passed=$((passed + 1))
  fi
else
  failed=$((failed + 1)); failed_tiers+=("trunk build")
fi

tier "5. end-to-end: Playwright on the built site"
# The e2e tests compare the page with the native CLI on the same input.
cargo build -q -p llmlab-cli 2>&1 | tail -5
export LLMLAB_BIN="$PWD/target/debug/llmlab"
if [ -f dist/index.html ]; then
  (cd tests/e2e && node --test --test-reporter=spec --test-concurrency=1 ./*.test.mjs) 2>&1 | tee "$logdir/e2e.log"
  status=${PIPESTATUS[0]}
  p=$(grep -E '^ℹ pass [0-9]+' "$logdir/e2e.log" | awk '{print $3}' | tail -1)
  f=$(grep -E '^ℹ fail [0-9]+' "$logdir/e2e.log" | awk '{print $3}' | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  echo "    -> ${p:-0} passed, ${f:-0} failed (screenshots in target/e2e/)"
  [ "$status" = 0 ] || failed_tiers+=("e2e")
else
  failed_tiers+=("e2e (no site)")
fi

tier "summary"
[ ${#failed_tiers[@]} -eq 0 ] || echo "failed tiers: ${failed_tiers[*]}"
echo "total: $passed passed, $failed failed, $ignored skipped"
[ ${#failed_tiers[@]} -eq 0 ] && [ "$failed" = 0 ]
