#!/usr/bin/env bash
# Fuzzes the file readers and the BPE round trip: builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan)
# into build-fuzz/ and runs each for SECONDS_PER_TARGET (default 60) from its committed seed
# corpus and dictionary; prints executions and crashes per target, keeps crash inputs in
# build-fuzz/crashes/TARGET/, and exits non-zero if any target crashed.
#   usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=build-fuzz
targets=(safetensors config data bpe)

# -Wno-pass-failed: the fuzzer's instrumentation keeps the cpu backend's `omp simd` loops from
# vectorising, which clang reports for every such loop; speed does not matter here.
CC=clang cmake -S . -B "$build" -DPOLYMOE_FUZZ=ON -DPOLYMOE_OPENCL=OFF -DPOLYMOE_VULKAN=OFF \
  -DPOLYMOE_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS=-Wno-pass-failed >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

failed=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t" crashes="$build/crashes/$t" log="$build/fuzz_$t.log"
  rm -rf "$crashes" # this run's crashes only
  mkdir -p "$corpus" "$crashes"
  # the working corpus grows from run to run; the committed seeds stay small
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/
  rc=0
  UBSAN_OPTIONS=print_stacktrace=1 "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
    -dict=tests/fuzz/"$t".dict -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  found=$(find "$crashes" -type f | wc -l)
  if [ "$rc" -ne 0 ] && [ "$found" -eq 0 ]; then found=1; fi # killed before writing an input
  printf '%-12s executions %-10s crashes %s\n' "$t" "${execs:-?}" "$found"
  if [ "$found" -ne 0 ]; then
    failed=1
    grep -m3 -E 'ERROR|runtime error|SUMMARY' "$log" || true
    echo "  log: $log, inputs: $crashes/"
  fi
done
exit "$failed"
