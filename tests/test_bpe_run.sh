#!/usr/bin/env bash
# A GPT-2 BPE run of the tiny config on every backend with a device here: it trains (3 steps),
# evaluates (bits per byte) and generates, from a checkpoint that carries its own tokenizer.
# Then what must be refused is: another tokenizer on resume, tampered tokenizer files, a
# vocab_size below the tokenizer's. The token cache is written once and reused.
# usage: test_bpe_run.sh PATH/TO/polymoe SOURCE_DIR
set -u
src=$(realpath "$2")
source "$(dirname "$0")/testlib.sh"
vocab="$src/tests/fixtures/bpe/v512"
export POLYMOE_CACHE_DIR="$work/cache"
cd "$src"   # the default corpus lives in data/default of the source tree (built on first use)
args=(--steps 3 "tokenizer=bpe:$vocab" vocab_size=0 batch_size=4 eval_every=0 eval_seqs=2 log_every=1)
backends=$("$pm" devices | awk '/^[a-z]+:$/ {b=$1; sub(":", "", b)} /\[0\]/ && b {print b; b=""}')
for b in $backends; do
  run="$work/run-$b"
  if "$pm" train --backend "$b" --out "$run" "${args[@]}" > "$work/$b.log" 2>&1 &&
     grep -q "tokenizer bpe:$vocab, 512 tokens" "$work/$b.log" && grep -q "bits/byte" "$work/$b.log"; then
    ok "$b: a BPE run trains 3 steps and evaluates in bits per byte"
  else
    bad "$b: BPE training"; tail -5 "$work/$b.log"; continue
  fi
  out=$("$pm" eval --backend "$b" --checkpoint "$run" eval_seqs=2 2>&1)
  if echo "$out" | grep -q '"bits_per_byte"'; then ok "$b: eval reports bits_per_byte"; else bad "$b: eval: $out"; fi
  gen=$("$pm" generate --backend "$b" --checkpoint "$run" --prompt "def " --tokens 8 --temperature 0 2>&1)
  if [ $? -eq 0 ] && [ "${gen:0:4}" = "def " ]; then ok "$b: generate decodes BPE tokens"; else bad "$b: generate: $gen"; fi
done
[ -n "$backends" ] || bad "no backend has a device"

run="$work/run-$(echo $backends | cut -d' ' -f1)"
ck="$run/checkpoints/latest"
id_fixture=$("$pm" tokenizer info --tokenizer "$vocab" | awk '/^identity/ {print $2}')
id_ck=$("$pm" tokenizer info --tokenizer "$ck" | awk '/^identity/ {print $2}')
if [ -f "$ck/tokenizer.json" ] && [ -n "$id_ck" ] && [ "$id_ck" = "$id_fixture" ]; then
  ok "the checkpoint holds a copy of its tokenizer ($id_ck)"
else
  bad "checkpoint tokenizer copy: '$id_ck' vs '$id_fixture'"
fi
n_cache=$(ls "$POLYMOE_CACHE_DIR" 2>/dev/null | wc -l)
[ "$n_cache" -eq 3 ] && ok "the token cache holds one file per domain" || bad "token cache: $n_cache files"
before=$(stat -c %Y "$POLYMOE_CACHE_DIR"/*.tokens | sort | tr '\n' ' ')
"$pm" train --backend cpu --out "$work/again" "${args[@]}" --steps 1 > "$work/again.log" 2>&1
after=$(stat -c %Y "$POLYMOE_CACHE_DIR"/*.tokens | sort | tr '\n' ' ')
[ "$n_cache" -eq 3 ] && [ "$before" = "$after" ] && ! grep -q "token cache" "$work/again.log" && ok "a second run reads the token cache" ||
  bad "second run: the cache was rewritten or noted"
for f in "$POLYMOE_CACHE_DIR"/*.tokens; do printf 'junk' > "$f"; done
if "$pm" train --backend cpu --out "$work/stale" "${args[@]}" --steps 1 > "$work/stale.log" 2>&1 &&
   grep -q "stale; encoding again" "$work/stale.log"; then ok "a damaged cache is noted and encoded again"
else bad "damaged cache"; tail -3 "$work/stale.log"; fi

out=$("$pm" train --backend cpu --out "$run" --resume --steps 4 tokenizer=byte 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "another tokenizer" && ok "resume with another tokenizer is refused" ||
  bad "resume with another tokenizer: $out"
out=$("$pm" train --backend cpu --out "$work/small" "tokenizer=bpe:$vocab" vocab_size=300 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "smaller than" && ok "vocab_size below the tokenizer's is refused" ||
  bad "small vocab_size: $out"
out=$("$pm" train --backend cpu --out "$work/nofile" "tokenizer=bpe:$work/nowhere" 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "no such file" && ok "a missing tokenizer folder is named" || bad "missing tokenizer: $out"
sed -i 's/"<|endoftext|>"/"<|endoftxt|>"/' "$ck/tokenizer.json"
out=$("$pm" eval --backend cpu --checkpoint "$run" eval_seqs=2 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "tokenizer" && ok "a checkpoint with tampered tokenizer files is refused" ||
  bad "tampered tokenizer: $out"
finish
