#!/usr/bin/env python3
"""polymoe against PyTorch on the same training step: R interleaved rounds of
`polymoe bench --backend cpu --suite train_step --config NAME` (the MoE config and its dense
twin) and bench/pytorch_peer.py (the MoE with each implementation asked for, and the dense
twin), the same B, T and threads; prints polymoe's tokens/s, PyTorch's and their ratio, each
as min / median / max over the rounds (a round's figure is the median of its steps).

Needs PyTorch; for developers, not CI. Rounds alternate which side runs first, so that a slow
drift of the machine does not favour one side.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, env):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"compare_pytorch: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return p.stdout


def polymoe_round(args, env, out):
    """{case: the train_step JSON row} of one polymoe bench run."""
    run([args.polymoe, "bench", "--backend", "cpu", "--suite", "train_step", "--config", args.config,
         "--out", out], env)
    with open(os.path.join(out, "bench.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    return {r["case"]: r for r in rows if r["op"] == "train_step"}


def peer_round(args, env, extra):
    cmd = [sys.executable, os.path.join(ROOT, "bench", "pytorch_peer.py"), "--config", args.config,
           "--threads", str(args.threads), "--steps", str(args.steps)] + extra
    if args.compile:
        cmd.append("--compile")
    return json.loads(run(cmd, env).strip().splitlines()[-1])


def spread(values, fmt):
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def main():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="tiny", help="tiny, w384, gpt2-small, or a .json file (default tiny)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--impl", default="loop,grouped", help="PyTorch MoE implementations (default loop,grouped)")
    ap.add_argument("--threads", type=int, default=cores, help=f"threads on both sides (default {cores}, the cores)")
    ap.add_argument("--steps", type=int, default=5, help="PyTorch's timed steps per round (default 5; "
                    "polymoe times at least 5)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the PyTorch model")
    ap.add_argument("--polymoe", default=os.path.join(ROOT, "build", "polymoe"), help="the binary (default build/polymoe)")
    args = ap.parse_args()
    impls = args.impl.split(",")
    name = os.path.basename(args.config)[:-5] if args.config.endswith(".json") else args.config
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))

    # rows: (label, polymoe case, peer arguments); per row the per-round figures of each side
    rows = [(f"MoE, PyTorch {impl}", name, ["--impl", impl]) for impl in impls]
    rows.append(("dense twin", name + "-dense", ["--dense"]))
    ours = {label: [] for label, _, _ in rows}
    theirs = {label: [] for label, _, _ in rows}
    info = {}
    load_before = os.getloadavg()[0]  # other work on the cores makes every figure noisy
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            def polymoe_side():
                cases = polymoe_round(args, env, os.path.join(tmp, f"round{r}"))
                for label, case, _ in rows:
                    if case not in cases:
                        sys.exit(f"compare_pytorch: polymoe gave no train_step row '{case}'")
                    ours[label].append(cases[case]["tokens_per_s"])
                info["polymoe"] = cases[name]

            def peer_side():
                for label, _, extra in rows:
                    res = peer_round(args, env, extra)
                    theirs[label].append(res["tokens_per_s"])
                    info["peer"] = res

            sides = (polymoe_side, peer_side) if r % 2 == 0 else (peer_side, polymoe_side)
            for side in sides:
                side()
            print(f"round {r + 1}/{args.rounds}: " + "; ".join(
                f"{label} {ours[label][-1]:.0f} vs {theirs[label][-1]:.0f}" for label, _, _ in rows),
                file=sys.stderr)

    p, q = info["polymoe"], info["peer"]
    print(f"config {name} ({p['shape']}), {args.rounds} rounds, {args.threads} threads; "
          f"{p['host_cpu']}; polymoe {p['commit']}, PyTorch {q['torch']}"
          f"{' with torch.compile' if args.compile else ''}")
    print(f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (this comparison "
          f"alone adds about {args.threads}); tokens/s as min / median / max over the rounds\n")
    print(f"| {'':<22} | {'polymoe':<24} | {'PyTorch':<24} | {'polymoe / PyTorch':<20} |")
    print(f"| {'-' * 22} | {'-' * 24} | {'-' * 24} | {'-' * 20} |")
    for label, _, _ in rows:
        ratios = [a / b for a, b in zip(ours[label], theirs[label])]
        print(f"| {label:<22} | {spread(ours[label], '{:.0f}'):<24} | {spread(theirs[label], '{:.0f}'):<24} "
              f"| {spread(ratios, '{:.2f}'):<20} |")


if __name__ == "__main__":
    main()
