#!/usr/bin/env bash
# Runs every fuzz target (fuzz/, libFuzzer through cargo-fuzz) for MINUTES minutes each
# (default 10), one after the other, and prints a line of figures per target: seconds
# fuzzed (and wall seconds), runs, runs a second, coverage (libFuzzer's cov), corpus size,
# and new crash artifacts.
#
#   scripts/fuzz.sh            # every target, 10 minutes each
#   scripts/fuzz.sh 2 phone    # 2 minutes, one target
#
# cargo-fuzz needs nightly-only compiler flags (the sanitizer and coverage passes); on the
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks them. New corpus entries go to
# target/fuzz-corpus/<target>, the committed seeds in fuzz/corpus/<target> are only read;
# a crash is written to fuzz/artifacts/<target>/ and stops that target: turn it into a
# regression test, then fix it.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(csv_import json_contacts phone template meta_webhook twilio_webhook multipart_import)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
# Address sanitizer is of little use on safe Rust and halves the speed; panics are what we look for.
flags=(--sanitizer none --release --debug-assertions)
cargo fuzz build "${flags[@]}" --fuzz-dir fuzz

summary=()
status=0
for t in "${targets[@]}"; do
  mkdir -p "target/fuzz-corpus/$t" "fuzz/artifacts/$t"
  log="target/fuzz-$t.log"
  echo "== $t: $minutes min (log: $log)"
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  started=$(date +%s)
  if cargo fuzz run "${flags[@]}" --fuzz-dir fuzz "$t" "target/fuzz-corpus/$t" "fuzz/corpus/$t" -- \
      -max_total_time=$((minutes * 60)) -rss_limit_mb=4096 -max_len=65536 -timeout=10 \
      -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log and fuzz/artifacts/$t/)"
    status=1
  fi
  took=$(($(date +%s) - started))
  crashes=$(($(find "fuzz/artifacts/$t" -type f | wc -l) - before))
  # libFuzzer's closing figures (-print_final_stats=1), and its last status line
  # ("#N  DONE  cov: C ft: F corp: K/Sb ...") for coverage and corpus size.
  # Seconds libFuzzer fuzzed ("Done N runs in S second(s)"; none after a crash), as opposed
  # to the wall time, which also counts cargo's build and waiting for its lock.
  fuzzed=$(grep -oE '^Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE '[0-9]+ second' | grep -oE '[0-9]+' || echo '?')
  runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+$' || echo '?')
  speed=$(grep -oE '^stat::average_exec_per_sec: *[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+$' || echo '?')
  last=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -n 1 || true)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo '?')
  corp=$(grep -oE 'corp: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo '?')
  summary+=("$(printf '%-18s fuzzed %4ss (wall %4ss)  runs %-11s %6s/s  cov %-6s corpus %-6s crashes %s' \
    "$t" "$fuzzed" "$took" "$runs" "$speed" "$cov" "$corp" "$crashes") $result")
  echo "${summary[-1]}"
done
echo
printf '%s\n' "${summary[@]}"
exit $status
