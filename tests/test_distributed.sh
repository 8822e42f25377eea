#!/usr/bin/env bash
# Data-parallel and expert-parallel training over MPI on the cpu backend: 2 ranks
# (oversubscribed on any machine) give the per-step losses of one process with the same global
# batch, for top-1 and top-2, and expert parallelism (2 of the 4 experts on each rank) writes
# the one-process checkpoint; so do 4 ranks, expert parallel in one group and in 2 groups of
# 2; a resume is exact; a rank killed with SIGKILL ends the
# whole job with a message that names it, the last checkpoint intact, and the job resumes from it.
# usage: test_distributed.sh PATH/TO/polymoe
source "$(dirname "$0")/testlib.sh"

# CI runs as root; Open MPI refuses that unless told. One OpenMP thread per rank.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1
mpi() { mpirun --oversubscribe -np 2 "$pm" "$@"; }

make_small_corpus
# batch 1: 3 held-out sequences per domain are 3 evaluation batches, 2 for rank 0 and 1 for
# rank 1 (which under expert parallelism runs a forward without a batch of its own)
base="data=$PWD/corpus/manifest.json n_layer=2 n_head=2 n_embd=16 block_size=16 batch_size=1 eval_seqs=3 log_every=1
      warmup_steps=2 eval_fraction=0.3 moe_layers=0,1 n_experts=4 eval_every=4 checkpoint_every=4"

# the largest relative difference of a field over the train lines of two runs
worst() { python3 -c '
import json,sys
def rows(p): return [json.loads(l) for l in open(p) if "\"type\":\"train\"" in l.replace(" ", "")]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert len(a) == len(b) > 0, (len(a), len(b))
print(max(abs(x[sys.argv[3]] - y[sys.argv[3]]) / abs(x[sys.argv[3]]) for x, y in zip(a, b)))' "$@"; }

# a run's metrics without its timings
fields() { python3 -c '
import json,sys
for l in open(sys.argv[1]):
    o=json.loads(l); o.pop("tokens_per_s",None); [o.get("comm",{}).pop(k,None) for k in ("allreduce_s","alltoall_s")]; print(json.dumps(o,sort_keys=True))' "$1"; }

for k in 1 2; do
  "$pm" train --out one$k --steps 8 $base top_k=$k grad_accum=2 > one$k.log 2>&1 || bad "top-$k one process: $(tail -2 one$k.log)"
  for mode in two ep; do  # data parallel; expert parallel
    extra=""; [ $mode = ep ] && extra="expert_parallel=2"; name=$([ $mode = ep ] && echo expert || echo data)
    if mpi train --out $mode$k --steps 8 $base top_k=$k grad_accum=1 $extra > $mode$k.log 2>&1; then
      grep -q "$name parallel over 2 ranks" $mode$k.log && ok "top-$k: 2 ranks train $name parallel ($(grep -o 'over 2 ranks ([^)]*)' $mode$k.log))" \
        || bad "top-$k: no $name-parallel line: $(head -5 $mode$k.log)"
    else
      bad "top-$k 2 ranks $name parallel: $(tail -3 $mode$k.log)"
    fi
    for f in loss lm_loss grad_norm; do
      w=$(worst one$k/metrics.jsonl $mode$k/metrics.jsonl $f 2>&1)
      python3 -c "import sys; sys.exit(0 if float('$w') <= 1e-5 else 1)" 2>/dev/null \
        && ok "top-$k $name parallel: $f of 2 ranks x 1 micro-batch = 1 process x 2, all 8 steps (worst relative difference $w)" \
        || bad "top-$k $name parallel: $f differs: $w"
    done
  done
done

# the evaluation, dealt out over the ranks batch by batch, gives one process's losses and counts
for mode in two ep; do
python3 - one1/metrics.jsonl ${mode}1/metrics.jsonl > evals.log 2>&1 <<'PY' && ok "evaluation split over 2 ranks ($mode): $(cat evals.log)" || bad "evaluation ($mode): $(cat evals.log)"
import json, sys
ev = [[json.loads(l) for l in open(p) if '"type":"eval"' in l] for p in sys.argv[1:]]
assert len(ev[0]) == len(ev[1]) == 2, [len(e) for e in ev]
worst = se = 0
for a, b in zip(*ev):
    for d in a["domains"]:
        x, y = a["domains"][d], b["domains"][d]
        assert x["sequences"] == y["sequences"] == 3 and x["tokens"] == y["tokens"], (x, y)
        worst = max(worst, abs(x["loss"] - y["loss"]) / x["loss"])
        se = max(se, abs(x["loss_se"] - y["loss_se"]))  # a difference of sums: absolute
    assert sum(map(sum, a["moe"][0]["counts"])) == sum(map(sum, b["moe"][0]["counts"]))
assert worst <= 1e-5 and se <= 1e-6, (worst, se)
print(f"both evaluations: losses within {worst:.1e} relative, standard errors within {se:.1e} nats, "
      "the same tokens and routing counts")
PY
done

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
# expert parallel: the counters against the volumes of docs/distributed.md. Rank 0 (which logs)
# holds experts 0-1: in the forward and again in the backward it sends its rows routed to
# experts 2-3 to rank 1, and returns rank 1's rows routed to experts 0-1, rows of C = 16 floats
# of 4 bytes; the all-reduce carries only the tensors every rank holds (all but the 2 x 4
# experts of 2 C H + H + C parameters, H = 4 C) and 240 bytes of statistics (those of data
# parallelism, the experts' part of the squared gradient norm and each expert's norm).
for k in 1 2; do
python3 - ep$k/metrics.jsonl > counters.log 2>&1 <<'PY' && ok "top-$k expert parallel: $(cat counters.log)" || bad "top-$k expert-parallel counters: $(cat counters.log)"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
total = next(o for o in lines if o["type"] == "params")["total"]
C, H = 16, 64
shared = total - 2 * 4 * (2 * C * H + H + C)
steps = [o for o in lines if o["type"] == "train"]
for o in steps:
    rows = sum(sum(layer["rank_tokens"][0][2:]) + sum(layer["rank_tokens"][1][:2]) for layer in o["moe"])
    assert o["comm"]["alltoall_bytes"] == 2 * rows * C * 4, (o["comm"], rows)
    assert o["comm"]["allreduce_bytes"] == shared * 4 + 240, (o["comm"], shared)
print(f"all-to-all bytes = 2 x (rows to rank 1's experts + rows back from rank 0's) x C x 4 and all-reduce bytes = {shared} shared x 4 + 240, exactly, "
      f"on all {len(steps)} steps")
PY
done

# the checkpoint holds the whole model, gathered to rank 0: the one-process checkpoint
python3 - one2/checkpoints/step-0000008 ep2/checkpoints/step-0000008 > ckpt.log 2>&1 <<'PY' && ok "expert parallel: $(cat ckpt.log)" || bad "expert-parallel checkpoint: $(cat ckpt.log)"
import array, json, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        a = array.array("f"); a.frombytes(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]); out[k] = a
    return out
worst = {}
for f in ("model", "optimizer"):
    a, b = (load(f"{d}/{f}.safetensors") for d in sys.argv[1:])
    assert sorted(a) == sorted(b), set(a) ^ set(b)
    worst[f] = max(max(abs(x - y) for x, y in zip(a[k], b[k])) for k in a)
    assert worst[f] <= 1e-5, worst
print(f"step 8's checkpoint has the one-process tensors, parameters within {worst['model']:.1e} and AdamW "
      f"moments within {worst['optimizer']:.1e}")
PY

# 4 ranks against one process with accumulation 4: one group of 4 ranks holding 2 of 8 experts
# each (every row block of the regrouping in use), and 2 groups of 2 holding 2 of 4 experts each
# (expert gradients summed over the 2 replicas), top-2; the latter paused and resumed
"$pm" train --out one8 --steps 6 $base n_experts=8 top_k=2 grad_accum=4 > one8.log 2>&1 \
  && mpirun --oversubscribe -np 4 "$pm" train --out ep8 --steps 6 $base n_experts=8 top_k=2 grad_accum=1 \
       expert_parallel=4 > ep8.log 2>&1 \
  && w=$(worst one8/metrics.jsonl ep8/metrics.jsonl loss) && g=$(worst one8/metrics.jsonl ep8/metrics.jsonl grad_norm) \
  && python3 -c "import sys; sys.exit(0 if max(float('$w'), float('$g')) <= 1e-5 else 1)" \
  && ok "4 ranks x 2 of 8 experts, top-2: losses and gradient norms of one process x 4 (worst relative differences $w, $g)" \
  || bad "4-rank expert parallel: $(tail -n 2 one8.log ep8.log) $w $g"
"$pm" train --out one4 --steps 8 $base top_k=2 grad_accum=4 > one4.log 2>&1 \
  && mpirun --oversubscribe -np 4 "$pm" train --out groups --steps 8 $base top_k=2 grad_accum=1 expert_parallel=2 > groups.log 2>&1 \
  && grep -q "2 groups of 2" groups.log \
  && w=$(worst one4/metrics.jsonl groups/metrics.jsonl loss) && g=$(worst one4/metrics.jsonl groups/metrics.jsonl grad_norm) \
  && python3 -c "import sys; sys.exit(0 if max(float('$w'), float('$g')) <= 1e-5 else 1)" \
  && ok "2 groups x 2 ranks x 2 of 4 experts, top-2: losses and gradient norms of one process x 4 (worst relative differences $w, $g)" \
  || bad "expert x data parallel: $(tail -n 2 one4.log groups.log) $w $g"
mpirun --oversubscribe -np 4 "$pm" train --out gpause --steps 8 --stop-after 4 $base top_k=2 grad_accum=1 expert_parallel=2 > gpause.log 2>&1 \
  && mpirun --oversubscribe -np 4 "$pm" train --out gpause --resume > gresume.log 2>&1 \
  && diff <(fields groups/metrics.jsonl) <(fields gpause/metrics.jsonl) > diff.txt \
  && ok "2 groups x 2 ranks: a resume at step 4 of 8 logs exactly the uninterrupted metrics" \
  || bad "expert x data parallel resume: $(tail -n 2 gpause.log gresume.log) $(head -c 300 diff.txt)"

# expert parallel with dropping, dense routing, router noise with clipping, and upcycled experts:
# each against one process over 6 steps
"$pm" train --out dense0 --steps 4 $base moe_layers= > dense0.log 2>&1 || bad "dense run to upcycle: $(tail -n 2 dense0.log)"
for extra in capacity_factor=1.0 router_mode=dense "eval_router_mode=dense top_k=2" \
             "router_noise=0.5 grad_clip=0.1 lb_coef=0.1" "--init-from dense0"; do
  rm -rf v1 v2
  "$pm" train --out v1 --steps 6 $base grad_accum=2 $extra > v1.log 2>&1 \
    && mpi train --out v2 --steps 6 $base grad_accum=1 expert_parallel=2 $extra > v2.log 2>&1 \
    && w=$(worst v1/metrics.jsonl v2/metrics.jsonl loss) && g=$(worst v1/metrics.jsonl v2/metrics.jsonl grad_norm) \
    && python3 -c "import sys; sys.exit(0 if max(float('$w'), float('$g')) <= 1e-5 else 1)" \
    && ok "expert parallel with $extra: losses and gradient norms of one process (worst relative differences $w, $g)" \
    || bad "expert parallel with $extra: $(tail -n 2 v1.log v2.log) $w $g"
done

# an expert-parallel run paused and resumed logs what the straight one did; its checkpoint
# resumes in one process (expert_parallel=1) as the one-process run's own does
mpi train --out eppause --steps 8 --stop-after 4 $base top_k=2 grad_accum=1 expert_parallel=2 > eppause.log 2>&1 \
  && mpi train --out eppause --resume > epresume.log 2>&1 \
  && diff <(fields ep2/metrics.jsonl) <(fields eppause/metrics.jsonl) > diff.txt \
  && ok "expert parallel: a 2-rank resume at step 4 of 8 logs exactly the uninterrupted metrics" \
  || bad "expert-parallel resume: $(tail -n 2 eppause.log epresume.log) $(head -c 300 diff.txt)"
cp -r ep2 epone && cp -r one2 oneon \
  && "$pm" train --out epone --resume --steps 10 expert_parallel=1 grad_accum=2 > epone.log 2>&1 \
  && "$pm" train --out oneon --resume --steps 10 > oneon.log 2>&1 \
  && w=$(worst oneon/metrics.jsonl epone/metrics.jsonl lm_loss) \
  && python3 -c "import sys; sys.exit(0 if float('$w') <= 1e-5 else 1)" \
  && ok "one process resumes the expert-parallel checkpoint to step 10 as it resumes its own (worst relative difference $w)" \
  || bad "one process from the expert-parallel checkpoint: $(tail -n 2 epone.log oneon.log)"

# what expert parallelism needs, said before anything runs
msg=$("$pm" train --out eperr1 --steps 2 $base expert_parallel=2 2>&1)
grep -q "expert_parallel 2 needs a multiple of 2 ranks (mpirun -np 2, 4, ...); this job has 1" <<<"$msg" \
  && ok "one process refuses expert_parallel=2" || bad "expert_parallel=2 in one process: $msg"
msg=$(mpi train --out eperr2 --steps 2 $base expert_parallel=4 2>&1)
grep -q "expert_parallel 4 needs a multiple of 4 ranks (mpirun -np 4, 8, ...); this job has 2" <<<"$msg" \
  && ok "2 ranks refuse expert_parallel=4" || bad "expert_parallel=4 on 2 ranks: $msg"
msg=$("$pm" train --out eperr3 --steps 2 $base expert_parallel=3 2>&1)
grep -q "n_experts (4) a multiple of it" <<<"$msg" && ok "expert_parallel=3 of 4 experts is refused" \
  || bad "expert_parallel=3: $msg"

[ "$(ls two1)" = "$(ls one1)" ] && ! ls two1 | grep -qv 'checkpoints\|config.json\|metrics.jsonl' \
  && ok "one run folder, written by rank 0: $(ls two1 | tr '\n' ' ')" || bad "run folder: $(ls two1)"

# a 2-rank run paused at step 4 and resumed logs exactly what the straight run logged
mpi train --out paused --steps 8 --stop-after 4 $base grad_accum=1 > paused.log 2>&1 \
  && mpi train --out paused --resume > resumed.log 2>&1 \
  && diff <(fields two1/metrics.jsonl) <(fields paused/metrics.jsonl) > diff.txt \
  && ok "2-rank resume at step 4 of 8 logs exactly the uninterrupted metrics" \
  || bad "2-rank resume: $(tail -n 2 paused.log resumed.log) $(head -c 300 diff.txt)"

# SIGKILL to rank 1 mid-run: mpirun ends the job naming the rank; the checkpoints stay whole
# (under expert parallelism rank 1 also sends its experts to rank 0 for every checkpoint)
for mode in two ep; do
extra=""; [ $mode = ep ] && extra="expert_parallel=2"; run=killed$mode
mpi train --out $run --steps 100000 $base eval_every=0 checkpoint_every=5 $extra > $run.log 2>&1 &
job=$!
for _ in $(seq 300); do [ -e $run/checkpoints/step-0000010 ] && break; sleep 0.1; done
victim=""
for p in $(pgrep -f "polymoe train --out $run "); do
  grep -qz '^OMPI_COMM_WORLD_RANK=1$' /proc/$p/environ 2>/dev/null && victim=$p
done
if [ -n "$victim" ]; then
  kill -9 "$victim"
  t0=$(date +%s)
  wait $job; rc=$?
  grep -qi "rank 1" $run.log && [ $rc -ne 0 ] && [ $(($(date +%s) - t0)) -lt 60 ] \
    && ok "$mode: killing rank 1 ends the job (status $rc) with: $(grep -i -m1 'rank 1' $run.log | cut -c1-110)" \
    || bad "$mode: kill: status $rc, $(tail -4 $run.log)"
  for _ in $(seq 50); do pgrep -f "polymoe train --out $run " > /dev/null || break; sleep 0.1; done  # reaped
  pgrep -f "polymoe train --out $run " > /dev/null && bad "$mode: a rank outlived the job by 5 s" || ok "$mode: no rank outlives the job"
  last=$(readlink $run/checkpoints/latest); n=$((10#${last#step-}))
  mpi train --out $run --resume --steps $((n + 3)) > again.log 2>&1 \
    && grep -q "^resuming .* at step $n$" again.log && ok "$mode: the job resumes from the last checkpoint ($last) and trains on" \
    || bad "$mode: resume after the kill: $(tail -3 again.log)"
else
  kill $job 2>/dev/null; wait $job
  bad "$mode: kill: no rank 1 process found (log: $(tail -2 $run.log))"
fi
done

# only train runs across ranks; the refusal ends the job cleanly
msg=$(mpi eval --help 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "only polymoe train runs across 2 MPI ranks" <<<"$msg" \
  && ok "other commands are refused under mpirun" || bad "eval under mpirun: $rc $(head -2 <<<"$msg")"
finish
