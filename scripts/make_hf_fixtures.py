#!/usr/bin/env python3
"""Make the committed Hugging Face GPT-2 fixtures in tests/fixtures/hf/.

One small random GPT-2 (GPT2LMHeadModel, width 16, 2 layers, 2 heads, 64 positions, the
512-token BPE of tests/fixtures/bpe/v512) saved the ways a user meets it:

  f32/      save_pretrained, float32, names with the `transformer.` prefix
  bf16/     the same weights as bfloat16
  f16/      the same weights as float16
  hub/      float32 with the hub's names (no prefix: `h.0.attn.c_attn.weight`, `wte.weight`),
            as openai-community/gpt2's model.safetensors has them
  sharded/  save_pretrained with a small max_shard_size: model.safetensors.index.json + shards

Each folder also holds config.json and tokenizer files (f32 and hub all three; bf16 and f16
tokenizer.json only; sharded the GPT-2 pair only). expected.json holds, for each
folder, the mean cross-entropy of transformers' model (in float32, the 16-bit weights widened)
on a fixed token sequence, its greedy next tokens and the first logits; the C test loads each
folder in polymoe and compares.

    python3 scripts/make_hf_fixtures.py [--out tests/fixtures/hf]
    python3 scripts/make_hf_fixtures.py --check-polymoe CHECKPOINT_DIR

--check-polymoe loads a polymoe dense checkpoint folder with GPT2LMHeadModel.from_pretrained
and nothing else, checks that no weight was missing or left over, and that greedy decoding in
transformers gives the text `polymoe generate --temperature 0` gives; exit status 1 if not.
Needs torch, transformers and safetensors: test-time tools, never polymoe dependencies.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BPE = os.path.join(ROOT, "tests", "fixtures", "bpe", "v512")
TOKENS = [(i * 37 + 11) % 512 for i in range(33)]  # inputs are the first 32, targets the last 32


def copy_tokenizer(d, files=("tokenizer.json", "vocab.json", "merges.txt")):
    for f in files:
        shutil.copy(os.path.join(BPE, f), os.path.join(d, f))


def loss_of(model):
    x = torch.tensor([TOKENS[:-1]])
    y = torch.tensor([TOKENS[1:]])
    with torch.no_grad():
        logits = model.float()(x).logits
    loss = torch.nn.functional.cross_entropy(logits[0], y[0]).item()
    return {"loss": loss, "greedy": logits[0].argmax(-1).tolist(), "logits_0": logits[0, 0, :8].tolist()}


def make(out):
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=512, n_positions=64, n_embd=16, n_layer=2, n_head=2, activation_function="gelu_new",
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(cfg).eval()
    if os.path.isdir(out):
        shutil.rmtree(out)
    expected = {"tokens": TOKENS}
    for name, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16), ("f16", torch.float16)):
        d = os.path.join(out, name)
        m = GPT2LMHeadModel(cfg).eval()
        m.load_state_dict(model.state_dict())
        m.to(dtype).save_pretrained(d)
        copy_tokenizer(d, ("tokenizer.json", "vocab.json", "merges.txt") if name == "f32" else ("tokenizer.json",))
        back = GPT2LMHeadModel.from_pretrained(d, dtype=torch.float32).eval()
        expected[name] = loss_of(back)
    d = os.path.join(out, "sharded")
    model.save_pretrained(d, max_shard_size="20KB")
    copy_tokenizer(d, ("vocab.json", "merges.txt"))
    expected["sharded"] = loss_of(GPT2LMHeadModel.from_pretrained(d).eval())
    d = os.path.join(out, "hub")
    os.makedirs(d)
    model.config.save_pretrained(d)
    base = {k: v.contiguous() for k, v in model.transformer.state_dict().items()}
    save_file(base, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    copy_tokenizer(d)
    expected["hub"] = loss_of(GPT2LMHeadModel.from_pretrained(d).eval())
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    for k, v in expected.items():
        if k != "tokens":
            print("%-8s loss %.7f" % (k, v["loss"]))


def check_polymoe(d, polymoe, prompt="def ", n=24):
    """A polymoe dense checkpoint in transformers: every weight used, none missing, and greedy
    decoding gives the text `polymoe generate --temperature 0` gives."""
    model, info = GPT2LMHeadModel.from_pretrained(d, output_loading_info=True)
    model.eval()
    problems = {k: v for k, v in info.items() if v and k != "mismatched_keys" or (k == "mismatched_keys" and v)}
    tok_file = os.path.join(d, "tokenizer.json")
    if os.path.exists(tok_file):
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(tok_file)
        ids, decode = tok.encode(prompt).ids, lambda x: tok.decode(x)
    else:  # the byte tokenizer
        ids, decode = list(prompt.encode()), lambda x: bytes(t for t in x if t < 256).decode("utf-8", "replace")
    eot = model.config.eos_token_id
    x = torch.tensor([ids])
    with torch.no_grad():
        for _ in range(n):
            nxt = int(model(x).logits[0, -1].argmax())
            if nxt == eot:
                break
            x = torch.cat([x, torch.tensor([[nxt]])], 1)
    theirs = prompt + decode(x[0, len(ids):].tolist())
    out = subprocess.run([polymoe, "generate", "--checkpoint", d, "--prompt", prompt, "--tokens", str(n),
                          "--temperature", "0"], capture_output=True, text=True, check=True).stdout
    out = out[:-1] if out.endswith("\n") else out  # generate ends its output with one newline
    ok = not problems and out == theirs
    print(json.dumps({"folder": d, "loading_problems": problems, "transformers": theirs, "polymoe": out, "same": ok}))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "hf"))
    ap.add_argument("--check-polymoe", metavar="DIR", help="a polymoe dense checkpoint folder (one step folder)")
    ap.add_argument("--polymoe", default=os.path.join(ROOT, "build", "polymoe"), help="the binary, for --check-polymoe")
    a = ap.parse_args()
    if a.check_polymoe:
        return check_polymoe(a.check_polymoe, a.polymoe)
    make(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
