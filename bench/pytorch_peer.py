#!/usr/bin/env python3
"""The PyTorch peer of `polymoe bench --suite train_step`: the same GPT-2 MoE, built from a
polymoe config JSON, trained on random tokens (of --vocab, default the bytes) with the same B and T; prints tokens/s.
On the CPU by default; `--device cuda` runs it on a GPU in float32, with `--tf32` letting matmuls
use TF32 tensor cores (torch.backends.cuda.matmul.allow_tf32), and reports the peak of
PyTorch's device allocations (torch.cuda.max_memory_allocated).

For developers who have PyTorch; not part of CI and never a dependency of polymoe. It matches
model/ and the bench's step: pre-norm GPT-2 blocks (layernorm eps 1e-5, causal attention,
GELU tanh MLP of width 4C), learned positions, LM head tied to the token embedding; MoE layers
with a bias-free router, softmax over the experts, top-k, gates 1 with a straight-through
gradient to the probability for top-1 (renormalised probabilities for k >= 2), dropless, the
Switch load-balancing loss (lb_coef * E * sum f_i P_i) and the z-loss (z_coef * mean lse^2)
added to the mean cross-entropy; AdamW with the config's betas and weight decay on matrices
only, eps 1e-8, lr 1e-4 as the polymoe bench; the global gradient norm clipped to grad_clip.
Initialisation as polymoe's (normal init_std, residual projections init_std / sqrt(2 L)).

Two implementations of the MoE layer:
  loop     a Python loop over the experts, as the public moe-emergence project writes it: for
           each expert select the tokens routed to it, run its MLP, index_add the result
           weighted by the gate back into the output
  grouped  the assignments sorted by expert into one [E, capacity, C] tensor (capacity: the
           largest expert's count this batch), each MLP GEMM one batched matmul over the
           experts, gathered back and weighted by the gate (PyTorch's grouped_mm takes only
           bfloat16 on CPUs, and both sides here compute in float32)

Prints a line per timed step, then one JSON line: {"tokens_per_s": median, "tokens_per_s_min",
"tokens_per_s_max", "device", "tf32", "peak_bytes" (null on the CPU), ...}.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def resolve_config(name):
    """A .json path, or a name as `polymoe bench --config` takes it: built in (tiny,
    bench/configs/NAME.json), else configs/NAME.json of the repository."""
    if name.endswith(".json"):
        return name
    for path in (os.path.join(ROOT, "bench", "configs", name + ".json"),
                 os.path.join(ROOT, "configs", name + ".json")):
        if os.path.exists(path):
            return path
    sys.exit(f"pytorch_peer: no config '{name}' in bench/configs/ or configs/")


def load_config(name):
    """tiny's values under the file's, as the polymoe bench reads a config."""
    cfg = {}
    for path in (os.path.join(ROOT, "configs", "tiny.json"), resolve_config(name)):
        with open(path) as f:
            cfg.update({k: v for k, v in json.load(f).items() if not k.startswith("_")})
    return cfg


class MLP(nn.Module):
    def __init__(self, C, std, proj_std):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C)
        self.c_proj = nn.Linear(4 * C, C)
        init_linear(self.c_fc, std)
        init_linear(self.c_proj, proj_std)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


def init_linear(lin, std):
    nn.init.normal_(lin.weight, 0.0, std)
    if lin.bias is not None:
        nn.init.zeros_(lin.bias)


class MoE(nn.Module):
    """Router, top-k, experts (loop or grouped), and the auxiliary losses of this forward."""

    def __init__(self, cfg, impl, std, proj_std):
        super().__init__()
        C, E = cfg["n_embd"], cfg["n_experts"]
        self.E, self.k, self.impl = E, cfg["top_k"], impl
        self.lb_coef, self.z_coef = cfg["lb_coef"], cfg["z_coef"]
        self.noise_std = 0.0  # set per step by the trainer (annealed router noise)
        self.router = nn.Linear(C, E, bias=False)
        nn.init.normal_(self.router.weight, 0.0, std)
        if impl == "loop":
            self.experts = nn.ModuleList(MLP(C, std, proj_std) for _ in range(E))
        else:  # stacked [E, in, out], so that each GEMM is one batched matmul
            self.fc_w = nn.Parameter(torch.randn(E, C, 4 * C) * std)
            self.fc_b = nn.Parameter(torch.zeros(E, 4 * C))
            self.proj_w = nn.Parameter(torch.randn(E, 4 * C, C) * proj_std)
            self.proj_b = nn.Parameter(torch.zeros(E, C))

    def forward(self, x):
        B, T, C = x.shape
        x = x.reshape(-1, C)
        N = x.shape[0]
        logits = self.router(x)
        if self.training and self.noise_std > 0:
            logits = logits + torch.randn_like(logits) * self.noise_std
        probs = logits.softmax(-1)
        top_p, ids = probs.topk(self.k, dim=-1)
        if self.k == 1:  # straight-through: the value 1, the gradient to the probability
            gates = top_p - top_p.detach() + 1.0
        else:
            gates = top_p / top_p.sum(-1, keepdim=True)
        counts = torch.bincount(ids.reshape(-1), minlength=self.E)
        f = counts.to(x.dtype) / (N * self.k)
        self.aux = (self.lb_coef * self.E * (f * probs.mean(0)).sum()
                    + self.z_coef * torch.logsumexp(logits, -1).square().mean())
        y = self.loop(x, ids, gates) if self.impl == "loop" else self.grouped(x, ids, gates, counts)
        return y.reshape(B, T, C)

    def loop(self, x, ids, gates):
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            token, slot = torch.where(ids == e)
            if token.numel() == 0:
                continue
            out.index_add_(0, token, gates[token, slot, None] * expert(x[token]))
        return out

    def grouped(self, x, ids, gates, counts):
        flat = ids.reshape(-1)
        order = torch.argsort(flat, stable=True)  # assignments in expert order
        expert = flat[order]
        token = order // self.k
        start = torch.cumsum(counts, 0) - counts
        row = torch.arange(flat.numel(), device=x.device) - start[expert]
        capacity = int(counts.max())
        xs = x.new_zeros(self.E, capacity, x.shape[1])
        xs[expert, row] = x[token]
        h = F.gelu(torch.baddbmm(self.fc_b[:, None, :], xs, self.fc_w), approximate="tanh")
        ys = torch.baddbmm(self.proj_b[:, None, :], h, self.proj_w)
        y = ys[expert, row] * gates.reshape(-1)[order, None]
        return torch.zeros_like(x).index_add_(0, token, y)


class Block(nn.Module):
    def __init__(self, cfg, moe, impl):
        super().__init__()
        C, L, std = cfg["n_embd"], cfg["n_layer"], cfg["init_std"]
        proj_std = std / math.sqrt(2 * L)
        self.n_head = cfg["n_head"]
        self.ln_1 = nn.LayerNorm(C, eps=1e-5)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        init_linear(self.c_attn, std)
        init_linear(self.c_proj, proj_std)
        self.ln_2 = nn.LayerNorm(C, eps=1e-5)
        self.mlp = MoE(cfg, impl, std, proj_std) if moe else MLP(C, std, proj_std)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(a.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg, impl):
        super().__init__()
        C, std = cfg["n_embd"], cfg["init_std"]
        self.wte = nn.Embedding(cfg["vocab_size"], C)
        self.wpe = nn.Embedding(cfg["block_size"], C)
        nn.init.normal_(self.wte.weight, 0.0, std)
        nn.init.normal_(self.wpe.weight, 0.0, std)
        moe = set(cfg["moe_layers"])
        self.h = nn.ModuleList(Block(cfg, l in moe, impl) for l in range(cfg["n_layer"]))
        self.ln_f = nn.LayerNorm(C, eps=1e-5)

    def forward(self, tokens, targets):
        T = tokens.shape[1]
        x = self.wte(tokens) + self.wpe(torch.arange(T, device=tokens.device))
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T  # tied LM head
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        aux = [b.mlp.aux for b in self.h if isinstance(b.mlp, MoE)]
        return loss + sum(aux) if aux else loss


def make_optimizer(model, cfg, lr):
    """AdamW; weight decay on matrices (and stacked experts), not on vectors, as polymoe."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg["weight_decay"]},
              {"params": rest, "weight_decay": 0.0}]
    kw = dict(lr=lr, betas=(cfg["beta1"], cfg["beta2"]), eps=1e-8)
    try:
        return torch.optim.AdamW(groups, fused=True, **kw)
    except (RuntimeError, TypeError):  # a PyTorch without the fused CPU AdamW
        return torch.optim.AdamW(groups, **kw)


def noise_std(cfg, step):
    """polymoe's router noise: router_noise falling linearly to 0 over noise_anneal * steps."""
    end = cfg["noise_anneal"] * cfg["steps"]
    return cfg["router_noise"] * (1 - step / end) if cfg["router_noise"] > 0 and step < end else 0.0


def main():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="tiny",
                    help="a polymoe config: tiny, w384, gpt2-small, a configs/ name or a .json file")
    ap.add_argument("--impl", choices=["loop", "grouped"], default="loop", help="the MoE layer")
    ap.add_argument("--dense", action="store_true", help="the dense twin: no MoE layers")
    ap.add_argument("--batch", type=int, help="B (default the config's batch_size)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    ap.add_argument("--threads", type=int, default=cores, help=f"torch threads (default {cores}, the cores)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--vocab", type=int, help="vocabulary size (default the config's; its 0, the tokenizer's, is "
                                              "taken as the byte tokenizer's 257)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    ap.add_argument("--tf32", action="store_true", help="on cuda: matmuls in TF32 on tensor cores (default float32)")
    args = ap.parse_args()
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    if on_gpu and not torch.cuda.is_available():
        sys.exit("pytorch_peer: --device cuda, but torch.cuda.is_available() is False")
    if args.tf32 and not on_gpu:
        sys.exit("pytorch_peer: --tf32 is for --device cuda")
    # float32 unless asked: PyTorch's default already keeps TF32 off for matmuls; say so explicitly
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32

    cfg = load_config(args.config)
    cfg["vocab_size"] = args.vocab or cfg["vocab_size"] or 257
    if cfg["capacity_factor"] != 0:
        sys.exit("pytorch_peer: only dropless MoE (capacity_factor 0) is implemented")
    if args.dense:
        cfg["moe_layers"] = []
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    B, T = args.batch or cfg["batch_size"], cfg["block_size"]
    model = GPT(cfg, args.impl).to(device)
    opt = make_optimizer(model, cfg, lr=1e-4)
    params = [p for p in model.parameters()]
    step_fn = torch.compile(model) if args.compile else model
    tokens = torch.randint(0, cfg["vocab_size"], (B, T)).to(device)
    targets = torch.randint(0, cfg["vocab_size"], (B, T)).to(device)
    moe_layers = [b.mlp for b in model.h if isinstance(b.mlp, MoE)]

    def step(i):
        for m in moe_layers:
            m.noise_std = noise_std(cfg, i)
        opt.zero_grad(set_to_none=True)
        loss = step_fn(tokens, targets)
        loss.backward()
        if cfg["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg["grad_clip"])
        opt.step()
        if on_gpu:  # the step's kernels are done before the clock is read
            torch.cuda.synchronize(device)
        return loss.item()

    for i in range(args.warmup):
        step(i + 1)
    if on_gpu:
        torch.cuda.reset_peak_memory_stats(device)
    rates = []
    for i in range(args.steps):
        t0 = time.perf_counter()
        loss = step(args.warmup + i + 1)
        rates.append(B * T / (time.perf_counter() - t0))
        print(f"step {i + 1}: {rates[-1]:.0f} tokens/s, loss {loss:.4f}", file=sys.stderr)
    name = os.path.basename(args.config)[:-5] if args.config.endswith(".json") else args.config
    print(json.dumps({
        "peer": "pytorch", "torch": torch.__version__, "config": name, "dense": args.dense,
        "impl": None if args.dense or not moe_layers else args.impl, "compile": args.compile,
        "B": B, "T": T, "threads": torch.get_num_threads(), "steps": args.steps,
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu", "tf32": args.tf32,
        "peak_bytes": torch.cuda.max_memory_allocated(device) if on_gpu else None,
        "params": sum(p.numel() for p in params),
        "tokens_per_s": statistics.median(rates), "tokens_per_s_min": min(rates),
        "tokens_per_s_max": max(rates)}))


if __name__ == "__main__":
    main()
