#!/usr/bin/env bash
# Installs what polymoe builds, tests and trains with on Debian/Ubuntu (uses sudo unless root).
set -euo pipefail
packages=(
  build-essential cmake pkg-config libopenblas-dev libcjson-dev   # core
  libpcre2-dev                                                     # the GPT-2 pre-tokenizer regex
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd libclblast-dev # OpenCL (PoCL runs it on the CPU)
  libvulkan-dev glslc mesa-vulkan-drivers vulkan-validationlayers  # Vulkan (lavapipe runs it on the CPU)
  python3 libpython3-stdlib bible-kjv                              # default corpus: code and prose
  chromium                                                         # renders the report in its test
  clang libclang-rt-dev libomp-dev                                 # fuzzing: libFuzzer (scripts/fuzz.sh)
  openmpi-bin libopenmpi-dev                                       # multi-process training (mpirun)
)
run() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive
run apt-get update -qq
run apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "installed: ${packages[*]}"
