#!/usr/bin/env bash
# One process against N MPI ranks, data parallel and expert parallel (expert_parallel=N), on
# the same global batch, in interleaved rounds: tokens/s of `polymoe train` (median over the
# steps after the first 5) with OMP threads split evenly, and the expert-parallel run's
# all-to-all traffic per step.
# usage: bench/parallel.sh [POLYMOE] [RANKS] [ROUNDS] [STEPS] [key=value ...]
set -euo pipefail
pm=$(realpath "${1:-build/polymoe}"); ranks=${2:-2}; rounds=${3:-3}; steps=${4:-40}
shift $(($# < 4 ? $# : 4))
cores=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
median() { python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if "\"type\":\"train\"" in l.replace(" ", "")][5:]
v = [o[k] if k == "tokens_per_s" else o["comm"][k] for o in rows for k in [sys.argv[2]]]
m = statistics.median(v)
print(round(m) if sys.argv[2] != "alltoall_s" and sys.argv[2] != "allreduce_s" else round(m, 4))' "$1/metrics.jsonl" "${2:-tokens_per_s}"; }
common="--steps $steps batch_size=8 eval_every=0 log_every=1 checkpoint_every=0 $*"
threads=$((cores / ranks > 0 ? cores / ranks : 1))
one=() dp=() ep=()
for r in $(seq "$rounds"); do
  OMP_NUM_THREADS=$cores "$pm" train --out "$work/one$r" $common grad_accum=$ranks > /dev/null
  one+=("$(median "$work/one$r")")
  OMP_NUM_THREADS=$threads mpirun --oversubscribe -np "$ranks" "$pm" train --out "$work/dp$r" $common grad_accum=1 > /dev/null
  dp+=("$(median "$work/dp$r")")
  OMP_NUM_THREADS=$threads mpirun --oversubscribe -np "$ranks" "$pm" train --out "$work/ep$r" $common grad_accum=1 \
    expert_parallel=$ranks > /dev/null
  ep+=("$(median "$work/ep$r")")
  echo "round $r: 1 process x $cores threads ${one[-1]} tokens/s; $ranks ranks: data parallel ${dp[-1]}, expert" \
       "parallel ${ep[-1]} tokens/s (all-to-all $(median "$work/ep$r" alltoall_bytes) B in $(median "$work/ep$r" alltoall_s) s," \
       "all-reduce $(median "$work/ep$r" allreduce_bytes) B in $(median "$work/ep$r" allreduce_s) s per step, medians)"
done
python3 -c '
import sys
one, dp, ep = ([float(x) for x in a.split()] for a in sys.argv[1:4])
for name, arm in (("data parallel", dp), ("expert parallel", ep)):
    r = sorted(m / o for o, m in zip(one, arm))
    print(f"{name} / one process: min {r[0]:.2f} median {r[len(r) // 2]:.2f} max {r[-1]:.2f}")' "${one[*]}" "${dp[*]}" "${ep[*]}"
