#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, ARCHITECTURE.md "Fuzzing") with clang++ and runs each one
# for SECONDS on a copy of its seed corpus in fuzz/corpus/<target>/.
#
#   scripts/fuzz.sh [-j JOBS] [--save-corpus] [--keep] SECONDS [TARGET...]
#
# -j JOBS        targets run side by side (default 1)
# --save-corpus  merge what the run found into fuzz/corpus/ (inputs that add coverage only);
#                without it the repository's corpus is never written
# --keep         keep the work directory (corpus copies, logs) even when every target passes
#
# Prints one line per target (execs/s, total execs, corpus size, coverage) and exits non-zero
# when a target crashes, leaks or trips a sanitizer, naming the saved input and the log. The
# work directory (copies, logs, crash inputs) is kept after a failure, removed otherwise.
# NETTOOL_FUZZ_BUILD_DIR chooses the build directory (default build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=1
save_corpus=0
keep=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -j) jobs=$2; shift 2 ;;
    -j*) jobs=${1#-j}; shift ;;
    --save-corpus) save_corpus=1; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ || $1 -lt 1 ]]; then
  echo "usage: scripts/fuzz.sh [-j JOBS] [--save-corpus] [--keep] SECONDS [TARGET...]" >&2
  exit 2
fi
if [[ ! $jobs =~ ^[0-9]+$ || $jobs -lt 1 ]]; then
  echo "fuzz.sh: -j needs a number of jobs of at least 1" >&2
  exit 2
fi
seconds=$1
shift

build_dir=${NETTOOL_FUZZ_BUILD_DIR:-build-fuzz}
scripts/build.sh "$build_dir" -DNETTOOL_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DNETTOOL_WERROR=ON \
  >/dev/null

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for source in fuzz/*_fuzz.cpp; do
    name=$(basename "$source" _fuzz.cpp)
    targets+=("$name")
  done
fi
for target in "${targets[@]}"; do
  if [[ ! -x $build_dir/fuzz_$target ]]; then
    echo "fuzz.sh: no fuzz target '$target'; the targets are fuzz/*_fuzz.cpp" >&2
    exit 2
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/nettool-fuzz.XXXXXX")
# Readable stacks when a sanitizer reports; leaks count as failures.
symbolizer=$(command -v llvm-symbolizer || true)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}${symbolizer:+:external_symbolizer_path=$symbolizer}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_target() {
  local target=$1 corpus=$work/$1/corpus
  mkdir -p "$corpus" "$work/$target/crashes"
  cp -r "fuzz/corpus/$target/." "$corpus/" 2>/dev/null || true
  local dict=()
  [[ -f fuzz/$target.dict ]] && dict=(-dict="fuzz/$target.dict")
  # -timeout: an input that takes seconds is a hang worth a report; -rss_limit_mb: a leak or a
  # runaway allocation fails the run instead of filling the machine.
  local status=0
  "$build_dir/fuzz_$target" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/$target/crashes/" \
    "$corpus" >"$work/$target/log" 2>&1 || status=$?
  echo "$status" >"$work/$target/status"
}

running=0
for target in "${targets[@]}"; do
  if [[ $running -ge $jobs ]]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_target "$target" &
  running=$((running + 1))
done
wait || true

failed=0
for target in "${targets[@]}"; do
  log=$work/$target/log
  status=$(cat "$work/$target/status" 2>/dev/null || echo 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  files=$(find "$work/$target/corpus" -type f | wc -l)
  bytes=$(find "$work/$target/corpus" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  printf '%-10s %6s s  %10s execs  %7s execs/s  corpus %4s files %8s bytes  cov %5s ft %6s  ' \
    "$target" "$seconds" "${execs:-?}" "${rate:-?}" "$files" "$bytes" "${cov:-?}" "${ft:-?}"
  if [[ $status == 0 ]]; then
    echo ok
  else
    failed=1
    crash=$(find "$work/$target/crashes" -type f | head -1)
    echo "FAILED (exit $status)"
    grep -m1 -E 'invariant broken|runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' \
      "$log" | sed 's/^/    /' || true
    echo "    input: ${crash:-none saved}"
    echo "    log:   $log"
    echo "    rerun: $build_dir/fuzz_$target ${crash:-CRASH_INPUT}"
  fi
done

if [[ $save_corpus == 1 && $failed == 0 ]]; then
  for target in "${targets[@]}"; do
    # Only inputs that add coverage to what the repository already holds are copied in.
    "$build_dir/fuzz_$target" -merge=1 "fuzz/corpus/$target" "$work/$target/corpus" \
      >"$work/$target/merge.log" 2>&1
  done
  echo "merged new inputs into fuzz/corpus/"
fi

if [[ $failed == 1 ]]; then
  echo "fuzz.sh: a target failed; inputs and logs are in $work" >&2
  exit 1
fi
if [[ $keep == 1 ]]; then
  echo "work directory kept: $work"
else
  rm -rf "$work"
fi
