#!/usr/bin/env bash
# The run folder is never lost, damaged or misreported: signals during an evaluation, training
# into a folder that holds a run, a missing or dangling `latest`, a full disk, the collapse
# detector across a resume, bad trainer metadata in a checkpoint, and the CLI's integer and
# length checks. Every case leaves what was on disk before it intact.
# usage: test_run_safety.sh PATH/TO/polymoe
source "$(dirname "$0")/testlib.sh"

make_small_corpus
base="data=$PWD/corpus/manifest.json n_layer=2 n_head=2 n_embd=16 block_size=16 batch_size=4 eval_seqs=2 log_every=1 warmup_steps=2 eval_fraction=0.3"
small="$base moe_layers=1 n_experts=4 eval_every=0"

# every logged field but the wall-clock one, one line per metrics line
fields() { python3 -c '
import json,sys
for l in open(sys.argv[1]):
    o=json.loads(l); o.pop("tokens_per_s",None); print(json.dumps(o,sort_keys=True))' "$1"; }
same_metrics() { # name run_a run_b
  if diff <(fields "$2/metrics.jsonl") <(fields "$3/metrics.jsonl") > diff.txt; then ok "$1"; else bad "$1: $(head -c 300 diff.txt)"; fi; }
meta() { python3 -c '
import json,struct,sys
b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]
print(json.loads(b[8:8+n])["__metadata__"].get(sys.argv[2],""))' "$1" "$2"; }
snapshot() { (cd "$1" && find . -type f -o -type l | sort | while read -r f; do echo "$f $(readlink "$f" || md5sum < "$f")"; done); }
expect_fail() { # name pattern command...: non-zero exit below 128, the pattern, no sanitizer report
  local name=$1 pattern=$2; shift 2
  local msg rc
  msg=$("$@" 2>&1); rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qi -- "$pattern" <<<"$msg" && ! grep -q "Sanitizer" <<<"$msg"; then ok "$name"
  else bad "$name (exit $rc): $(tail -3 <<<"$msg")"; fi
}

# --out makes every missing parent; eval reports the checkpoint's step
"$pm" train --out deep/er/run --steps 4 $small > deep.log 2>&1 && [ -f deep/er/run/checkpoints/latest/model.safetensors ] \
  && ok "--out creates its missing parent folders" || bad "--out deep/er/run: $(tail -2 deep.log)"
out=$("$pm" eval --checkpoint deep/er/run 2>&1)
grep -q '"step":4' <<<"$out" && grep -q "eval step 4" <<<"$out" && ok "eval reports the checkpoint's step (4)" \
  || bad "eval step: $(tail -2 <<<"$out")"

# an existing run is refused untouched; --overwrite replaces it and its new checkpoints survive
"$pm" train --out existing --steps 6 $small checkpoint_every=2 > /dev/null 2>&1
before=$(snapshot existing)
expect_fail "training into a folder that holds a run is refused" "already holds a run" "$pm" train --out existing --steps 3 $small
[ "$before" = "$(snapshot existing)" ] && ok "the refused run left the folder byte-identical" || bad "the refused run changed the folder"
"$pm" train --out existing --overwrite --steps 3 $small > ow.log 2>&1 && [ "$(readlink existing/checkpoints/latest)" = step-0000003 ] \
  && [ ! -e existing/checkpoints/step-0000006 ] && [ -f existing/checkpoints/step-0000003/optimizer.safetensors ] \
  && ok "--overwrite replaces the run and keeps its own checkpoint" || bad "--overwrite: $(ls existing/checkpoints) $(tail -2 ow.log)"
"$pm" train --out existing --resume --steps 5 > /dev/null 2>&1 && ok "the overwritten run resumes" || bad "resume after --overwrite"

# pruning keeps the 2 newest checkpoints besides `best`; keep_checkpoints=0 keeps every one
"$pm" train --out keep2 --steps 8 $small checkpoint_every=2 > /dev/null 2>&1
"$pm" train --out keepall --steps 8 $small checkpoint_every=2 keep_checkpoints=0 > /dev/null 2>&1
k2=$(ls keep2/checkpoints | grep -c '^step-'); ka=$(ls keepall/checkpoints | grep -c '^step-')
[ "$k2" -le 3 ] && [ -d keep2/checkpoints/step-0000008 ] && [ "$ka" -eq 4 ] \
  && ok "pruning keeps $k2 of 4 checkpoints by default, keep_checkpoints=0 all $ka" || bad "pruning: default $k2, keep_checkpoints=0 $ka"

# reference: 8 steps straight, with an evaluation at every other step
"$pm" train --out straight --steps 8 $base moe_layers=1 n_experts=4 eval_every=2 checkpoint_every=2 > /dev/null 2>&1

# a missing or dangling `latest`: resume from the newest complete checkpoint, exactly
for how in missing dangling; do
  "$pm" train --out $how --steps 8 --stop-after 6 $base moe_layers=1 n_experts=4 eval_every=2 checkpoint_every=2 > /dev/null 2>&1
  if [ $how = missing ]; then rm $how/checkpoints/latest; else rm -r $how/checkpoints/step-0000006; fi
  msg=$("$pm" train --out $how --resume 2>&1)
  want=$([ $how = missing ] && echo 6 || echo 4)
  grep -q "note: .*latest is $how; using .*step-000000$want" <<<"$msg" && ok "$how latest: says it uses step $want" \
    || bad "$how latest: $(head -3 <<<"$msg")"
  same_metrics "$how latest: the resumed run logs exactly the uninterrupted metrics" straight $how
done

# a signal during an evaluation that is not a checkpoint step: checkpoint of that step, exit
# 130 promptly, and --resume runs the cut evaluation first, giving the uninterrupted metrics
python3 -c '
import os
for d, line in (("code", "def f():\n    return %d\n"), ("prose", "and the word was %d and it was good.\n")):
    os.makedirs("big/" + d)
    for i in range(100):
        open("big/%s/%d.txt" % (d, i), "w").write("".join(line % (i * 1000 + j) for j in range(300)))
open("big/manifest.json", "w").write("{\"domains\": [{\"name\": \"code\", \"files\": [\"code/*.txt\"]}, {\"name\": \"prose\", \"files\": [\"prose/*.txt\"]}]}")'
slow="data=$PWD/big/manifest.json n_layer=2 n_head=2 n_embd=16 block_size=32 batch_size=8 log_every=1 warmup_steps=2 moe_layers=1 n_experts=4 eval_fraction=0.5 eval_every=3 checkpoint_every=100"
signal_in_eval() { # run signal step extra...: starts training, signals once the evaluation of `step` is under way
  local run=$1 sig=$2 step=$3; shift 3
  "$pm" train --out $run $slow "$@" > $run.log 2>&1 &
  local pid=$!
  for _ in $(seq 3000); do grep -q "eval step $step:" $run.log 2>/dev/null && break; sleep 0.01; done
  t0=$(date +%s.%N); kill -$sig $pid; wait $pid; rc=$?; t1=$(date +%s.%N)
}
"$pm" train --out sig_ref --steps 4 $slow eval_seqs=800 > /dev/null 2>&1
signal_in_eval sig INT 3 --steps 4 eval_seqs=800
[ $rc -eq 130 ] && [ "$(readlink sig/checkpoints/latest)" = step-0000003 ] && [ "$(meta sig/checkpoints/latest/optimizer.safetensors pending_eval)" = 1 ] \
  && grep -q "checkpoint of step 3 written" sig.log && ok "SIGINT during an evaluation: exit 130 with the checkpoint it reports" \
  || bad "SIGINT during eval (exit $rc, latest $(readlink sig/checkpoints/latest)): $(tail -2 sig.log)"
"$pm" train --out sig --resume > sig2.log 2>&1 && ok "resume after the cut evaluation" || bad "resume: $(tail -2 sig2.log)"
same_metrics "the cut evaluation is redone: metrics equal the uninterrupted run's" sig_ref sig
# the whole held-out split (minutes here): SIGTERM must not wait for it
signal_in_eval sig_long TERM 3 --steps 100 eval_seqs=1000000
python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 10 else 1)" && [ $rc -eq 130 ] && ok "SIGTERM during a long evaluation exits in $(python3 -c "print(round($t1 - $t0, 1))") s" \
  || bad "SIGTERM during a long evaluation: exit $rc after $(python3 -c "print($t1 - $t0)") s"

# the collapse detector's streak survives a resume: --stop-on-collapse stops at the same step
"$pm" train --out dense --steps 4 $base eval_every=0 moe_layers= > /dev/null 2>&1
up="$base eval_every=0 moe_layers=1 n_experts=4 lb_coef=0 router_noise=0 --init-from dense --upcycle-noise 0 --stop-on-collapse"
"$pm" train --out col_ref --steps 12 $up > /dev/null 2>&1
"$pm" train --out col --steps 12 --stop-after 2 $up > /dev/null 2>&1
"$pm" train --out col --resume --stop-on-collapse > /dev/null 2>&1
ref=$(grep -o '"type":"collapse","step":[0-9]*' col_ref/metrics.jsonl)
[ -n "$ref" ] && [ "$ref" = "$(grep -o '"type":"collapse","step":[0-9]*' col/metrics.jsonl)" ] \
  && ok "collapse after a resume at the uninterrupted step (${ref##*:})" || bad "collapse: '$ref' vs '$(grep -o '"type":"collapse[^}]*' col/metrics.jsonl)'"
same_metrics "collapse run: resumed metrics equal the uninterrupted ones" col_ref col

# LoRA experts (dense routing in training, top-k in eval) with cosine restarts, the entropy
# bonus and accumulation: a resumed run logs exactly the uninterrupted metrics, `best` is the
# evaluation with the lowest mean held-out loss in both, and the optimiser state covers the
# trainable parameters only
lora="$base moe_layers=1 n_experts=4 lora_rank=2 router_mode=dense eval_router_mode=topk lr_cycles=2 entropy_coef=0.01 grad_accum=2 eval_every=2 checkpoint_every=3"
"$pm" train --out lora_ref --steps 10 $lora --init-from dense > lora_ref.log 2>&1 || bad "LoRA run: $(tail -2 lora_ref.log)"
"$pm" train --out lora --steps 10 --stop-after 5 $lora --init-from dense > /dev/null 2>&1
"$pm" train --out lora --resume > lora.log 2>&1 || bad "LoRA resume: $(tail -2 lora.log)"
same_metrics "LoRA, restarts, entropy bonus, accumulation: resumed metrics equal the uninterrupted ones" lora_ref lora
python3 -c '
import json,sys
lr={o["step"]: o["lr"] for o in map(json.loads, open(sys.argv[1])) if o["type"] == "train"}
c=json.load(open(sys.argv[2])); peak=c["lr"]
close=lambda a, b: abs(a - b) <= 1e-6 * peak
# two cycles of 5 steps, each warming up over 2: the restart repeats the first cycle
sys.exit(0 if close(lr[6], lr[1]) and close(lr[7], lr[2]) and close(lr[7], peak) and close(lr[5], peak * c["min_lr_frac"])
         and lr[8] < lr[7] else 1)' lora_ref/metrics.jsonl lora_ref/config.json \
  && ok "lr_cycles=2: the schedule restarts with its warmup at step 6" || bad "lr_cycles=2: $(grep -o '"lr":[0-9.e-]*' lora_ref/metrics.jsonl | head -8 | tr '\n' ' ')"
want=$(python3 -c '
import json,sys
evals=[json.loads(l) for l in open(sys.argv[1]) if "\"eval\"" in l]
best=min(evals, key=lambda o: sum(d["loss"] for d in o["domains"].values()) / len(o["domains"]))
assert all("loss_train_routing" in d for o in evals for d in o["domains"].values())
print("step-%07d" % best["step"])' lora_ref/metrics.jsonl)
[ -n "$want" ] && [ "$(readlink lora_ref/checkpoints/best)" = "$want" ] && [ "$(readlink lora/checkpoints/best)" = "$want" ] \
  && [ -f lora/checkpoints/best/model.safetensors ] && ok "best points at the lowest mean held-out loss ($want) in both runs" \
  || bad "best: want '$want', got '$(readlink lora_ref/checkpoints/best)' and '$(readlink lora/checkpoints/best)'"
python3 -c '
import json,struct,sys
b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]
m=json.loads(b[8:8+n])["adamw.m"]["shape"][0]
p=[json.loads(l) for l in open(sys.argv[2]) if "\"params\"" in l][0]
sys.exit(0 if m == p["trainable"] < p["total"] else 1)' lora/checkpoints/latest/optimizer.safetensors lora/metrics.jsonl \
  && ok "LoRA: AdamW moments only for the trainable parameters" || bad "LoRA: the optimiser state is not the trainable size"

# bad trainer metadata in the optimizer file: a clear error, nothing on disk changed
setmeta() { python3 -c '
import json,struct,sys
p,k,v=sys.argv[1:4]; b=open(p,"rb").read(); n=struct.unpack("<Q",b[:8])[0]
h=json.loads(b[8:8+n]); h["__metadata__"][k]=v
j=json.dumps(h).encode(); j+=b" "*((8-len(j)%8)%8)
open(p,"wb").write(struct.pack("<Q",len(j))+j+b[8+n:])' "$@"; }
"$pm" train --out meta_src --steps 2 $small > /dev/null 2>&1
for kv in "step=abc" "step=-3" "step=2.5" "step=1e3" "step=99999999999" "step= 2" "data_state=1,2" "data_state=x" \
          "data_state=" "collapse_streak=7x" "collapsed_at=9" "pending_eval=2" "metrics_bytes=-9"; do
  rm -rf meta && cp -r meta_src meta
  setmeta meta/checkpoints/step-0000002/optimizer.safetensors "${kv%%=*}" "${kv#*=}"
  before=$(snapshot meta)
  expect_fail "optimizer metadata $kv is refused" "${kv%%=*}" "$pm" train --out meta --resume --steps 4
  [ "$before" = "$(snapshot meta)" ] || bad "optimizer metadata $kv: the run folder changed"
done

# --resume with --steps below the checkpoint: refused, config.json untouched
before=$(snapshot meta_src)
expect_fail "--resume --steps below the checkpoint's step is refused" "below" "$pm" train --out meta_src --resume --steps 1
[ "$before" = "$(snapshot meta_src)" ] && ok "... and the run folder is unchanged" || bad "--steps below: the run folder changed"
expect_fail "--steps 2.5 is refused" "whole number" "$pm" train --steps 2.5 $small --out r_half
expect_fail "--out longer than the buffer is refused" "longer than" "$pm" train $small --out "$(printf 'x%.0s' $(seq 600))"

# a full disk: a clear error, no partial metrics line, the last checkpoint intact and resumable
if mkdir -p full && mount -t tmpfs -o size=1m tmpfs full 2>/dev/null; then
  trap 'umount "$work/full" 2>/dev/null; rm -rf "$work"' EXIT
  "$pm" train --out full/run --steps 40 --stop-after 2 $small checkpoint_every=2 > /dev/null 2>&1
  ls -l full/run/checkpoints/step-0000002 > /dev/null && ck=$(snapshot full/run/checkpoints/step-0000002)
  head -c $(( $(df --output=avail -B1 full | tail -1) - 3000 )) /dev/zero > full/filler 2>/dev/null
  msg=$("$pm" train --out full/run --resume 2>&1); rc=$?
  python3 -c '
import json,sys
t=open(sys.argv[1]).read(); assert t.endswith("\n")
for l in t.splitlines(): json.loads(l)' full/run/metrics.jsonl 2>/dev/null; whole=$?
[ $rc -eq 1 ] && grep -qi "no space left" <<<"$msg" && [ $whole -eq 0 ] && [ "$ck" = "$(snapshot full/run/checkpoints/step-0000002)" ] \
    && ok "full disk: clear error, whole metrics lines, last checkpoint intact" || bad "full disk (exit $rc, lines whole: $whole): $(tail -2 <<<"$msg")"
  rm full/filler
  "$pm" train --out full/run --resume > /dev/null 2>&1 && "$pm" train --out full_ref --steps 40 $small checkpoint_every=2 > /dev/null 2>&1
  same_metrics "full disk: after freeing space the resumed run equals the uninterrupted one" full_ref full/run
  umount full
else
  echo "skip  full disk: cannot mount a tmpfs here (needs root)"
fi

# the report skips a truncated last metrics line, with a warning naming file:line
printf '{"type":"train","step":9,"lm_lo' >> straight/metrics.jsonl
msg=$("$pm" report straight --out rep 2>&1)
[ $? -eq 0 ] && grep -q "metrics.jsonl:[0-9]*: skipping a truncated last line" <<<"$msg" && ok "report skips a truncated last line" \
  || bad "report on a truncated line: $(tail -2 <<<"$msg")"

finish
