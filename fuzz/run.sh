#!/usr/bin/env bash
# Fuzzes Tailor on the stable toolchain: fuzz/run.sh [SECONDS] [TARGET...]
#
# Runs each target (default: all of them) for SECONDS (default 60) with cargo-fuzz and
# libFuzzer, without a sanitizer (`-s none`: sanitizers need nightly), with debug
# assertions and overflow checks (`-a`), on a 2 MiB stack (FUZZ_STACK_KB) like a server
# worker thread. Installs cargo-fuzz when it is missing. Exits non-zero when any target
# crashed, panicked, overflowed its stack, ran out of time (10 s) or memory (2 GiB) on
# an input; the input is left in fuzz/artifacts/<target>/ (see fuzz/README.md for
# turning it into a regression test).
#
# Inputs the fuzzer finds go to fuzz/work/<target>/ (not committed); the committed
# seeds (fuzz/corpus/<target>/) and regressions (fuzz/regressions/<target>/) are read,
# never written. Builds go to $CARGO_TARGET_DIR, else fuzz/target. Runs niced
# (FUZZ_NICE, default 19) so that other work on the machine keeps priority.
set -uo pipefail

FUZZ_DIR="$(cd "$(dirname "$0")" && pwd)"
CARGO_FUZZ_VERSION="0.13.2"
SECONDS_EACH="${1:-60}"
shift $(($# > 0 ? 1 : 0))
ALL_TARGETS=(rule content_file fluent events identify tracking_token accept_language)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi
NICE="${FUZZ_NICE:-19}"
TARGET_DIR="${CARGO_TARGET_DIR:-$FUZZ_DIR/target}"
# Inputs longer than this are not tried (every real input here is far smaller).
MAX_LEN="${FUZZ_MAX_LEN:-8192}"
# The fuzzed code runs with the stack of a server worker thread (2 MiB), not the
# 8 MiB of a main thread: recursion that would only overflow a worker is found too.
STACK_KB="${FUZZ_STACK_KB:-2048}"

case "$SECONDS_EACH" in
  '' | *[!0-9]*)
    echo "usage: fuzz/run.sh [SECONDS] [TARGET...]; targets: ${ALL_TARGETS[*]}" >&2
    exit 2
    ;;
esac
for target in "${TARGETS[@]}"; do
  if [ ! -f "$FUZZ_DIR/fuzz_targets/$target.rs" ]; then
    echo "fuzz: unknown target '$target'; targets: ${ALL_TARGETS[*]}" >&2
    exit 2
  fi
done

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
  nice -n "$NICE" cargo install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION" || exit 1
fi

cd "$FUZZ_DIR" || exit 1
echo "fuzz: building ${TARGETS[*]} (release, debug assertions, no sanitizer)"
build=(nice -n "$NICE" cargo fuzz build --sanitizer none --debug-assertions --target-dir "$TARGET_DIR")
if [ ${#TARGETS[@]} -eq ${#ALL_TARGETS[@]} ]; then
  "${build[@]}" || exit 1 # all of them in one build
else
  for target in "${TARGETS[@]}"; do "${build[@]}" "$target" || exit 1; done
fi
# The binaries are run directly, not through `cargo fuzz run`, so that every target
# fuzzes the code just built even if the sources change meanwhile.
HOST="$(rustc -vV | sed -n 's/^host: //p')"

failed=()
summary=()
for target in "${TARGETS[@]}"; do
  work="$FUZZ_DIR/work/$target"
  artifacts="$FUZZ_DIR/artifacts/$target"
  log="$FUZZ_DIR/work/$target.log"
  mkdir -p "$work" "$artifacts" "$FUZZ_DIR/regressions/$target"
  dictionary=()
  if [ -f "$FUZZ_DIR/dicts/$target.dict" ]; then dictionary=(-dict="$FUZZ_DIR/dicts/$target.dict"); fi
  started="$FUZZ_DIR/work/.$target.started"
  touch "$started"
  echo "fuzz: $target for ${SECONDS_EACH}s (log: fuzz/work/$target.log)"
  # The first corpus directory is the one libFuzzer writes to.
  (
    ulimit -s "$STACK_KB"
    exec nice -n "$NICE" "$TARGET_DIR/$HOST/release/$target" -artifact_prefix="$artifacts/" \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len="$MAX_LEN" \
      -report_slow_units=1 -print_final_stats=1 "${dictionary[@]}" \
      "$work" "$FUZZ_DIR/corpus/$target" "$FUZZ_DIR/regressions/$target"
  ) >"$log" 2>&1
  status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  slowest=$(grep -o 'stat::slowest_unit_time_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  corpus=$(find "$work" -type f | wc -l)
  line="$target: ${runs:-?} runs (${speed:-?}/s), slowest input ${slowest:-?}s, $corpus inputs in fuzz/work/$target"
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    line="$line -- FAILED (exit $status)"
    grep -E -m 1 -A 12 "panicked at|ERROR: libFuzzer|deadly signal|SUMMARY" "$log" | sed 's/^/    /'
  fi
  summary+=("$line")
  slow=$(find "$artifacts" -name 'slow-unit-*' -newer "$started" | wc -l)
  if [ "$slow" -gt 0 ]; then
    summary+=("    $slow input(s) took over 1 s: see fuzz/artifacts/$target/slow-unit-*")
  fi
  rm -f "$started"
done

echo
echo "fuzz: summary"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]}; inputs in fuzz/artifacts/<target>/ (see fuzz/README.md)" >&2
  exit 1
fi
echo "fuzz: no crash"
