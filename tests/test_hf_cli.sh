#!/usr/bin/env bash
# Hugging Face GPT-2 folders on the command line (tests/fixtures/hf): eval and generate take
# one as a checkpoint, train --init-from upcycles one into an MoE run that trains and
# checkpoints, and every checkpoint folder holds a config.json in transformers' format.
# usage: test_hf_cli.sh PATH/TO/polymoe SOURCE_DIR
set -u
src=$(realpath "$2")
source "$(dirname "$0")/testlib.sh"
hf="$src/tests/fixtures/hf"
export POLYMOE_CACHE_DIR="$work/cache"
cd "$src"   # the default corpus lives in data/default of the source tree (built on first use)
out=$("$pm" eval --checkpoint "$hf/hub" eval_seqs=2 2>&1)
echo "$out" | grep -q '"bits_per_byte"' && ok "eval takes a Hugging Face folder (hub names)" || bad "eval: $out"
out=$("$pm" generate --checkpoint "$hf/sharded" --prompt "def " --tokens 4 --temperature 0 2>&1)
[ $? -eq 0 ] && [ "${out:0:4}" = "def " ] && ok "generate takes a sharded Hugging Face folder" || bad "generate: $out"
shape=(n_embd=16 n_layer=2 n_head=2 block_size=64 "tokenizer=bpe:$hf/bf16")
if "$pm" train --out "$work/up" --init-from "$hf/bf16" --upcycle-noise 0 --steps 2 "${shape[@]}" moe_layers=1 \
     n_experts=4 batch_size=2 eval_every=0 eval_seqs=2 > "$work/up.log" 2>&1; then
  ok "train --init-from a BF16 Hugging Face folder upcycles it into an MoE run"
else
  bad "upcycling: $(tail -3 "$work/up.log")"
fi
cfg="$work/up/checkpoints/latest/config.json"
grep -q '"model_type":.*"polymoe_gpt2_moe"' "$cfg" && grep -q '"n_experts":.*4' "$cfg" &&
  ok "an MoE checkpoint's config.json records its MoE fields" || bad "MoE config.json: $(cat "$cfg" 2>&1 | head -5)"
# a shorter block than the folder's 64 positions takes the first 32 (GPT-2's 1024 into 512)
"$pm" train --out "$work/dense" --init-from "$hf/f32" --steps 1 "${shape[@]}" block_size=32 moe_layers= batch_size=2 \
  eval_every=0 eval_seqs=2 > "$work/dense.log" 2>&1 && ok "--init-from into a shorter block takes the first positions" ||
  bad "shorter block: $(tail -3 "$work/dense.log")"
cfg="$work/dense/checkpoints/latest/config.json"
grep -q '"architectures":.*"GPT2LMHeadModel"' "$cfg" && grep -q '"model_type":.*"gpt2"' "$cfg" &&
  ok "a dense checkpoint's config.json is GPT2LMHeadModel's" || bad "dense config.json: $(tail -3 "$work/dense.log")"
out=$("$pm" train --out "$work/widths" --init-from "$hf/f32" --steps 1 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "tokenizer" && ok "--init-from with another tokenizer is refused" || bad "$out"
finish
