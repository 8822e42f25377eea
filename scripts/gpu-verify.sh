#!/usr/bin/env bash
# Verifies and measures polymoe's GPU paths on an NVIDIA GPU in one command: builds polymoe for
# the GPU from this tree against the Debian packages carried in .gpu-deps/ (scripts/gpu-deps.sh
# fills it; unpacked into a private prefix, never into /), then, each step with its own time
# cap and its result recorded even when it fails or is skipped:
#   polymoe devices; polymoe check --backend cuda (and vulkan/opencl where the NVIDIA driver
#   exposes them); compute-sanitizer memcheck and racecheck on the CUDA conformance run (a
#   subset with --quick); the trainer parity test (tests/test_parity.sh for cuda); GEMM own vs
#   cuBLAS, float32 and TF32, at GPT-2 small's shapes (polymoe bench --suite gemm); training
#   steps of configs/gpt2-small-moe.json and its dense twin on cuda (vocab 50257, accumulation
#   1, random weights) against the PyTorch peer (bench/pytorch_peer.py: per-expert loop,
#   grouped, dense; float32 and TF32), with each side's peak device memory.
# Results: OUT/gpu-verify.json, OUT/gpu-verify.md and OUT/gpu-verify-logs.tar.gz (three files,
# within the device tool's limits on what comes back).
#
# usage: scripts/gpu-verify.sh [--quick | --dry-run] [--out DIR] [--arch LIST] [--build DIR]
#                              [--jobs N] [--deps DIR]
#   (default)    the full run: estimated 6 to 7 minutes on an H200 (not yet measured), stops
#                itself at 470 s
#   --quick      fewer rows (sanitizers on a subset of ops, GEMM at short budgets, fewer
#                PyTorch variants): stops itself at 225 s
#   --dry-run    no GPU needed: fetches .gpu-deps if absent (scripts/gpu-deps.sh), unpacks it,
#                builds with CUDA against that prefix, runs every CPU-side part and the report
#                writers with the GPU steps recorded as skipped; fails when anything the GPU run
#                needs is missing (CI runs this from scripts/test.sh)
#   --out DIR    where the three result files go (default $OUT if set, else runs/gpu-verify)
#   --arch LIST  CMAKE_CUDA_ARCHITECTURES (default $POLYMOE_GPU_ARCH, else 90: sm_90 + PTX)
#   --build DIR  build folder (default build-gpuv); the prefix and the work files live in it
#   --jobs N     build jobs (default the cores, at most 16)
#   --deps DIR   the carried folder (default .gpu-deps)
# On the device machine: `bash scripts/gpu-verify.sh` with carry [".gpu-deps"].
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

mode=full out="" arch=${POLYMOE_GPU_ARCH:-90} build=$root/build-gpuv jobs="" deps=$root/.gpu-deps
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --dry-run) mode=dry-run ;;
    --out) out=${2:?--out needs a folder}; shift ;;
    --arch) arch=${2:?--arch needs a list}; shift ;;
    --build) build=${2:?--build needs a folder}; shift ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift ;;
    --deps) deps=${2:?--deps needs a folder}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-verify.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$jobs" in ''|*[!0-9]*) [ -z "$jobs" ] || { echo "gpu-verify.sh: --jobs wants a number" >&2; exit 2; } ;; esac
jobs=${jobs:-$(nproc)}
[ "$jobs" -gt 16 ] && jobs=16
out=${out:-${OUT:-$root/runs/gpu-verify}}
case "$out" in /*) ;; *) out=$root/$out ;; esac
case "$build" in /*) ;; *) build=$root/$build ;; esac
case "$deps" in /*) ;; *) deps=$root/$deps ;; esac

# Each mode's own limit (the device tool gives one command 10 minutes): steps are capped so the
# run ends by then, and a step that would start too late is recorded as not run.
case $mode in quick) budget=225 ;; full) budget=470 ;; dry-run) budget=900 ;; esac
started=$(date +%s)
deadline=$((started + budget))
reserve=20 # seconds kept for the report and the log archive

prefix=$build/deps-prefix
work=$build/verify
rm -rf "$work"
mkdir -p "$work/logs" "$work/bench" "$work/info" "$work/cfg" "$out"
export POLYMOE_CACHE_DIR=$work/token-cache PYTHONUNBUFFERED=1
steps_tsv=$work/steps.tsv
: > "$steps_tsv"
: > "$work/meta.tsv"
meta() { printf '%s\t%s\n' "$1" "${2//$'\n'/ }" >> "$work/meta.tsv"; }

echo "gpu-verify: $mode mode, budget ${budget}s, build $build, results in $out"

# ---- steps: one line each in steps.tsv (name, title, status, exit code, seconds, cap, note) ----
record() {
  local note=${7//$'\t'/ }
  note=${note//$'\n'/ }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$note" >> "$steps_tsv"
  printf '   %-8s %s%s%s\n' "$3" "$1" "${5:+ (${5}s)}" "${note:+: $note}"
}
skip_step() { record "$1" "$2" skip "" "" "" "$3"; } # NAME TITLE WHY
pick() { if [ "$mode" = quick ]; then echo "$1"; else echo "$2"; fi; } # QUICK_VALUE OTHER_VALUE

# run_step NAME TITLE CAP COMMAND...: runs COMMAND under `timeout` (the whole process group),
# output in logs/NAME.log; exit 0 pass, 77 skip, 124/137 timeout, else fail. Sets $status.
run_step() {
  local name=$1 title=$2 cap=$3
  shift 3
  local left=$((deadline - reserve - $(date +%s)))
  if [ "$left" -lt 10 ]; then
    record "$name" "$title" not-run "" "" "$cap" "the ${budget}s budget of this mode was spent"
    status=not-run
    return 0
  fi
  [ "$cap" -gt "$left" ] && cap=$left
  echo "== $name: $title (cap ${cap}s)"
  local t0 rc=0 note=""
  t0=$(date +%s.%N)
  timeout -k 5 "$cap" "$@" > "$work/logs/$name.log" 2>&1 < /dev/null || rc=$?
  local secs
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  case $rc in
    0) status=pass ;;
    77) status=skip note=$(grep -m1 -i 'skip' "$work/logs/$name.log" | cut -c1-300 || true) ;;
    124|137) status=timeout note="stopped at its ${cap}s cap" ;;
    *) status=fail note="exit $rc: $(grep -v '^\s*$' "$work/logs/$name.log" | tail -n 1 | cut -c1-300)" ;;
  esac
  record "$name" "$title" "$status" "$rc" "$secs" "$cap" "$note"
}

# ---- the carried packages, unpacked into the private prefix ----
lib=$prefix/usr/lib/x86_64-linux-gnu
use_prefix() {
  export PATH="$PATH:$prefix/usr/bin"
  export LD_LIBRARY_PATH="$lib:$lib/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_PATH="$lib/pkgconfig:$lib/openblas-pthread/pkgconfig:$prefix/usr/share/pkgconfig"
  export CMAKE_PREFIX_PATH="$prefix/usr"
}

# unpack_deps: checks every file of MANIFEST against its sha256, then extracts the packages into
# $prefix (dpkg-deb, or Python where dpkg is absent) and points their .pc files there. Reused when
# the same MANIFEST was unpacked before.
unpack_deps() {
  set -euo pipefail
  [ -f "$deps/MANIFEST" ] || { echo "no $deps/MANIFEST: run scripts/gpu-deps.sh here first"; return 1; }
  local sha file n=0
  while read -r sha _ file _; do
    [ -f "$deps/$file" ] || { echo "missing $deps/$file"; return 1; }
    [ "$(sha256sum "$deps/$file" | cut -d' ' -f1)" = "$sha" ] || { echo "checksum mismatch: $file"; return 1; }
    n=$((n + 1))
  done < "$deps/MANIFEST"
  echo "MANIFEST: $n files, checksums verified"
  if [ -f "$prefix/.manifest" ] && cmp -s "$prefix/.manifest" "$deps/MANIFEST"; then
    echo "prefix $prefix already holds this MANIFEST"
    return 0
  fi
  rm -rf "$prefix"
  mkdir -p "$prefix"
  while read -r _ _ file _; do
    case "$file" in debs/*.deb) ;; *) continue ;; esac
    if command -v dpkg-deb > /dev/null; then
      dpkg-deb -x "$deps/$file" "$prefix"
    else
      python3 - "$deps/$file" "$prefix" <<'PY'
import io, sys, tarfile
# a .deb is an ar archive; its data.tar.* holds the files
path, dest = sys.argv[1:]
data = open(path, "rb").read()
assert data[:8] == b"!<arch>\n", path
pos = 8
while pos < len(data):
    name, size = data[pos:pos + 16].decode().strip(), int(data[pos + 48:pos + 58].decode())
    body = data[pos + 60:pos + 60 + size]
    if name.startswith("data.tar"):
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as t:
            t.extractall(dest, **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))
        break
    pos += 60 + size + (size & 1)
else:
    sys.exit(f"{path}: no data.tar member")
PY
    fi
  done < "$deps/MANIFEST"
  # the packages' .pc files name /usr: make them name the prefix
  find "$prefix" -name '*.pc' -exec sed -i -e "s#^\([A-Za-z_]*\)=/usr#\1=$prefix/usr#" \
    -e "s#\([ =]\)-\([IL]\)/usr#\1-\2$prefix/usr#g" {} +
  cp "$deps/MANIFEST" "$prefix/.manifest"
  echo "unpacked into $prefix ($(du -sh "$prefix" | cut -f1))"
}

# The corpus the parity test trains on (data/default is not tracked, so it travels in .gpu-deps).
unpack_corpus() {
  if [ -f "$root/data/default/manifest.json" ]; then echo "data/default is here"; return 0; fi
  [ -f "$deps/corpus.tar.gz" ] || { echo "no data/default and no $deps/corpus.tar.gz"; return 1; }
  mkdir -p "$root/data"
  tar -C "$root/data" -xzf "$deps/corpus.tar.gz"
  echo "data/default unpacked from $deps/corpus.tar.gz"
}

# ---- facts about the machine, for the report ----
find_nvcc() {
  command -v nvcc 2> /dev/null && return 0
  local d
  for d in /usr/local/cuda/bin /usr/local/cuda-*/bin /opt/cuda/bin; do
    [ -x "$d/nvcc" ] && { echo "$d/nvcc"; return 0; }
  done
  return 1
}
find_sanitizer() {
  command -v compute-sanitizer 2> /dev/null && return 0
  local d
  for d in "$(dirname "$nvcc")" "$(dirname "$nvcc")/../compute-sanitizer" /usr/local/cuda/compute-sanitizer \
           /opt/nvidia/compute-sanitizer; do
    [ -x "$d/compute-sanitizer" ] && { echo "$d/compute-sanitizer"; return 0; }
  done
  return 1
}
nvcc=$(find_nvcc || true)
if [ -n "$nvcc" ]; then PATH="$(dirname "$nvcc"):$PATH"; fi
sanitizer=$(find_sanitizer || true)
gpu_line=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null | head -n 1 || true)
meta mode "$mode"
meta started_utc "$(date -u -d "@$started" +%Y-%m-%dT%H:%M:%SZ)"
meta budget_s "$budget"
meta gpu "${gpu_line:-none found (no nvidia-smi answer)}"
meta driver "$(echo "$gpu_line" | cut -s -d, -f2 | tr -d ' ')"
meta nvcc "$([ -n "$nvcc" ] && "$nvcc" --version | tail -n 1 || echo 'not found')"
meta sanitizer "$([ -n "$sanitizer" ] && "$sanitizer" --version 2> /dev/null | tail -n 1 || echo 'not found')"
meta host_cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
meta nproc "$(nproc)"
meta arch "$arch"
meta source "$(git describe --always --dirty 2> /dev/null || sed -n 's/^git_describe /as of the .gpu-deps download: /p' "$deps/SOURCE" 2> /dev/null || echo unknown)"
# a hash of the tree's files (no git on the GPU machine): compare it with the same line of a dry run
meta tree_sha256 "$(find . \( -path ./.git -o -path './build*' -o -path ./.gpu-deps -o -path ./data -o -path ./runs \
  -o -path ./out -o -path ./.gl -o -name __pycache__ \) -prune -o -type f -print0 | sort -z |
  xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
torch_version=$(python3 -c 'import torch; print(torch.__version__, "cuda" if torch.cuda.is_available() else "no-cuda")' 2> /dev/null || true)
meta torch "${torch_version:-not importable}"
if [ -n "$gpu_line" ]; then
  nvidia-smi > "$work/logs/gpu_info.log" 2>&1 || true
fi

# ---- 1. dependencies and build ----
if [ "$mode" = dry-run ] && ! grep -q ' debs/' "$deps/MANIFEST" 2> /dev/null; then
  # CI and first runs: the download is the one network access the dry run makes
  run_step fetch_deps "download the Debian packages (scripts/gpu-deps.sh --debs)" 300 \
    bash "$root/scripts/gpu-deps.sh" --debs --dir "$deps"
fi
orig_ld=${LD_LIBRARY_PATH:-}
use_prefix
export -f unpack_deps unpack_corpus
export deps prefix root
run_step deps "check and unpack .gpu-deps into a private prefix" 120 bash -c unpack_deps
deps_ok=$status

# Where the NVIDIA driver's OpenCL and Vulkan drivers are (a container may not register them).
nvidia_dirs=""
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu/nvidia; do
  [ -d "$d" ] && nvidia_dirs="$nvidia_dirs:$d"
done
[ -n "$nvidia_dirs" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH$nvidia_dirs"
if [ ! -e /etc/OpenCL/vendors/nvidia.icd ]; then
  for d in ${nvidia_dirs//:/ } /usr/lib/x86_64-linux-gnu /usr/lib64; do
    if [ -e "$d/libnvidia-opencl.so.1" ]; then
      mkdir -p "$work/icd"
      echo "$d/libnvidia-opencl.so.1" > "$work/icd/nvidia.icd"
      export OCL_ICD_VENDORS=$work/icd
      break
    fi
  done
fi
for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
         /etc/vulkan/icd.d/nvidia_icd.json /usr/local/share/vulkan/icd.d/nvidia_icd.json; do
  if [ -e "$f" ]; then export VK_DRIVER_FILES=$f VK_ICD_FILENAMES=$f; break; fi
done
meta opencl_icd "${OCL_ICD_VENDORS:-system default}"
meta vulkan_icd "${VK_DRIVER_FILES:-system default}"

# Dry run: every backend must come from the prefix (the GPU image has none of their packages).
# GPU run: OpenCL and Vulkan where they build, CUDA required.
if [ "$mode" = dry-run ]; then others=ON; else others=AUTO; fi
gen=()
command -v ninja > /dev/null && gen=(-G Ninja)
if [ "$deps_ok" = pass ] && [ -n "$nvcc" ]; then
  # a cache from a configure without this prefix keeps its pkg-config answers: start it afresh
  if [ -f "$build/CMakeCache.txt" ] &&
     [ "$(sed -n 's/^CMAKE_PREFIX_PATH:[A-Z]*=//p' "$build/CMakeCache.txt")" != "$prefix/usr" ]; then
    rm -f "$build/CMakeCache.txt"
  fi
  run_step configure "cmake: CUDA arch $arch against the prefix" 120 \
    cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DPOLYMOE_CUDA=ON \
    -DPOLYMOE_OPENCL=$others -DPOLYMOE_VULKAN=$others -DCMAKE_CUDA_ARCHITECTURES="$arch" \
    -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_PREFIX_PATH="$prefix/usr"
else
  skip_step configure "cmake against the prefix" "$([ -z "$nvcc" ] && echo 'no nvcc found' || echo 'the deps step failed')"
  status=skip
fi
built=()
if [ "$status" = pass ]; then
  for b in cuda opencl vulkan; do
    if grep -q "polymoe: ${b^^} backend ON" "$work/logs/configure.log"; then built+=("$b"); fi
  done
  meta backends_built "${built[*]}"
  targets=(polymoe)
  for b in "${built[@]}"; do targets+=("polymoe_$b"); done
  run_step build "build polymoe and the GPU modules (-j$jobs)" 420 \
    cmake --build "$build" -j"$jobs" --target "${targets[@]}"
else
  meta backends_built "none (not configured)"
  skip_step build "build" "not configured"
  status=skip
fi
pm=$build/polymoe
have_pm=$status

# Where each library came from: in a dry run all of them must be in the prefix.
prefix_check() {
  local cache=$build/CMakeCache.txt bad=0 key val
  for key in pkgcfg_lib_OPENBLAS_openblas pkgcfg_lib_CJSON_cjson pkgcfg_lib_PCRE2_pcre2-8 OpenCL_LIBRARY \
             pkgcfg_lib_CLBLAST_clblast Vulkan_LIBRARY GLSLC PKG_CONFIG_EXECUTABLE; do
    val=$(sed -n "s/^$key:[A-Z]*=//p" "$cache" | head -n 1)
    case "$val" in
      "$prefix"/*) echo "ok     $key = $val" ;;
      "") echo "absent $key"; bad=1 ;;
      *) if [ "$key" = PKG_CONFIG_EXECUTABLE ]; then echo "system $key = $val (the prefix has pkgconf too)"
         else echo "SYSTEM $key = $val"; bad=1; fi ;;
    esac
  done
  local missing
  missing=$(ldd "$pm" "$build"/libpolymoe_*.so 2> /dev/null | grep 'not found' | sort -u || true)
  if [ -n "$missing" ]; then echo "unresolved libraries:"; echo "$missing"; bad=1; fi
  [ "$bad" = 0 ] && echo "every library of the build resolves in the prefix; ldd finds all"
  if [ "$bad" = 1 ] && [ "$mode" != dry-run ]; then
    echo "(on the GPU machine libraries of the system are fine: recorded, not failed)"
    return 0
  fi
  return $bad
}
export -f prefix_check
export build pm mode
if [ "$have_pm" = pass ]; then
  run_step prefix_check "every library of the build comes from the prefix" 30 bash -c prefix_check
else
  skip_step prefix_check "libraries from the prefix" "no build"
fi

# ---- 2. devices ----
gpu_of() { # BACKEND: 0 when `polymoe devices` lists a device of it that is not a CPU implementation
  awk -v b="$1:" '$0 == b {on = 1; next} /^[a-z]+:$/ {on = 0} on && /\[0\]/ && !/CPU implementation/ {f = 1} END {exit !f}' \
    "$work/logs/devices.log" 2> /dev/null
}
if [ "$have_pm" = pass ]; then
  run_step devices "polymoe devices" 60 "$pm" devices
else
  skip_step devices "polymoe devices" "no build"
fi
cuda_gpu=0
gpu_of cuda && cuda_gpu=1
why_no_gpu() {
  if [ "$have_pm" != pass ]; then echo "no build"
  elif [ "$mode" = dry-run ]; then echo "dry run: no GPU on this machine"
  else echo "cuda: $(awk '$0 == "cuda:" {getline; sub(/^ +(unavailable: )?/, ""); print; exit}' "$work/logs/devices.log")"
  fi
}
nogpu=$(why_no_gpu)
# a GPU run without a CUDA device is a failed run, whatever else skips politely
if [ "$mode" != dry-run ] && [ "$have_pm" = pass ] && [ $cuda_gpu = 0 ]; then
  record cuda_device "a CUDA device for the GPU steps" fail "" "" "" "$nogpu"
fi

# ---- 3. conformance ----
if [ $cuda_gpu = 1 ]; then
  run_step check_cuda "polymoe check --backend cuda (every op; GEMM rows per implementation, fp32 and TF32)" \
    "$(pick 120 180)" "$pm" check --backend cuda
else
  skip_step check_cuda "polymoe check --backend cuda" "$nogpu"
fi
for b in vulkan opencl; do
  title="polymoe check --backend $b$(pick ' --op gemm' '')"
  if [[ " ${built[*]} " != *" $b "* ]]; then
    skip_step "check_$b" "$title" "the $b backend was not built"
  elif [ "$mode" = dry-run ] || ! gpu_of "$b"; then
    skip_step "check_$b" "$title" "$([ "$mode" = dry-run ] && echo "$nogpu" || echo "the NVIDIA driver exposes no $b GPU here: $(awk -v b="$b:" '$0 == b {getline; sub(/^ +/, ""); print; exit}' "$work/logs/devices.log")")"
  elif [ $mode = quick ]; then
    run_step "check_$b" "$title" 60 "$pm" check --backend "$b" --op gemm
  else
    run_step "check_$b" "$title" 120 "$pm" check --backend "$b"
  fi
done

# ---- 4. compute-sanitizer on the CUDA conformance run ----
# --report-api-errors no: polymoe checks every CUDA return code itself, and the check asks for a
# petabyte on purpose (a clean refusal is the expected result, not an error to report).
sanitize() { # TOOL OP...: one sanitized `polymoe check --backend cuda` per op (all ops: none given)
  local tool=$1 rc=0 op
  shift
  local args=(--tool "$tool" --error-exitcode 86 --report-api-errors no --print-limit 50)
  [ "$tool" = racecheck ] && args+=(--racecheck-report all)
  if [ $# -eq 0 ]; then
    echo "=== op all"
    "$sanitizer" "${args[@]}" "$pm" check --backend cuda || rc=$?
  fi
  for op in "$@"; do
    echo "=== op $op"
    "$sanitizer" "${args[@]}" "$pm" check --backend cuda --op "$op" || rc=$?
  done
  return $rc
}
export -f sanitize
export sanitizer
# --quick: ops with shared memory, atomics or warp shuffles: the GEMM tiles (all implementations),
# the grouped weight-gradient GEMM, attention (GEMMs and the causal softmax), the routing plan
sanitize_ops=(gemm gemm_grouped_wgrad attention_bwd moe_plan)
for tool in memcheck racecheck; do
  title="compute-sanitizer --tool $tool polymoe check --backend cuda$(pick " --op (${sanitize_ops[*]})" '')"
  if [ $cuda_gpu = 0 ]; then
    skip_step "$tool" "$title" "$nogpu"
  elif [ -z "$sanitizer" ]; then
    skip_step "$tool" "$title" "compute-sanitizer not found (PATH, next to nvcc, /usr/local/cuda)"
  elif [ $mode = quick ]; then
    run_step "$tool" "$title" 60 bash -c 'sanitize "$@"' _ "$tool" "${sanitize_ops[@]}"
  else
    run_step "$tool" "$title" 100 bash -c 'sanitize "$@"' _ "$tool"
  fi
done

# ---- 5. trainer parity ----
if [ $cuda_gpu = 1 ]; then
  run_step corpus "data/default for the parity test" 30 bash -c unpack_corpus
  run_step parity_cuda "tests/test_parity.sh cuda (ctest parity_cuda): training against ref" 150 \
    bash "$root/tests/test_parity.sh" "$pm" cuda
else
  skip_step parity_cuda "tests/test_parity.sh cuda" "$nogpu"
fi

# TF32 in training: the parity run's 20 steps with each GEMM implementation, losses against the
# float32 cuBLAS run (full mode).
tf32_train() {
  set -euo pipefail
  local impl
  for impl in cublas own cublas-tf32 own-tf32; do
    POLYMOE_CUDA_GEMM=$impl "$pm" train --backend cuda --out "$work/train-$impl" --steps 20 batch_size=4 \
      log_every=1 eval_every=0 checkpoint_every=0 eval_seqs=4 > "$work/logs/train-$impl.txt" 2>&1 ||
      { tail -n 5 "$work/logs/train-$impl.txt"; return 1; }
  done
  python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def losses(impl):
    rows = [json.loads(l) for l in open(f"{work}/train-{impl}/metrics.jsonl")]
    return {r["step"]: r for r in rows if r["type"] == "train"}
base = losses("cublas")
out = {}
for impl in ("own", "cublas-tf32", "own-tf32"):
    other = losses(impl)
    worst, flip = 0.0, None
    for s in sorted(base):
        if flip is None and [m["f"] for m in base[s].get("moe", [])] != [m["f"] for m in other[s].get("moe", [])]:
            flip = s
        if flip is None:
            worst = max(worst, abs(base[s]["lm_loss"] - other[s]["lm_loss"]) / abs(base[s]["lm_loss"]))
    out[impl] = (f"worst relative loss difference {worst:.2e} over steps 1..{(flip or 21) - 1}"
                 + (f"; routing differed from step {flip}" if flip else "; routing agreed at every step"))
    print(impl, out[impl])
json.dump(out, open(f"{work}/info/tf32_train.json", "w"), indent=1)
PY
}
export -f tf32_train
export work
if [ $mode = full ] && [ $cuda_gpu = 1 ]; then
  run_step tf32_train "20 training steps per GEMM implementation, losses vs float32 cuBLAS" 90 bash -c tf32_train
elif [ $mode != quick ]; then
  skip_step tf32_train "training losses per GEMM implementation" "$nogpu"
fi

# ---- 6. GEMM: own vs cuBLAS, float32 and TF32 ----
if [ $cuda_gpu = 1 ]; then
  gemm_budget=$(pick 0.2 0.5)
  run_step gemm_bench "polymoe bench --suite gemm on cuda (every implementation, ${gemm_budget}s a row)" \
    "$(pick 75 120)" \
    env POLYMOE_BENCH_BUDGET=$gemm_budget "$pm" bench --backend cuda --suite gemm --out "$work/bench/gemm" \
    --json "$work/bench/gemm.jsonl"
else
  skip_step gemm_bench "polymoe bench --suite gemm on cuda" "$nogpu"
fi

# ---- 7. training steps: polymoe against the PyTorch peer ----
# The study's configs with GPT-2's vocabulary (their 0 means the tokenizer's) and accumulation 1.
cat > "$work/cfg/make_configs.py" <<'PY'
import json, sys
src, dst = sys.argv[1:]
cfgs = {}
for name in ("gpt2-small-moe", "gpt2-small-dense"):
    c = json.load(open(f"{src}/{name}.json"))
    c.update(vocab_size=50257, grad_accum=1)
    cfgs[name] = c
    json.dump(c, open(f"{dst}/{name}.json", "w"), indent=1)
strip = lambda c: {k: v for k, v in c.items() if k not in ("_comment", "moe_layers")}
print("the dense twin of gpt2-small-moe equals gpt2-small-dense:",
      strip(cfgs["gpt2-small-moe"]) == strip(cfgs["gpt2-small-dense"]))
PY
run_step configs "configs/gpt2-small-{moe,dense}.json with vocab 50257 and accumulation 1" 30 \
  python3 "$work/cfg/make_configs.py" "$root/configs" "$work/cfg"
[ "$status" = pass ] || cuda_gpu=0 nogpu="the configs could not be written"
if [ $mode = quick ]; then impls=(cublas cublas-tf32); else impls=(cublas own cublas-tf32 own-tf32); fi
for impl in "${impls[@]}"; do
  title="polymoe bench --suite train_step, gpt2-small-moe (+ dense twin) and gpt2-small-dense, GEMM $impl"
  if [ $cuda_gpu = 1 ]; then
    run_step "train_cuda_$impl" "$title" "$(pick 60 75)" \
      env POLYMOE_CUDA_GEMM=$impl POLYMOE_BENCH_BUDGET=1 "$pm" bench --backend cuda --suite train_step \
      --config "$work/cfg/gpt2-small-moe.json" --config "$work/cfg/gpt2-small-dense.json" \
      --out "$work/bench/train_cuda_$impl" --json "$work/bench/train_cuda_$impl.jsonl"
  else
    skip_step "train_cuda_$impl" "$title" "$nogpu"
  fi
done
if [ $mode != quick ]; then
  for b in vulkan opencl; do
    title="polymoe bench --suite train_step on $b, gpt2-small-moe and its dense twin"
    if [ $cuda_gpu = 1 ] && [[ " ${built[*]} " == *" $b "* ]] && gpu_of "$b"; then
      run_step "train_$b" "$title" 90 env POLYMOE_BENCH_BUDGET=1 "$pm" bench --backend "$b" --suite train_step \
        --config "$work/cfg/gpt2-small-moe.json" --out "$work/bench/train_$b" --json "$work/bench/train_$b.jsonl"
    else
      skip_step "train_$b" "$title" "$([ $cuda_gpu = 1 ] && echo "no $b GPU device" || echo "$nogpu")"
    fi
  done
fi
if [ $mode = quick ]; then
  peers=(grouped:fp32 grouped:tf32)
  peer_steps=(--steps 10 --warmup 2)
else
  peers=(loop:fp32 grouped:fp32 dense:fp32 loop:tf32 grouped:tf32 dense:tf32)
  peer_steps=(--steps 20 --warmup 3)
fi
for p in "${peers[@]}"; do
  impl=${p%%:*} prec=${p##*:}
  args=(--config "$work/cfg/gpt2-small-moe.json" --device cuda --vocab 50257 "${peer_steps[@]}")
  if [ "$impl" = dense ]; then args+=(--dense); else args+=(--impl "$impl"); fi
  [ "$prec" = tf32 ] && args+=(--tf32)
  title="bench/pytorch_peer.py --device cuda --vocab 50257, $impl, $prec"
  if [ $cuda_gpu = 0 ]; then
    skip_step "peer_${impl}_$prec" "$title" "$nogpu"
  elif [[ "$torch_version" != *" cuda" ]]; then
    skip_step "peer_${impl}_$prec" "$title" "PyTorch with CUDA is not importable here (${torch_version:-no torch})"
  else
    # PyTorch brings its own libraries: the prefix's stay out of its way
    run_step "peer_${impl}_$prec" "$title" 60 env LD_LIBRARY_PATH="$orig_ld" \
      python3 "$root/bench/pytorch_peer.py" "${args[@]}"
  fi
done

# ---- dry run: the CPU-side parts that a GPU run would otherwise be the first to exercise ----
dry_checks() {
  set -uo pipefail
  local bad=0 f
  for f in tests/test_parity.sh bench/pytorch_peer.py configs/gpt2-small-moe.json configs/gpt2-small-dense.json \
           scripts/gpu_verify_report.py scripts/gpu-deps.sh; do
    [ -f "$root/$f" ] || { echo "missing $f"; bad=1; }
  done
  grep -q -- '"--tf32"' "$root/bench/pytorch_peer.py" && grep -q -- '"--device"' "$root/bench/pytorch_peer.py" ||
    { echo "bench/pytorch_peer.py lacks --device/--tf32"; bad=1; }
  # every package the list names is in the carried folder
  local p
  for p in $(bash "$root/scripts/gpu-deps.sh" --list); do
    grep -q " $p=" "$deps/MANIFEST" || { echo "$deps/MANIFEST lacks $p"; bad=1; }
  done
  grep -q ' corpus.tar.gz ' "$deps/MANIFEST" || { echo "$deps/MANIFEST lacks the corpus"; bad=1; }
  # what travels: tracked and untracked-not-ignored files, plus the carried folder; 64 MiB at most
  local tree carry
  tree=$(cd "$root" && git ls-files -z --cached --others --exclude-standard 2> /dev/null |
    xargs -0 -r stat -c %s -- 2> /dev/null | awk '{s += $1} END {print s + 0}')
  carry=$(du -sb "$deps" | cut -f1)
  echo "travels: tree $((tree / 1048576)) MiB + $(basename "$deps") $((carry / 1048576)) MiB = $(((tree + carry) / 1048576)) MiB (limit 64 MiB)"
  [ $((tree + carry)) -lt $((64 * 1048576)) ] || { echo "over the 64 MiB the device tool carries"; bad=1; }
  local cmd="bash scripts/gpu-verify.sh"
  [ ${#cmd} -le 2000 ] || { echo "the device command is over 2000 characters"; bad=1; }
  [ $bad = 0 ] && echo "everything the GPU run needs is here"
  return $bad
}
export -f dry_checks
if [ "$mode" = dry-run ]; then
  if [ "$have_pm" = pass ] && ! grep -q ' corpus.tar.gz ' "$deps/MANIFEST" 2> /dev/null; then
    run_step fetch_corpus "pack data/default into .gpu-deps (built with this polymoe when missing)" 120 \
      bash "$root/scripts/gpu-deps.sh" --corpus --dir "$deps" --polymoe "$pm"
  fi
  run_step dry_checks "the GPU run's files, the package list, the carry size" 60 bash -c dry_checks
  # the report's parsers on real output of the same commands on the CPU
  if [ "$have_pm" = pass ]; then
    run_step check_cpu_sample "dry run: polymoe check --backend cpu --op gemm (the check parser on real rows)" 60 \
      "$pm" check --backend cpu --op gemm
  else
    skip_step check_cpu_sample "dry run: polymoe check --backend cpu --op gemm" "no build"
  fi
  if [[ -n "$torch_version" ]]; then
    run_step peer_cpu_smoke "dry run: bench/pytorch_peer.py --config tiny --device cpu, 1 step (CLI and JSON)" 90 \
      env LD_LIBRARY_PATH="$orig_ld" python3 "$root/bench/pytorch_peer.py" --config tiny --device cpu --steps 1 \
      --warmup 0 --threads 2
  else
    skip_step peer_cpu_smoke "dry run: the PyTorch peer on the CPU" "PyTorch is not importable here"
  fi
fi

# ---- the report ----
meta elapsed_s "$(($(date +%s) - started))"
rm -f "$out/gpu-verify.json" "$out/gpu-verify.md" "$out/gpu-verify-logs.tar.gz"
rc=0
python3 "$root/scripts/gpu_verify_report.py" "$work" "$out/gpu-verify.json" "$out/gpu-verify.md" || rc=$?
# the logs, each cut to its first 256 KiB and last 768 KiB, with the bench rows and configs
mkdir -p "$work/archive/logs"
for f in "$work"/logs/*; do
  [ -f "$f" ] || continue
  if [ "$(stat -c %s "$f")" -gt 1048576 ]; then
    { head -c 262144 "$f"; printf '\n[... cut ...]\n'; tail -c 786432 "$f"; } > "$work/archive/logs/$(basename "$f")"
  else
    cp "$f" "$work/archive/logs/"
  fi
done
cp -r "$work/bench" "$work/cfg" "$work/info" "$work/steps.tsv" "$work/meta.tsv" "$work/archive/" 2> /dev/null || true
find "$work/archive/bench" -name '*.svg' -delete 2> /dev/null || true
tar -C "$work/archive" -czf "$out/gpu-verify-logs.tar.gz" . || echo "gpu-verify: could not write the log archive" >&2
# what comes back from $OUT: at most 8 files of 16 MiB, plain names
for f in "$out"/gpu-verify*; do
  if [ "$(stat -c %s "$f")" -gt $((16 * 1048576)) ]; then
    echo "gpu-verify: $f is over 16 MiB and would not come back" >&2
    rc=1
  fi
done
# the tables that matter most, for a reader of this output alone (the device tool returns its tail)
if [ -f "$out/gpu-verify.md" ]; then
  echo
  awk '/^## / {on = ($0 ~ /Conformance|sanitizer|parity|Training step|TF32|Targets/)} on' "$out/gpu-verify.md" |
    grep -v '^| [a-z-]*tf32 | gemm' | head -n 120
  sed -n '/^\*\*[0-9]* passed/p' "$out/gpu-verify.md"
fi
echo "results: $out/gpu-verify.json, $out/gpu-verify.md, $out/gpu-verify-logs.tar.gz ($(($(date +%s) - started)) s)"
exit $rc
