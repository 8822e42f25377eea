#!/usr/bin/env bash
# The emergence study end to end at toy scale on a small corpus made here: the four runs, the
# report's SVG figures (well-formed XML), the HTML page that shows them, and the page rendered
# by headless Chromium to a PNG that is not blank. Chromium is required (Debian package
# `chromium`): without it the test fails. With REPORT_PNG=FILE set, the rendered page is kept
# there to look at.
# usage: test_report.sh PATH/TO/polymoe
source "$(dirname "$0")/testlib.sh"

# three domains like the default corpus's: Python code, worked arithmetic, prose
python3 - <<'PY'
import os, random
random.seed(7)
os.makedirs("corpus", exist_ok=True)
words = "the of and to in that he shall unto his lord land people king house day city son father".split()
for i in range(24):
    with open(f"corpus/code{i}.py", "w") as f:
        for j in range(4):
            f.write(f"def step_{i}_{j}(items, limit={j + 2}):\n    \"\"\"Return the items below limit.\"\"\"\n"
                    f"    result = []\n    for item in items:  # scan\n        if item < limit and not item == {i}:\n"
                    f"            result.append(item * {j + 1})\n    return result\n\n")
    with open(f"corpus/math{i}.txt", "w") as f:
        for j in range(6):
            a, b = random.randint(10, 999), random.randint(10, 999)
            f.write(f"Problem: Compute {a} + {b}.\nSolution: {a} + {b} = {a + b}.\nAnswer: {a + b}\n")
    with open(f"corpus/prose{i}.txt", "w") as f:
        f.write(" ".join(random.choice(words) for _ in range(140)).capitalize() + ".\n")
with open("corpus/manifest.json", "w") as f:
    f.write('{"domains": [{"name": "code", "files": ["code*.py"]}, {"name": "math", "files": ["math*.txt"]},'
            ' {"name": "prose", "files": ["prose*.txt"]}]}\n')
PY

# one thread: the toy model is far too small to gain from more, and OpenMP threads that wait
# on a busy machine make it many times slower
export OMP_NUM_THREADS=1
start=$(date +%s)
if "$pm" experiment emergence --scale toy --out study --data corpus/manifest.json > study.log 2>&1; then
  ok "toy emergence study ran ($(($(date +%s) - start)) s)"
else
  bad "toy emergence study: $(tail -5 study.log)"
fi
grep -q '^\[21/21\] seed 3' study.log && ok "progress printed stage by stage" || bad "no stage progress in the log"
for run in dense moe no-lb top2 top2-matched dense-restart; do
  for seed in "" seed-2/ seed-3/; do [ -s "study/$seed$run/metrics.jsonl" ] || bad "no metrics for run $seed$run"; done
done
# three seeds: means, intervals and differences from the dense baseline on the page, from the runs' own losses
python3 - > seeds.log 2>&1 <<'PY'
import json, re, statistics, sys
page = open("study/report/report.html", encoding="utf-8").read()
loss = lambda p: [json.loads(l) for l in open(p) if '"type":"eval"' in l][-1]["domains"]["code"]["loss"]
vals = [loss(f"study/{s}moe/metrics.jsonl") for s in ("", "seed-2/", "seed-3/")]
dense = [loss(f"study/{s}dense/metrics.jsonl") for s in ("", "seed-2/", "seed-3/")]
mean, diff = statistics.mean(vals), statistics.mean(v - d for v, d in zip(vals, dense))
half = 4.303 * statistics.stdev(vals) / 3 ** 0.5
want = [f"<td>moe</td><td>held-out loss: code</td><td>{mean:.4f}</td><td>[{mean - half:.4f}, {mean + half:.4f}]</td>",
        f"<td>moe</td><td>held-out loss: code</td><td>{diff:.4f}</td>"]
missing = [w for w in want if w not in page]
print("; ".join(missing) or f"moe code loss {mean:.4f} +- {half:.4f} over 3 seeds, {diff:+.4f} against dense")
sys.exit(1 if missing or "Seeds: means and 95% intervals" not in page else 0)
PY
[ $? -eq 0 ] && ok "seeds: $(cat seeds.log)" || bad "seeds section: $(cat seeds.log)"
# each seed trains its own BPE vocabulary on its train split, every run of the seed uses it, and
# the last evaluation takes more held-out sequences than the others, with both trigram baselines
python3 - > bpe.log 2>&1 <<'PY'
import json, os, sys
for s in ("", "seed-2/", "seed-3/"):
    assert os.path.isfile(f"study/{s}tokenizer/tokenizer.json"), f"no study/{s}tokenizer"
    for run in ("dense", "moe", "top2-matched"):
        cfg = json.load(open(f"study/{s}{run}/config.json"))
        assert cfg["tokenizer"] == f"bpe:study/{s}tokenizer", (run, cfg["tokenizer"])
evals = [json.loads(l) for l in open("study/moe/metrics.jsonl") if '"type":"eval"' in l]
first, last = evals[0]["domains"]["code"], evals[-1]["domains"]["code"]
assert last["sequences"] > first["sequences"], (first["sequences"], last["sequences"])
assert 0 < last["ngram_loss"] and 0 < last["byte_ngram_loss"], last
print(f"code: {first['sequences']:g} sequences per evaluation, {last['sequences']:g} at the last; trigram "
      f"{last['ngram_loss']:.3f} over BPE tokens, {last['byte_ngram_loss']:.3f} over bytes (nats per token)")
PY
[ $? -eq 0 ] && ok "BPE study: $(cat bpe.log)" || bad "BPE study: $(cat bpe.log)"
grep -q '"dense_steps"' study/moe/upcycle.json 2>/dev/null && ok "MoE runs record their upcycling point" \
  || bad "no study/moe/upcycle.json"
active() { python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "\"params\"" in l][0]["active_per_token"])' "$1"; }
a1=$(active study/moe/metrics.jsonl); a2=$(active study/top2-matched/metrics.jsonl); a3=$(active study/top2/metrics.jsonl)
# equal up to the second expert's c_proj bias (C = 32 in each of the toy model's 2 MoE layers)
[ -n "$a1" ] && [ -n "$a2" ] && [ $((a2 - a1)) -eq 64 ] && [ $((a3 - a1)) -gt 1000 ] \
  && ok "top2-matched uses top-1's active parameters per token but for one bias ($a1 and $a2; full-width top-2: $a3)" \
  || bad "compute matching: moe $a1, top2-matched $a2, top2 $a3"

report=study/report
python3 - "$report" > figures.log 2>&1 <<'PY'
import glob, os, re, sys
import xml.etree.ElementTree as ET
d = sys.argv[1]
svgs = sorted(os.path.basename(p) for p in glob.glob(os.path.join(d, "*.svg")))
bad = []
for name in svgs:
    try:
        root = ET.parse(os.path.join(d, name)).getroot()
        if root.tag != "{http://www.w3.org/2000/svg}svg" or len(root) < 5:
            bad.append(name + " (not an SVG drawing)")
    except ET.ParseError as e:
        bad.append(f"{name} ({e})")
page = open(os.path.join(d, "report.html"), encoding="utf-8").read()
refs = re.findall(r'<img src="([^"]+)"', page)
missing = [r for r in refs if not os.path.isfile(os.path.join(d, r))]
unshown = [s for s in svgs if s not in refs]
need = ["loss_train.svg", "loss_eval.svg", "entropy.svg", "usage.svg", "information.svg", "router_losses.svg",
        "expert_shares.svg", "drop_rates.svg", "saturation.svg"]
need += [f"{kind}_{run}_layer{l}.svg" for kind in ("domains", "tokens") for run in ("moe", "no-lb", "top2") for l in (0, 1)]
absent = [n for n in need if n not in svgs]
print(f"{len(svgs)} SVG files, {len(refs)} images on the page")
for what, items in (("malformed", bad), ("missing", missing), ("not on the page", unshown), ("absent", absent)):
    if items: print(what + ": " + ", ".join(items))
sections = ["I(expert; domain)", "saturation", "Token types", "Samples", 'class="x0"', "I(expert; token | domain)",
            "Next token keeps the expert", "What each expert takes", "first \\ second", "trigram baseline",
            "byte trigram baseline", "bits/byte"]
lacking = [s for s in sections if s not in page]
if lacking: print("page lacks: " + ", ".join(lacking))
sys.exit(1 if bad or missing or unshown or absent or lacking or not svgs else 0)
PY
if [ $? -eq 0 ]; then ok "figures are well-formed SVG and on the page ($(head -1 figures.log))"; else bad "figures: $(cat figures.log)"; fi

# the page's mutual information must be the one of the last evaluation's expert x domain counts
python3 - > mi.log 2>&1 <<'PY'
import json, math, sys
evals = [json.loads(l) for l in open("study/moe/metrics.jsonl") if '"type":"eval"' in l]
page = open("study/report/report.html", encoding="utf-8").read()
last, wrong = evals[-1], []
for layer in last["moe"]:
    c = layer["counts"]
    total = sum(map(sum, c))
    pe = [sum(row) / total for row in c]
    pd = [sum(row[d] for row in c) / total for d in range(len(c[0]))]
    mi = sum(x / total * math.log(x / total / pe[e] / pd[d]) for e, row in enumerate(c) for d, x in enumerate(row) if x)
    row = f"<tr><td>moe</td><td>{layer['layer']}</td><td>{last['step']:g}</td><td>{mi:.4f}</td>"
    print(row)
    if row not in page: wrong.append(row)
sys.exit(1 if wrong else 0)
PY
[ $? -eq 0 ] && ok "mutual information on the page matches the metrics" || bad "mutual information: $(cat mi.log)"

"$pm" report study/dense study/moe --out again > again.log 2>&1 && [ -s again/report.html ] \
  && ok "polymoe report on chosen runs" || bad "polymoe report: $(tail -3 again.log)"
"$pm" report study/dense study/dense-restart study/moe --out again3 --seeds > again3.log 2>&1 \
  && grep -q "Differences from <b>dense-restart" again3/report.html && grep -q "(3 of 3)" again3/report.html \
  && ok "polymoe report --seeds finds every seed's runs" || bad "report --seeds: $(tail -3 again3.log)"
msg=$("$pm" report nowhere --out x 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "not a run folder" <<<"$msg" && ok "report of a missing run fails clearly" \
  || bad "report of a missing run (exit $rc): $msg"
msg=$("$pm" experiment emergence --scale toy --out study --data corpus/manifest.json 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "already holds a study" <<<"$msg" && ok "a second study in the same folder is refused" \
  || bad "second study (exit $rc): $msg"

# the lora-moe study at toy size: LoRA experts train only adapters and routers, are evaluated
# with both routings, and the runs table shows what each run trained and what it cost
if "$pm" experiment lora-moe --scale toy --out lstudy --data corpus/manifest.json > lstudy.log 2>&1 \
  && grep -q '^\[12/12\] seed 3' lstudy.log; then ok "toy lora-moe study ran stage by stage"; else bad "toy lora-moe study: $(tail -5 lstudy.log)"; fi
python3 - > lora.log 2>&1 <<'PY'
import json, os, sys
runs = {r: [json.loads(l) for l in open(f"lstudy/{r}/metrics.jsonl")] for r in ("dense", "moe", "lora")}
params = {r: next(o for o in v if o["type"] == "params") for r, v in runs.items()}
page = open("lstudy/report/report.html", encoding="utf-8").read()
lora, moe = params["lora"], params["moe"]
problems = []
if not lora["trainable"] < moe["trainable"] / 2: problems.append(f"LoRA trains {lora['trainable']} of {lora['total']}")
if not lora["optimizer_bytes"] == 8 * lora["trainable"]: problems.append("optimizer bytes are not 2 x 4 x trainable")
evals = [o for o in runs["lora"] if o["type"] == "eval"]
if not evals or not all("loss_train_routing" in d for o in evals for d in o["domains"].values()):
    problems.append("LoRA evaluations lack the training-routing loss")
cell = "<td>%.0f of %.0f (%.1f%%)</td>" % (lora["trainable"], lora["total"], 100 * lora["trainable"] / lora["total"])
for need in ("LoRA (rank 8)", "dense in training, top-1 at eval", cell):
    if need not in page: problems.append("page lacks " + need)
if not os.path.isfile("lstudy/report/domains_lora_layer0.svg"): problems.append("no LoRA expert x domain heatmap")
print("; ".join(problems) or f"LoRA trains {lora['trainable']} of {lora['total']} parameters, full experts {moe['trainable']}")
sys.exit(1 if problems else 0)
PY
[ $? -eq 0 ] && ok "lora-moe: $(cat lora.log)" || bad "lora-moe: $(cat lora.log)"

# the page rendered by a real browser must show something
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  bad "chromium is not installed (apt-get install chromium): cannot render the report"
else
  "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,4000 \
    --screenshot="$work/page.png" "file://$work/$report/report.html" > chromium.log 2>&1
  if python3 - "$work/page.png" > png.log 2>&1 <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR": w, h, depth, colour = struct.unpack(">IIBB", body[:10])
    if kind == b"IDAT": idat += body
    pos += 12 + n
assert depth == 8 and colour in (2, 6), f"unexpected PNG format depth {depth} colour {colour}"
bpp = 3 if colour == 2 else 4
raw, stride, prev = zlib.decompress(idat), w * bpp, bytearray(w * bpp)
colours, ink = set(), 0
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):  # undo the PNG row filter
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        for x in range(0, w, 2):
            px = bytes(line[x * bpp:x * bpp + 3])
            colours.add(px)
            ink += px != b"\xff\xff\xff"
    prev = line
share = ink / ((h + 3) // 4 * ((w + 1) // 2))
print(f"{w}x{h}, {len(colours)} colours, {100 * share:.1f}% of sampled pixels not white")
sys.exit(0 if len(colours) >= 50 and share >= 0.02 else 1)
PY
  then ok "Chromium renders the page ($(cat png.log))"
  else bad "rendered page looks blank or broken: $(cat png.log) $(tail -3 chromium.log)"
  fi
  [ -n "${REPORT_PNG:-}" ] && cp "$work/page.png" "$REPORT_PNG"
fi

finish
