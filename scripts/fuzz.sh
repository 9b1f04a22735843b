#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 10), from its checked-in
# corpus in fuzz/corpus/<target>; new inputs go to target/fuzz-corpus/<target>, crashes to
# fuzz/artifacts/<target>. Exits non-zero if a target crashes.
#
# With `cargo fuzz` and a nightly toolchain it runs `cargo +nightly fuzz run` (AddressSanitizer).
# Otherwise it builds the targets itself on the stable toolchain with the same coverage
# instrumentation cargo-fuzz uses (no sanitizer: Coffer forbids unsafe code, so what the fuzzer
# looks for is panics, aborts, overflows and runaway recursion, which need none) and runs the
# libFuzzer binaries directly. Nothing needs to be installed for that path.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-10}"
# A cargo-fuzz installed for this checkout (`cargo install cargo-fuzz --locked --root target/tools`).
export PATH="$PWD/target/tools/bin:$PATH"
TARGETS=(vault_route json_body jwt authority)
mkdir -p target/fuzz-corpus

run_libfuzzer() { # binary target
  local bin="$1" t="$2" log="target/fuzz-corpus/$2.log" rc=0
  mkdir -p "target/fuzz-corpus/$t" "fuzz/artifacts/$t"
  "$bin" "target/fuzz-corpus/$t" "fuzz/corpus/$t" \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)" "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "$log"
    echo "fuzz: $t FAILED with status $rc; the input is in fuzz/artifacts/$t/" >&2
  fi
  return "$rc"
}

if cargo fuzz --version >/dev/null 2>&1 && cargo +nightly --version >/dev/null 2>&1; then
  for t in "${TARGETS[@]}"; do
    echo "fuzz: $t for ${SECONDS_PER_TARGET}s (cargo fuzz, nightly, ASan)"
    mkdir -p "target/fuzz-corpus/$t"
    (cd fuzz && cargo +nightly fuzz run --release "$t" "../target/fuzz-corpus/$t" "corpus/$t" -- \
      -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1)
  done
  exit 0
fi

echo "fuzz: cargo-fuzz or nightly missing; building the libFuzzer targets on stable"
export CARGO_TARGET_DIR="$PWD/target/fuzz-build"
# An explicit --target keeps the instrumentation out of build scripts and proc macros.
HOST="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS="--cfg fuzzing -Cdebug-assertions -Coverflow-checks -Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares" \
  cargo build --locked --release --manifest-path fuzz/Cargo.toml --bins --target "$HOST"
for t in "${TARGETS[@]}"; do
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s"
  run_libfuzzer "$CARGO_TARGET_DIR/$HOST/release/$t" "$t"
done
