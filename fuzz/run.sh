#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS, JOBS at a time, and prints the executions per target.
# The targets are those of a build with TUNKIT_BUILD_FUZZ=ON (preset fuzz):
# BUILD_DIR/fuzz/tunkit_fuzz_NAME. The seed corpora (fuzz/corpus/NAME) are never written to.
#
# Where the inputs a run finds go:
#   (default)     a scratch directory per target, thrown away at the end: every run starts from
#                 the seeds alone (what CI does).
#   --corpus DIR  DIR/NAME, created when missing and kept: the target reads it and the seeds,
#                 writes what it finds there, and the next run with the same DIR continues from
#                 it. Long fuzzing is a series of runs on one DIR. Delete DIR to start over.
#   --continue    --corpus BUILD_DIR/corpus (what ./dev fuzz SECONDS --continue does).
# What a failing target found (crash-*, timeout-*, ...) is kept in BUILD_DIR/artifacts/, where it
# can be replayed.
#
#   fuzz/run.sh [--continue | --corpus DIR] [BUILD_DIR [SECONDS [JOBS]]]
#   (defaults: build-fuzz, 60, the number of CPUs)
#
# Exit status: 0 when every target ran its time without a finding, 1 otherwise, 2 for bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."
keep_root=""
keep=false
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --continue) keep=true; shift ;;
    --corpus)
      [ $# -ge 2 ] || { echo "fuzz/run.sh: --corpus needs a directory" >&2; exit 2; }
      keep_root=$2; shift 2 ;;
    -*) echo "fuzz/run.sh: unknown option $1" >&2; exit 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
dir=${args[0]:-build-fuzz}
seconds=${args[1]:-60}
jobs=${args[2]:-$(nproc 2>/dev/null || echo 2)}
case $seconds in
  '' | *[!0-9]*) echo "fuzz/run.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2 ;;
esac
bin=$(cd "$dir" && pwd)/fuzz
if $keep && [ -z "$keep_root" ]; then keep_root=$dir/corpus; fi

scratch=$(mktemp -d)
targets=()
for c in fuzz/corpus/*/; do targets+=("$(basename "$c")"); done
if [ -n "$keep_root" ]; then
  mkdir -p "$keep_root"
  keep_root=$(cd "$keep_root" && pwd)
  echo "== fuzz: ${#targets[@]} targets, ${seconds}s each, $jobs at a time, corpus kept in $keep_root =="
else
  echo "== fuzz: ${#targets[@]} targets, ${seconds}s each, $jobs at a time, on scratch corpora =="
fi

# The directory target $1 grows: kept, or a scratch copy of its seeds.
corpus_of() {
  if [ -n "$keep_root" ]; then echo "$keep_root/$1"; else echo "$scratch/$1/corpus"; fi
}

# Waits for the oldest target still running; its log's tail when it failed.
pids=()
names=()
rc=0
wait_oldest() {
  wait "${pids[0]}" || { echo "fuzz: ${names[0]} FAILED"; tail -40 "$scratch/${names[0]}/log"; rc=1; }
  pids=("${pids[@]:1}")
  names=("${names[@]:1}")
}

declare -A before
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  corpus=$(corpus_of "$t")
  seeds=()
  if [ -n "$keep_root" ]; then
    # The kept corpus is written to (first directory); the seeds are only read (second).
    mkdir -p "$corpus"
    seeds=("$(pwd)/fuzz/corpus/$t")
  else
    mkdir -p "$corpus"
    cp fuzz/corpus/"$t"/* "$corpus/"
  fi
  before[$t]=$(find "$corpus" -type f | wc -l)
  (cd "$scratch/$t" && exec "$bin/tunkit_fuzz_$t" -max_total_time="$seconds" \
    -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 "$corpus" "${seeds[@]}" >log 2>&1) &
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
  if [ -n "$keep_root" ]; then
    printf 'fuzz: %-12s %12s execs in %ss (seeds %s, kept corpus %s -> %s inputs)\n' "$t" \
      "${execs:-?}" "$seconds" "$(ls fuzz/corpus/"$t" | wc -l)" "${before[$t]}" \
      "$(find "$(corpus_of "$t")" -type f | wc -l)"
  else
    printf 'fuzz: %-12s %12s execs in %ss (corpus %s -> %s inputs)\n' "$t" "${execs:-?}" \
      "$seconds" "${before[$t]}" "$(find "$(corpus_of "$t")" -type f | wc -l)"
  fi
done
rm -rf "$scratch"
exit $rc
