#!/usr/bin/env bash
# Trainer parity: the same run on BACKEND and on cpu gives the same losses within 1e-4
# relative at every step. tiny.json's model on the default corpus, 20 steps; the batch is
# reduced to 4 sequences to keep CPU-emulated devices (PoCL, lavapipe) fast.
# usage: test_parity.sh PATH/TO/polymoe BACKEND
set -u
pm=$(realpath "$1")
backend=$2
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$src"   # the default corpus lives in data/default of the source tree
if ! "$pm" devices | awk -v b="$backend:" '$0 == b {on=1; next} /^[a-z]+:$/ {on=0} on && /\[0\]/ {found=1} END {exit !found}'; then
  echo "skip  $backend: no device on this machine ($("$pm" devices | grep -A1 "^$backend:" | tail -1 | sed 's/^ *//'))"
  exit 77
fi
args=(--steps 20 batch_size=4 log_every=1 eval_every=0 checkpoint_every=0 eval_seqs=4)
"$pm" train --backend cpu --out "$work/cpu" "${args[@]}" > "$work/cpu.log" 2>&1 || { cat "$work/cpu.log"; echo "0 passed, 1 failed"; exit 1; }
"$pm" train --backend "$backend" --out "$work/$backend" "${args[@]}" > "$work/dev.log" 2>&1 || { cat "$work/dev.log"; echo "0 passed, 1 failed"; exit 1; }
python3 - "$work/cpu/metrics.jsonl" "$work/$backend/metrics.jsonl" "$backend" <<'PY'
import json, sys
def losses(path):
    return {o["step"]: o["lm_loss"] for o in map(json.loads, open(path)) if o["type"] == "train"}
a, b, name = losses(sys.argv[1]), losses(sys.argv[2]), sys.argv[3]
worst = max(abs(a[s] - b[s]) / abs(a[s]) for s in a)
ok = sorted(a) == sorted(b) == list(range(1, 21)) and worst <= 1e-4
print(f"{'pass' if ok else 'FAIL'}  {name} vs cpu, 20 steps: worst relative loss difference {worst:.2e} (bound 1e-4)")
print(f"{int(ok)} passed, {int(not ok)} failed")
sys.exit(0 if ok else 1)
PY
