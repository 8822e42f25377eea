#!/usr/bin/env bash
# Data-parallel training over MPI on the cpu backend: 2 ranks (oversubscribed on any machine)
# give the per-step losses of one process with the same global batch, for top-1 and top-2; a
# 2-rank resume is exact; a rank killed with SIGKILL ends the whole job with a message that
# names it, the last checkpoint intact, and the job resumes from it.
# usage: test_distributed.sh PATH/TO/polymoe
source "$(dirname "$0")/testlib.sh"

# CI runs as root; Open MPI refuses that unless told. One OpenMP thread per rank.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1
mpi() { mpirun --oversubscribe -np 2 "$pm" "$@"; }

make_small_corpus
# batch 1: the held-out split's 2 sequences are 2 evaluation batches, one per rank
base="data=$PWD/corpus/manifest.json n_layer=2 n_head=2 n_embd=16 block_size=16 batch_size=1 eval_seqs=2 log_every=1
      warmup_steps=2 eval_fraction=0.3 moe_layers=0,1 n_experts=4 eval_every=4 checkpoint_every=4"

# the largest relative difference of a field over the train lines of two runs
worst() { python3 -c '
import json,sys
def rows(p): return [json.loads(l) for l in open(p) if "\"type\":\"train\"" in l.replace(" ", "")]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert len(a) == len(b) > 0, (len(a), len(b))
print(max(abs(x[sys.argv[3]] - y[sys.argv[3]]) / abs(x[sys.argv[3]]) for x, y in zip(a, b)))' "$@"; }

for k in 1 2; do
  "$pm" train --out one$k --steps 8 $base top_k=$k grad_accum=2 > one$k.log 2>&1 || bad "top-$k one process: $(tail -2 one$k.log)"
  if mpi train --out two$k --steps 8 $base top_k=$k grad_accum=1 > two$k.log 2>&1; then
    grep -q "data parallel over 2 ranks" two$k.log && ok "top-$k: 2 ranks train ($(grep -o 'over 2 ranks ([^)]*)' two$k.log))" \
      || bad "top-$k: no data-parallel line: $(head -3 two$k.log)"
  else
    bad "top-$k 2 ranks: $(tail -3 two$k.log)"
  fi
  for f in loss lm_loss grad_norm; do
    w=$(worst one$k/metrics.jsonl two$k/metrics.jsonl $f 2>&1)
    python3 -c "import sys; sys.exit(0 if float('$w') <= 1e-5 else 1)" 2>/dev/null \
      && ok "top-$k: $f of 2 ranks x 1 micro-batch = 1 process x 2, all 8 steps (worst relative difference $w)" \
      || bad "top-$k: $f differs: $w"
  done
done

# the evaluation, dealt out over the ranks batch by batch, gives one process's losses and counts
python3 - one1/metrics.jsonl two1/metrics.jsonl > evals.log 2>&1 <<'PY' && ok "evaluation split over 2 ranks: $(cat evals.log)" || bad "evaluation: $(cat evals.log)"
import json, sys
ev = [[json.loads(l) for l in open(p) if '"type":"eval"' in l] for p in sys.argv[1:]]
assert len(ev[0]) == len(ev[1]) == 2, [len(e) for e in ev]
worst = se = 0
for a, b in zip(*ev):
    for d in a["domains"]:
        x, y = a["domains"][d], b["domains"][d]
        assert x["sequences"] == y["sequences"] == 2 and x["tokens"] == y["tokens"], (x, y)
        worst = max(worst, abs(x["loss"] - y["loss"]) / x["loss"])
        se = max(se, abs(x["loss_se"] - y["loss_se"]))  # a difference of sums: absolute
    assert sum(map(sum, a["moe"][0]["counts"])) == sum(map(sum, b["moe"][0]["counts"]))
assert worst <= 1e-5 and se <= 1e-6, (worst, se)
print(f"both evaluations: losses within {worst:.1e} relative, standard errors within {se:.1e} nats, "
      "the same tokens and routing counts")
PY

# every train line says what the all-reduce carried, and each rank's tokens per expert
python3 - two1/metrics.jsonl <<'PY' && ok "metrics: all-reduce bytes and time, tokens per rank per expert summing to the step's" || bad "metrics: comm or rank_tokens"
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o["type"] != "train": continue
    assert o["comm"]["allreduce_bytes"] > 0 and o["comm"]["allreduce_s"] >= 0
    for layer in o["moe"]:
        rows = layer["rank_tokens"]
        assert len(rows) == 2 and all(len(r) == 4 for r in rows)
        assert sum(map(sum, rows)) == 2 * 1 * 16  # 2 ranks x batch 1 x block 16, top-1
PY
[ "$(ls two1)" = "$(ls one1)" ] && ! ls two1 | grep -qv 'checkpoints\|config.json\|metrics.jsonl' \
  && ok "one run folder, written by rank 0: $(ls two1 | tr '\n' ' ')" || bad "run folder: $(ls two1)"

# a 2-rank run paused at step 4 and resumed logs exactly what the straight run logged
fields() { python3 -c '
import json,sys
for l in open(sys.argv[1]):
    o=json.loads(l); o.pop("tokens_per_s",None); o.get("comm",{}).pop("allreduce_s",None); print(json.dumps(o,sort_keys=True))' "$1"; }
mpi train --out paused --steps 8 --stop-after 4 $base grad_accum=1 > paused.log 2>&1 \
  && mpi train --out paused --resume > resumed.log 2>&1 \
  && diff <(fields two1/metrics.jsonl) <(fields paused/metrics.jsonl) > diff.txt \
  && ok "2-rank resume at step 4 of 8 logs exactly the uninterrupted metrics" \
  || bad "2-rank resume: $(tail -2 paused.log resumed.log) $(head -c 300 diff.txt)"

# SIGKILL to rank 1 mid-run: mpirun ends the job naming the rank; the checkpoints stay whole
mpi train --out killed --steps 100000 $base eval_every=0 checkpoint_every=5 > killed.log 2>&1 &
job=$!
for _ in $(seq 300); do [ -e killed/checkpoints/step-0000010 ] && break; sleep 0.1; done
victim=""
for p in $(pgrep -f "polymoe train --out killed"); do
  grep -qz '^OMPI_COMM_WORLD_RANK=1$' /proc/$p/environ 2>/dev/null && victim=$p
done
if [ -n "$victim" ]; then
  kill -9 "$victim"
  t0=$(date +%s)
  wait $job; rc=$?
  grep -qi "rank 1" killed.log && [ $rc -ne 0 ] && [ $(($(date +%s) - t0)) -lt 60 ] \
    && ok "killing rank 1 ends the job (status $rc) with: $(grep -i -m1 'rank 1' killed.log | cut -c1-110)" \
    || bad "kill: status $rc, $(tail -4 killed.log)"
  pgrep -f "polymoe train --out killed" > /dev/null && bad "a rank outlived the job" || ok "no rank outlives the job"
  last=$(readlink killed/checkpoints/latest); n=$((10#${last#step-}))
  mpi train --out killed --resume --steps $((n + 3)) > again.log 2>&1 \
    && grep -q "^resuming .* at step $n$" again.log && ok "the job resumes from the last checkpoint ($last) and trains on" \
    || bad "resume after the kill: $(tail -3 again.log)"
else
  kill $job 2>/dev/null; wait $job
  bad "kill: no rank 1 process found (log: $(tail -2 killed.log))"
fi

# only train runs across ranks; the refusal ends the job cleanly
msg=$(mpi eval --help 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "only polymoe train runs across 2 MPI ranks" <<<"$msg" \
  && ok "other commands are refused under mpirun" || bad "eval under mpirun: $rc $(head -2 <<<"$msg")"
finish
