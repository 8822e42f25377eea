#!/usr/bin/env python3
"""polymoe's BPE encoder against tiktoken and Hugging Face tokenizers: single-thread encode
throughput (MB/s of UTF-8 text) with the same vocabulary on the same corpus, in R interleaved
rounds; prints each engine's MB/s and polymoe's ratio to each peer as min / median / max over the
rounds.

Every engine encodes every document of the corpus separately (one call per document). tiktoken:
encode_ordinary; tokenizers: encode with encode_special_tokens=True and one rayon thread; both
timed with time.perf_counter around the whole loop. polymoe: `polymoe bench --suite tokenizer
--tokenizer bpe:DIR --data CORPUS/manifest.json --rounds 1` (OMP_NUM_THREADS=1), which times its
own encoding of the same documents and prints a JSON line whose "mb_per_s" is read here. Every
engine starts each round cold: polymoe and tokenizers with a freshly loaded tokenizer (both keep a
cache of the pieces they have seen), tiktoken with a fresh Encoding. Each round runs the engines
one after another, the order rotating from round to round.

    python3 bench/compare_tokenizers.py --polymoe build/polymoe --tokenizer DIR [--corpus data/default]
        [--rounds 5] [--skip-polymoe] [--json FILE]

DIR holds vocab.json, merges.txt and tokenizer.json (e.g. tests/fixtures/bpe/v4096, or
v50257.tar.xz unpacked). Needs tiktoken and tokenizers; for developers, not CI.
"""
import os

os.environ["RAYON_NUM_THREADS"] = "1"          # before tokenizers is imported
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

import tiktoken
import tokenizers
from tokenizers import Tokenizer

GPT2_PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
CHECK_DOCS = 100


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def load_corpus(corpus):
    """The documents' texts in manifest order."""
    with open(os.path.join(corpus, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    docs = []
    for dom in manifest["domains"]:
        for name in dom["jsonl"]:
            with open(os.path.join(corpus, name), encoding="utf-8") as f:
                docs += [json.loads(line)[dom.get("text_field", "text")] for line in f if line.strip()]
    return docs


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":")[0].strip() in ("model name", "Model", "cpu model"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def make_tiktoken(d):
    with open(os.path.join(d, "tokenizer.json"), encoding="utf-8") as f:
        special = {a["content"]: a["id"] for a in json.load(f).get("added_tokens", []) if a.get("special")}
    with open(os.path.join(d, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    u2b = {u: b for b, u in bytes_to_unicode().items()}
    ranks = {bytes(u2b[ch] for ch in s): i for s, i in vocab.items() if s not in special}
    return tiktoken.Encoding(name="compare-" + os.path.basename(os.path.normpath(d)), pat_str=GPT2_PAT,
                             mergeable_ranks=ranks, special_tokens=special)


def find_key(obj, key):
    """obj[key], looked for at the top level first and then in nested objects."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            r = find_key(v, key)
            if r is not None:
                return r
    return None


def polymoe_mb_per_s(args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [args.polymoe, "bench", "--suite", "tokenizer", "--tokenizer", "bpe:" + args.tokenizer, "--rounds", "1",
           "--data", os.path.join(args.corpus, "manifest.json")]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("compare_tokenizers: %s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode,
                                                               p.stdout[-2000:], p.stderr[-2000:]))
    rows = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("suite") == "tokenizer":
            v = find_key(row, "mb_per_s")
            if isinstance(v, (int, float)):
                rows.append(float(v))
    if not rows:
        sys.exit("compare_tokenizers: no JSON line with \"suite\": \"tokenizer\" and a number \"mb_per_s\" "
                 "in the output of %s:\n%s" % (" ".join(cmd), p.stdout[-2000:]))
    if len(rows) > 1:
        print("compare_tokenizers: %d tokenizer rows from polymoe; using their median" % len(rows), file=sys.stderr)
    return statistics.median(rows)


def timed(encode, docs, nbytes):
    t0 = time.perf_counter()
    for d in docs:
        encode(d)
    return nbytes / 1e6 / (time.perf_counter() - t0)


def spread(values):
    return (min(values), statistics.median(values), max(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--polymoe", default="build/polymoe", help="the binary (default build/polymoe)")
    ap.add_argument("--tokenizer", required=True, help="folder with vocab.json, merges.txt, tokenizer.json")
    ap.add_argument("--corpus", default="data/default", help="corpus folder (default data/default)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--skip-polymoe", action="store_true", help="time only tiktoken and tokenizers")
    ap.add_argument("--json", metavar="FILE", help="also write everything as JSON to FILE")
    args = ap.parse_args()

    docs = load_corpus(args.corpus)
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    hf = Tokenizer.from_file(os.path.join(args.tokenizer, "tokenizer.json"))
    hf.encode_special_tokens = True
    tt = make_tiktoken(args.tokenizer)
    for i, d in enumerate(docs[:CHECK_DOCS]):
        if hf.encode(d).ids != tt.encode_ordinary(d):
            sys.exit("compare_tokenizers: tiktoken and tokenizers differ on document %d" % i)

    def fresh_hf():
        # a new Tokenizer each round: its word cache would otherwise start warm from the round
        # before, while polymoe opens its tokenizer afresh every round
        t = Tokenizer.from_file(os.path.join(args.tokenizer, "tokenizer.json"))
        t.encode_special_tokens = True
        return t

    engines = {
        "tiktoken": lambda: timed(make_tiktoken(args.tokenizer).encode_ordinary, docs, nbytes),
        "tokenizers": lambda: timed(fresh_hf().encode, docs, nbytes),
    }
    if not args.skip_polymoe:
        engines = {"polymoe": lambda: polymoe_mb_per_s(args), **engines}
    names = list(engines)

    info = {
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "tiktoken": tiktoken.__version__,
        "tokenizers": tokenizers.__version__,
        "tokenizer_dir": args.tokenizer,
        "vocab_size": hf.get_vocab_size(),
        "corpus": args.corpus,
        "documents": len(docs),
        "bytes": nbytes,
    }
    print("cpu: %s; python %s, tiktoken %s, tokenizers %s" % (info["cpu"], info["python"], info["tiktoken"],
                                                              info["tokenizers"]))
    print("%s: vocab %d; corpus %s: %d documents, %.2f MB; %d rounds, single thread"
          % (args.tokenizer, info["vocab_size"], args.corpus, len(docs), nbytes / 1e6, args.rounds))

    rounds = []
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        row = {"order": order}
        for name in order:
            row[name] = engines[name]()
        rounds.append(row)
        print("round %d: %s" % (r + 1, ", ".join("%s %.2f MB/s" % (n, row[n]) for n in order)), flush=True)

    summary = {n: dict(zip(("min", "median", "max"), spread([x[n] for x in rounds]))) for n in names}
    ratios = {}
    if "polymoe" in names:
        for peer in ("tiktoken", "tokenizers"):
            key = "polymoe/" + peer
            for x in rounds:
                x[key] = x["polymoe"] / x[peer]
            ratios[key] = dict(zip(("min", "median", "max"), spread([x[key] for x in rounds])))
    print("\n%-22s %10s %10s %10s" % ("MB/s", "min", "median", "max"))
    for n, s in summary.items():
        print("%-22s %10.2f %10.2f %10.2f" % (n, s["min"], s["median"], s["max"]))
    for k, s in ratios.items():
        print("%-22s %10.3f %10.3f %10.3f" % (k, s["min"], s["median"], s["max"]))

    if args.json:
        with open(args.json, "w") as f:
            json.dump({**info, "rounds": rounds, "mb_per_s": summary, "ratios": ratios}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
