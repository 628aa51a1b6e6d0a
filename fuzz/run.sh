#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS on a scratch copy of its seed corpus (fuzz/corpus/NAME),
# JOBS at a time, and prints the executions per target. The targets are those of a build with
# TUNKIT_BUILD_FUZZ=ON (preset fuzz): BUILD_DIR/fuzz/tunkit_fuzz_NAME. The seed corpora are never
# written to. What a failing target found (crash-*, timeout-*, ...) is kept in
# BUILD_DIR/artifacts/, where it can be replayed.
#
#   fuzz/run.sh [BUILD_DIR [SECONDS [JOBS]]]   (defaults: build-fuzz, 60, the number of CPUs)
#
# Exit status: 0 when every target ran its time without a finding, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-fuzz}
seconds=${2:-60}
jobs=${3:-$(nproc 2>/dev/null || echo 2)}
bin=$(cd "$dir" && pwd)/fuzz

scratch=$(mktemp -d)
targets=()
for c in fuzz/corpus/*/; do targets+=("$(basename "$c")"); done
echo "== fuzz: ${#targets[@]} targets, ${seconds}s each, $jobs at a time =="

# Waits for the oldest target still running; its log's tail when it failed.
pids=()
names=()
rc=0
wait_oldest() {
  wait "${pids[0]}" || { echo "fuzz: ${names[0]} FAILED"; tail -40 "$scratch/${names[0]}/log"; rc=1; }
  pids=("${pids[@]:1}")
  names=("${names[@]:1}")
}

for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t/corpus"
  cp fuzz/corpus/"$t"/* "$scratch/$t/corpus/"
  (cd "$scratch/$t" && exec "$bin/tunkit_fuzz_$t" -max_total_time="$seconds" \
    -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 corpus >log 2>&1) &
  pids+=($!)
  names+=("$t")
  if [ ${#pids[@]} -ge "$jobs" ]; then wait_oldest; fi
done
while [ ${#pids[@]} -gt 0 ]; do wait_oldest; done

# Keep what a failing target found where it can be replayed.
if [ $rc -ne 0 ]; then
  mkdir -p "$dir/artifacts"
  find "$scratch" -maxdepth 2 -name '*-*' -type f -not -path '*/corpus/*' \
    -exec cp {} "$dir/artifacts/" \; 2>/dev/null || true
  echo "fuzz: failing inputs kept in $dir/artifacts/ (replay: $dir/fuzz/tunkit_fuzz_TARGET FILE)"
fi
for t in "${targets[@]}"; do
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$t/log" | tail -1)
  printf 'fuzz: %-12s %12s execs in %ss (corpus %s -> %s inputs)\n' "$t" "${execs:-?}" \
    "$seconds" "$(ls fuzz/corpus/"$t" | wc -l)" "$(ls "$scratch/$t/corpus" | wc -l)"
done
rm -rf "$scratch"
exit $rc
