#!/usr/bin/env bash
# The test command: installs the dependencies, builds every backend this machine can build
# with warnings as errors, runs the tests, then runs them again under AddressSanitizer and
# UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="/usr/local/cuda/bin:$PATH"
jobs=$(nproc)

cmake -S . -B build -DPOLYMOE_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j1)

# The GPU verification script without a GPU (scripts/gpu-verify.sh --dry-run, about 1.5 minutes):
# its build for sm_90 against the Debian packages it carries to the GPU machine (downloaded into
# .gpu-deps/ when absent, about 21 MB), its CPU-side steps and its report, so that the script a
# lent GPU runs cannot rot unnoticed. Its GPU steps are reported as skipped, never as passed.
if command -v nvcc > /dev/null; then
  bash scripts/gpu-verify.sh --dry-run --jobs "$jobs"
else
  echo "skip  scripts/gpu-verify.sh --dry-run: no nvcc on this machine (the dry run builds with CUDA)"
fi

# The sanitizer build leaves CUDA out: its runtime and ASan's shadow memory do not mix.
# LeakSanitizer is off because the OpenCL and Vulkan drivers (PoCL, Mesa) keep memory on purpose;
# allocator_may_return_null lets an impossible allocation fail as malloc does without ASan
# (polymoe check asks for a petabyte and wants a clean refusal).
cmake -S . -B build-asan -DPOLYMOE_SANITIZE=ON -DPOLYMOE_CUDA=OFF >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j1)

# Fuzz smoke run: each libFuzzer target of the file readers (tests/fuzz) for 20 s under ASan +
# UBSan; a crash fails the run (scripts/fuzz.sh SECONDS fuzzes for longer).
bash scripts/fuzz.sh 20
