#!/usr/bin/env bash
# End-to-end tests of the polymoe command: training, exact resume, generation, and bad input
# (each must give one clear message and a non-zero exit, never a crash).
# usage: test_cli.sh PATH/TO/polymoe
source "$(dirname "$0")/testlib.sh"

make_small_corpus
small="data=corpus/manifest.json n_layer=2 n_head=2 n_embd=16 block_size=16 batch_size=4 moe_layers=1 n_experts=4 eval_every=0 eval_seqs=2 log_every=1 warmup_steps=2 eval_fraction=0.3 router_noise=0.5 noise_anneal=0.5"

train_losses() { python3 -c '
import json,sys
for l in open(sys.argv[1]):
    o=json.loads(l)
    if o["type"]=="train": print(o["step"], repr(o["lm_loss"]), repr(o["grad_norm"]))' "$1"; }

# exact resume: 10 steps straight, against 5 steps, stop, then --resume to 10
"$pm" train --out straight --steps 10 $small > straight.log 2>&1 || bad "train 10 steps (see log)"
"$pm" train --out resumed --steps 10 --stop-after 5 $small > part1.log 2>&1 || bad "train to step 5"
"$pm" train --out resumed --resume > part2.log 2>&1 || bad "resume to step 10"
if [ -s straight/metrics.jsonl ] && diff <(train_losses straight/metrics.jsonl) <(train_losses resumed/metrics.jsonl) > diff.txt; then
  ok "resume at step 5 of 10 gives identical losses and grad norms ($(train_losses straight/metrics.jsonl | wc -l) steps)"
else
  bad "resume differs: $(head -5 diff.txt)"
fi
[ -f straight/checkpoints/latest/model.safetensors ] && ok "checkpoint written" || bad "no checkpoint"
grep -q '"type":"eval"' straight/metrics.jsonl && ok "final evaluation in metrics" || bad "no eval line"

out=$("$pm" generate --checkpoint straight --prompt "def " --tokens 20 2>&1) && [ ${#out} -gt 4 ] \
  && ok "generate samples from the checkpoint" || bad "generate: $out"

# monitoring: per-expert gradient norms and the drop rate (capacity 0.5 drops half the
# assignments at least), routing summed over both micro-batches of a step, the parameter line
"$pm" train --out mon --steps 2 $small capacity_factor=0.5 grad_accum=2 > mon.log 2>&1 || bad "monitored run: $(tail -2 mon.log)"
python3 - mon/metrics.jsonl > mon.txt 2>&1 <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
params = [o for o in lines if o["type"] == "params"][0]
train = [o for o in lines if o["type"] == "train"]
layer = train[-1]["moe"][0]
N = 4 * 16 * 2  # batch x block x accumulation
assert params["trainable"] == params["total"] > 0 and params["optimizer_bytes"] == 8 * params["total"], params
assert len(layer["expert_grad_norm"]) == 4 and all(x >= 0 for x in layer["expert_grad_norm"]), layer
assert any(x > 0 for x in layer["expert_grad_norm"]), layer
assert 0.5 <= layer["drop_rate"] < 1, layer["drop_rate"]
assert all(abs(f * N - round(f * N)) < 1e-6 for f in layer["f"]) and abs(sum(layer["f"]) - 1) < 1e-6, layer["f"]
ev = [o for o in lines if o["type"] == "eval"][-1]["domains"]
assert all(d["sequences"] == 2 and d["loss_se"] > 0 and d["ngram_loss"] > 0 for d in ev.values()), ev
print(f"drop rate {layer['drop_rate']:.3f}, expert gradient norms {[round(x, 4) for x in layer['expert_grad_norm']]}")
PY
[ $? -eq 0 ] && ok "metrics: $(cat mon.txt)" || bad "metrics: $(tail -3 mon.txt)"

# bad input: expect a non-zero exit, a message containing the pattern, and no sanitizer report
expect_error() { # name pattern command...
  local name=$1 pattern=$2; shift 2
  local msg rc
  msg=$("$@" 2>&1); rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qi -- "$pattern" <<<"$msg" && ! grep -q "Sanitizer" <<<"$msg"; then
    ok "$name"
  else
    bad "$name (exit $rc): $(head -3 <<<"$msg")"
  fi
}
expect_error "unknown subcommand" "unknown command" "$pm" frobnicate
expect_error "unknown flag" "unknown option" "$pm" train --frobnicate
expect_error "flag without value" "needs a value" "$pm" train --steps
expect_error "bad number" "wants a number" "$pm" train --steps abc
expect_error "unknown config key" "unknown key" "$pm" train nonsense=3
expect_error "config value out of range" "outside" "$pm" train n_layer=0
expect_error "inconsistent config" "multiple of n_head" "$pm" train n_embd=30 n_head=4
expect_error "top_k above experts" "top_k" "$pm" train top_k=9 n_experts=8
echo '{"n_layer": "four"}' > wrongtype.json
expect_error "config wrong type" "wrong type" "$pm" train --config wrongtype.json
echo '{not json' > garbage.json
expect_error "config not JSON" "not a JSON" "$pm" train --config garbage.json
expect_error "missing config file" "cannot open" "$pm" train --config nowhere.json
expect_error "missing manifest" "manifest" "$pm" train data=nowhere/manifest.json --out r1
mkdir -p empty && : > empty/e.txt && : > empty/f.txt
echo '{"domains": [{"name": "x", "files": ["e.txt", "f.txt"]}]}' > empty/manifest.json
expect_error "empty corpus files" "empty" "$pm" train data=empty/manifest.json --out r2
echo '{"domains": [{"name": "x", "files": ["missing*.txt"]}]}' > empty/m2.json
expect_error "glob matching nothing" "match" "$pm" train data=empty/m2.json --out r3
expect_error "unknown backend" "unknown backend" "$pm" train --backend nosuch $small --out r4
expect_error "no such device" "no device" "$pm" train --device 7 $small --out r5
expect_error "resume without a run" "nothing to resume" "$pm" train --resume --out nowhere
expect_error "generate without checkpoint" "required" "$pm" generate --prompt hi
expect_error "generate from missing dir" "no checkpoint" "$pm" generate --checkpoint nowhere --prompt hi
mkdir -p trunc && head -c 1000 straight/checkpoints/latest/model.safetensors > trunc/model.safetensors
expect_error "truncated checkpoint" "truncated\|past the end" "$pm" generate --checkpoint trunc --prompt hi
mkdir -p garbage && head -c 5000 /dev/urandom > garbage/model.safetensors
expect_error "garbage checkpoint" "safetensors\|JSON\|truncated" "$pm" generate --checkpoint garbage --prompt hi
mkdir -p short && cp straight/checkpoints/latest/model.safetensors short/ && truncate -s -100 short/model.safetensors
expect_error "checkpoint missing its tail" "past the end\|truncated" "$pm" eval --checkpoint short

finish
