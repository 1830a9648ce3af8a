#!/usr/bin/env bash
# Runs every fuzz target for a bounded number of executions and/or a
# bounded time, and prints the figures per target (executions, execs/s,
# peak memory, coverage, seconds, crashes).
#
#   fuzz/run.sh                 # 10,000,000 executions per target
#   RUNS=100000 fuzz/run.sh     # a quick pass
#   MAX_TIME=300 fuzz/run.sh    # at most 5 minutes per target
#   fuzz/run.sh phone           # one target
#
# With both RUNS and MAX_TIME, a target stops at whichever comes first;
# the line says "below goal" when it stopped before RUNS executions.
#
# Needs `cargo install cargo-fuzz`. The machine has only a stable
# toolchain; RUSTC_BOOTSTRAP=1 lets it take the sanitizer-coverage flags.
# Each target starts from seeds/<target> (the documented examples) and
# grows corpus/<target> (not committed). A crash leaves its input in
# artifacts/<target>/; turn it into a regression test in tests/.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
RUNS=${RUNS:-10000000}
MAX_TIME=${MAX_TIME:-0}
# The crate forbids `unsafe`, so AddressSanitizer finds nothing Rust's own
# checks do not, and it costs 2-3x the executions; SANITIZER=address puts
# it back (e.g. after a dependency with unsafe code changed).
SANITIZER=${SANITIZER:-none}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  start=$(date +%s)
  status=0
  cargo fuzz run --release --sanitizer "$SANITIZER" "$t" "corpus/$t" "seeds/$t" -- \
    -runs="$RUNS" -max_total_time="$MAX_TIME" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"logs/$t.log" 2>&1 || status=$?
  secs=$(( $(date +%s) - start ))
  execs=$(grep -oP 'stat::number_of_executed_units:\s*\K[0-9]+' "logs/$t.log" | tail -1 || true)
  rate=$(grep -oP 'stat::average_exec_per_sec:\s*\K[0-9]+' "logs/$t.log" | tail -1 || true)
  rss=$(grep -oP 'stat::peak_rss_mb:\s*\K[0-9]+' "logs/$t.log" | tail -1 || true)
  cov=$(grep -oP '#[0-9]+\s+DONE\s+cov: \K[0-9]+' "logs/$t.log" | tail -1 || true)
  if [ "$status" -eq 0 ] && [ "$MAX_TIME" -gt 0 ] && [ "${execs:-0}" -lt "$RUNS" ]; then
    verdict="no crash (below goal: stopped by MAX_TIME)"
  elif [ "$status" -eq 0 ]; then verdict="no crash"; else verdict="FAILED (exit $status, see logs/$t.log)"; fi
  printf '%-22s %12s execs  %8s/s  peak %5s MB  cov %6s  %4ss  %s\n' \
    "$t" "${execs:-?}" "${rate:-?}" "${rss:-?}" "${cov:-?}" "$secs" "$verdict"
done
