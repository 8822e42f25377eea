#!/usr/bin/env bash
# One process against N MPI ranks on the same global batch, in interleaved rounds: tokens/s of
# `polymoe train` (median over the steps after the first 5) with OMP threads split evenly.
# usage: bench/data_parallel.sh [POLYMOE] [RANKS] [ROUNDS] [STEPS] [key=value ...]
set -euo pipefail
pm=$(realpath "${1:-build/polymoe}"); ranks=${2:-2}; rounds=${3:-3}; steps=${4:-40}
shift $(($# < 4 ? $# : 4))
cores=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
median() { python3 -c '
import json, statistics, sys
v = [json.loads(l)["tokens_per_s"] for l in open(sys.argv[1]) if "\"type\":\"train\"" in l.replace(" ", "")]
print(round(statistics.median(v[5:] or v)))' "$1/metrics.jsonl"; }
common="--steps $steps batch_size=8 eval_every=0 log_every=1 checkpoint_every=0 $*"
one=() many=()
for r in $(seq "$rounds"); do
  OMP_NUM_THREADS=$cores "$pm" train --out "$work/one$r" $common grad_accum=$ranks > /dev/null
  one+=("$(median "$work/one$r")")
  OMP_NUM_THREADS=$((cores / ranks > 0 ? cores / ranks : 1)) mpirun --oversubscribe -np "$ranks" "$pm" train \
    --out "$work/many$r" $common grad_accum=1 > /dev/null
  many+=("$(median "$work/many$r")")
  echo "round $r: 1 process x $cores threads ${one[-1]} tokens/s, $ranks ranks ${many[-1]} tokens/s"
done
python3 -c '
import sys
one, many = [float(x) for x in sys.argv[1].split()], [float(x) for x in sys.argv[2].split()]
r = sorted(m / o for o, m in zip(one, many))
print(f"ranks / one process: min {r[0]:.2f} median {r[len(r) // 2]:.2f} max {r[-1]:.2f}")' "${one[*]}" "${many[*]}"
