#!/usr/bin/env bash
# fuzz/run.sh SECONDS [TARGET...]: builds the fuzz targets (all, or those
# named), then runs each for SECONDS from its seed corpus (corpus/<target>/,
# copied: what libFuzzer finds stays out of the clone). Prints a line per
# target (seconds, executions, corpus); fails if any target crashed, with
# the input that did it under artifacts/<target>/. See README.md.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:?usage: fuzz/run.sh SECONDS [TARGET...]}"
shift

# cargo-fuzz needs nightly-only flags (-Z sanitizer, -C passes=sancov);
# only stable Rust is installed, so the stable compiler is asked to accept them.
export RUSTC_BOOTSTRAP=1
# Its own build dir (instrumented builds differ from the workspace's):
# beside CI's when one is set, so warm runs reuse it; else fuzz/target.
export CARGO_TARGET_DIR="${MICRO_FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}}"
[ -n "$CARGO_TARGET_DIR" ] || export CARGO_TARGET_DIR="$PWD/target"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
# No sanitizer: the code is safe Rust (forbid(unsafe_code)), so what
# libFuzzer catches is panics, overflows (debug assertions on) and
# timeouts; ASan would double build and run time for little.
flags=(--sanitizer none --debug-assertions)
echo "== building ${#targets[@]} fuzz targets"
start=$(date +%s)
for target in "${targets[@]}"; do cargo fuzz build "${flags[@]}" "$target"; done
echo "== built in $(( $(date +%s) - start )) s"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
printf '%-20s %8s %12s %8s\n' target seconds executions corpus
for target in "${targets[@]}"; do
  mkdir -p "$work/$target"
  log="$work/$target.log"
  if cargo fuzz run "${flags[@]}" "$target" "$work/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=CRASH
    failed+=("$target")
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo "$seconds")
  printf '%-20s %8s %12s %8s %s\n' "$target" "$took" "$runs" "$(find "$work/$target" corpus/"$target" -type f | wc -l)" "$status"
  if [ "$status" = CRASH ]; then
    tail -n 60 "$log"
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]} (inputs under fuzz/artifacts/; reproduce with" \
    "RUSTC_BOOTSTRAP=1 cargo fuzz run -s none -a <target> <artifact>)" >&2
  exit 1
fi
