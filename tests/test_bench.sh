#!/usr/bin/env bash
# polymoe bench: a quick CPU run of four suites, then its outputs: every JSON line parses and
# carries every field, the markdown table is there, the SVG charts are well-formed XML; and bad
# arguments give a clear message with exit status 2.
# usage: test_bench.sh PATH/TO/polymoe
source "$(dirname "$0")/testlib.sh"

start=$(date +%s)
if "$pm" bench --quick --backend cpu --suite gemm,router,dispatch,moe_layer --out out > bench.log 2>&1; then
  ok "bench --quick --backend cpu ran ($(( $(date +%s) - start )) s)"
else
  bad "bench exited with $? (last lines: $(tail -3 bench.log))"
fi

check_json() {
  python3 - "$1" <<'PY'
import json, sys
fields = ["suite", "op", "case", "backend", "implementation", "device", "shape", "dtype",
          "median_ms", "spread", "reps", "gflops", "gbps"]
spread = ["min_ms", "max_ms", "q1_ms", "q3_ms"]
suites, problems, n = set(), [], 0
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
    if o["implementation"] == "naive":
        problems.append(f"line {i}: the naive reference GEMM was benchmarked")
    if o["op"] == "moe_mlp_fwd_bwd" and not o.get("moe_over_dense", 0) > 0:
        problems.append(f"line {i}: MoE record without moe_over_dense")
    suites.add(o["suite"])
want = {"gemm", "router", "dispatch", "moe_layer"}
if suites != want:
    problems.append(f"suites {sorted(suites)}, wanted {sorted(want)}")
print("; ".join(problems[:5]) if problems else f"{n} lines")
sys.exit(1 if problems or n == 0 else 0)
PY
}
msg=$(check_json out/bench.jsonl 2>&1) && ok "JSON lines parse and carry every field ($msg)" || bad "JSON: $msg"

for svg in gemm moe_vs_dense; do
  msg=$(python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag.endswith("svg"), root.tag
print(len(list(root.iter())), "elements")' "out/$svg.svg" 2>&1) && ok "$svg.svg is well-formed SVG ($msg)" || bad "$svg.svg: $msg"
done

grep -q '^| cpu | openblas | gemm | square |' out/bench.md && grep -q 'naive' out/bench.md \
  && ok "bench.md has the table and names the skipped naive GEMM" || bad "bench.md incomplete"

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

finish
