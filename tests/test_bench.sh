#!/usr/bin/env bash
# polymoe bench: a quick CPU run of four suites, then its outputs: every JSON line parses and
# carries every field (the host, build and time of the run included), the markdown table is
# there, the SVG charts are well-formed XML; a quick train_step run of a built-in config and a
# config file, each with its dense twin, whose rows carry a spread of tokens/s and an MFU
# against a measured peak; and bad arguments give a clear message with exit status 2.
# usage: test_bench.sh PATH/TO/polymoe
source "$(dirname "$0")/testlib.sh"

start=$(date +%s)
if "$pm" bench --quick --backend cpu --suite gemm,router,dispatch,moe_layer --out out > bench.log 2>&1; then
  ok "bench --quick --backend cpu ran ($(( $(date +%s) - start )) s)"
else
  bad "bench exited with $? (last lines: $(tail -3 bench.log))"
fi

# check_json FILE SUITES [CASES]: SUITES the suites wanted (comma-separated), CASES the
# train_step cases wanted
check_json() {
  python3 - "$@" <<'PY'
import json, re, sys
fields = ["suite", "op", "case", "backend", "implementation", "device", "shape", "dtype",
          "median_ms", "spread", "reps", "gflops", "gbps", "host_cpu", "omp_threads", "commit",
          "run_utc"]
spread = ["min_ms", "max_ms", "q1_ms", "q3_ms"]
train = ["tokens_per_s", "tokens_per_s_min", "tokens_per_s_max", "mfu", "peak_gflops",
         "peak_source", "fma_peak_gflops", "gemm_ceiling_gflops", "peak_bytes"]
suites, cases, problems, n = set(), set(), [], 0
for i, line in enumerate(open(sys.argv[1]), 1):
    try:
        o = json.loads(line)
    except ValueError as e:
        problems.append(f"line {i} does not parse: {e}")
        continue
    n += 1
    missing = [f for f in fields if f not in o] + [f"spread.{f}" for f in spread if f not in o.get("spread", {})]
    if missing:
        problems.append(f"line {i} lacks {missing}")
        continue
    s = o["spread"]
    if not (s["min_ms"] <= s["q1_ms"] <= o["median_ms"] <= s["q3_ms"] <= s["max_ms"]) or o["reps"] < 1:
        problems.append(f"line {i}: median/spread out of order")
    if (o["gflops"] is None) == (o["gbps"] is None):
        problems.append(f"line {i}: wants exactly one of gflops and gbps")
    if o["op"] == "moe_mlp_fwd_bwd" and not o.get("moe_over_dense", 0) > 0:
        problems.append(f"line {i}: MoE record without moe_over_dense")
    if not (o["host_cpu"] and o["commit"] and o["omp_threads"] >= 1
            and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", o["run_utc"])):
        problems.append(f"line {i}: host, build or time missing: {o['host_cpu']!r} {o['omp_threads']} {o['commit']!r} {o['run_utc']!r}")
    if o["op"] == "train_step":
        cases.add(o["case"])
        if [f for f in train if f not in o]:
            problems.append(f"line {i} lacks {[f for f in train if f not in o]}")
            continue
        if not (o["tokens_per_s_min"] <= o["tokens_per_s"] <= o["tokens_per_s_max"]) or o["reps"] < 3:
            problems.append(f"line {i}: tokens/s spread out of order or under 3 runs")
        if not 0 < o["mfu"] < 1:
            problems.append(f"line {i}: MFU {o['mfu']} outside (0, 1)")
        best = max(o["fma_peak_gflops"], o["gemm_ceiling_gflops"] or 0)
        if o["peak_source"] not in ("fma_loop", "gemm_ceiling") or abs(o["peak_gflops"] - best) > 1e-3 * best:
            problems.append(f"line {i}: peak {o['peak_gflops']} ({o['peak_source']}) is not the higher measured one")
    suites.add(o["suite"])
want = set(sys.argv[2].split(","))
if suites != want:
    problems.append(f"suites {sorted(suites)}, wanted {sorted(want)}")
if len(sys.argv) > 3 and cases != set(sys.argv[3].split(",")):
    problems.append(f"train_step cases {sorted(cases)}, wanted {sys.argv[3]}")
print("; ".join(problems[:5]) if problems else f"{n} lines")
sys.exit(1 if problems or n == 0 else 0)
PY
}
msg=$(check_json out/bench.jsonl gemm,router,dispatch,moe_layer 2>&1) && ok "JSON lines parse and carry every field ($msg)" || bad "JSON: $msg"

for svg in gemm moe_vs_dense; do
  msg=$(python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag.endswith("svg"), root.tag
print(len(list(root.iter())), "elements")' "out/$svg.svg" 2>&1) && ok "$svg.svg is well-formed SVG ($msg)" || bad "$svg.svg: $msg"
done

grep -q '^| cpu | openblas | gemm | square |' out/bench.md && grep -q '^Host: ' out/bench.md \
  && ok "bench.md has the host and the table" || bad "bench.md incomplete"

# a config file of its own: one MoE layer, small enough to take well under a second a step
echo '{"n_layer": 2, "n_head": 2, "n_embd": 64, "block_size": 64, "moe_layers": [1], "batch_size": 4}' > mini.json
start=$(date +%s)
if "$pm" bench --quick --backend cpu --suite train_step --config tiny --config mini.json --out ts > ts.log 2>&1; then
  ok "bench --quick --suite train_step --config tiny --config mini.json ran ($(( $(date +%s) - start )) s)"
else
  bad "train_step bench exited with $? (last lines: $(tail -3 ts.log))"
fi
msg=$(check_json ts/bench.jsonl train_step tiny,tiny-dense,mini,mini-dense 2>&1) \
  && ok "train_step rows: MoE and dense twins, tokens/s spread, MFU in (0, 1) against the measured peak ($msg)" \
  || bad "train_step JSON: $msg"
grep -q '^| cpu | openblas | gemm | ceiling |' ts/bench.md && grep -q 'MFU [0-9.]*% of [0-9]* GFLOP/s (measured' ts/bench.md \
  && grep -q '^Measured FMA peak of the host: ' ts/bench.md \
  && ok "bench.md gives the GEMM ceiling, the FMA peak and which one MFU is against" || bad "train_step bench.md incomplete"

"$pm" bench --help > help.txt 2>&1 && grep -q -- '--quick' help.txt && ok "--help" || bad "--help"

expect_error() { # name pattern args...
  local name=$1 pattern=$2; shift 2
  local msg rc
  msg=$("$pm" bench "$@" 2>&1); rc=$?
  if [ $rc -eq 2 ] && grep -qi -- "$pattern" <<<"$msg"; then ok "$name"; else bad "$name (exit $rc): $msg"; fi
}
expect_error "unknown option" "unknown option" --frobnicate
expect_error "unknown suite" "unknown suite 'nope'" --suite gemm,nope
expect_error "unknown backend" "not compiled in" --backend nope
expect_error "option without value" "needs a value" --out
expect_error "unknown config" "no config 'nope'" --config nope
expect_error "config without train_step" "train_step suite" --suite gemm --config tiny

finish
