#!/usr/bin/env python3
"""The report of scripts/gpu-verify.sh: reads the work folder the script filled (steps.tsv, one
line per step; logs/; bench/*.jsonl; peer/*.json; info/) and writes one JSON file and one
markdown table. Every figure comes from a log or a result file of this run; a step that did
not run is reported as skipped, not-run or failed with its reason, never as passed.

usage: gpu_verify_report.py WORK OUT_JSON OUT_MD
Exit status: 0 when no step failed or timed out, 1 otherwise, 2 on bad usage.
Python 3 standard library only (it runs on the GPU image and here).
"""
import json
import os
import re
import sys

SCHEMA = "polymoe-gpu-verify/1"

# Datasheet peaks (NVIDIA H200 Tensor Core GPU datasheet; H200 SXM and H200 NVL): float32 on
# the CUDA cores, and TF32 on the tensor cores without sparsity (half the "with sparsity"
# figure the datasheet prints). Leads, as the device notes say; the device_info figure
# (2 x SMs x 128 lanes x max clock) is reported beside them.
PEAKS = [
    ("H200 NVL", {"fp32_tflops": 60.0, "tf32_dense_tflops": 417.5,
                  "source": "NVIDIA H200 datasheet, H200 NVL: FP32 60 TFLOPS, TF32 Tensor Core 835 TFLOPS with sparsity"}),
    ("H200", {"fp32_tflops": 67.0, "tf32_dense_tflops": 494.5,
              "source": "NVIDIA H200 datasheet, H200 SXM: FP32 67 TFLOPS, TF32 Tensor Core 989 TFLOPS with sparsity"}),
]

CHECK_ROW = re.compile(r"^(pass|FAIL|skip)\s+(\S+)\s+(\S+)\s+(.*)$")
TALLY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$")
NMSE = re.compile(r"nmse ([0-9.eE+-]+|inf|nan)")


def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


def read_json_lines(path):
    rows = []
    for line in read(path).splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    return rows


def split_shape(rest):
    """'m=1 n=7 ... detail' -> (shape, detail); shapes are name=value tokens, '-' or 'bad index'."""
    if rest.startswith("bad index"):
        return "bad index", rest[len("bad index"):].strip()
    if rest.startswith("- ") or rest == "-":
        return "-", rest[1:].strip()
    tokens = rest.split(" ")
    shape = []
    i = 0
    while i < len(tokens) and (tokens[i] == "" or re.fullmatch(r"\w+=\S+", tokens[i])):
        if tokens[i]:
            shape.append(tokens[i])
        i += 1
    return " ".join(shape), " ".join(tokens[i:]).strip()


def parse_check(text):
    """Rows and tally of `polymoe check` output; status from the rows, not the exit code."""
    rows, tally = [], None
    for line in text.splitlines():
        m = CHECK_ROW.match(line)
        if m:
            shape, detail = split_shape(m.group(4))
            n = NMSE.search(detail)
            rows.append({"status": m.group(1), "backend": m.group(2), "op": m.group(3),
                         "shape": shape, "detail": detail,
                         "nmse": float(n.group(1)) if n else None})
            continue
        m = TALLY.match(line.strip())
        if m:
            tally = {"passed": int(m.group(1)), "failed": int(m.group(2)), "skipped": int(m.group(3))}
    return rows, tally


def check_status(rows, tally, step_status):
    """pass only when rows passed and none failed; all skipped is skip, whatever the exit code."""
    if step_status in ("timeout", "not-run"):
        return step_status
    if tally is None:
        return "fail" if step_status in ("pass", "fail") else step_status
    if tally["failed"]:
        return "fail"
    if tally["passed"] == 0:
        return "skip"
    return "pass" if step_status == "pass" else "fail"


def parse_sanitizer(text):
    """Errors and hazards compute-sanitizer reported, and whether its summary was printed."""
    errors = [int(x) for x in re.findall(r"ERROR SUMMARY: (\d+) error", text)]
    hazards = [int(x) for x in re.findall(r"RACECHECK SUMMARY: (\d+) hazard", text)]
    runs = len(re.findall(r"^=== op ", text, re.M)) or (1 if errors else 0)
    return {"summaries": len(errors), "errors": sum(errors), "hazards": sum(hazards),
            "processes": runs, "first_report": next(
                (l for l in text.splitlines() if l.startswith("========= ") and
                 ("Invalid" in l or "hazard" in l.lower() or "Error" in l) and "SUMMARY" not in l), None)}


def parse_devices(text):
    """{backend: [{"name", "cpu", "details"}]} and the reasons of unavailable ones."""
    out, why, cur = {}, {}, None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^([a-z]+):$", line)
        if m:
            cur = m.group(1)
            out.setdefault(cur, [])
            continue
        if cur is None:
            continue
        m = re.match(r"^\s+\[(\d+)\] (.*)$", line)
        if m:
            name = m.group(2)
            cpu = name.endswith("(CPU implementation)")
            details = lines[i + 1].strip() if i + 1 < len(lines) else ""
            out[cur].append({"index": int(m.group(1)), "name": name.replace(" (CPU implementation)", ""),
                             "cpu": cpu, "details": details})
        m = re.match(r"^\s+unavailable: (.*)$", line)
        if m:
            why[cur] = m.group(1)
    return out, why


def parse_parity(text):
    """The rows of tests/test_parity.sh ("pass  NAME vs ref, N steps: detail", one per variant)
    and its tally; result pass only when rows passed and none failed."""
    rows = []
    for m in re.finditer(r"^(pass|FAIL)\s+(.+?) vs ref, (\d+) steps: (.*)$", text, re.M):
        worst = re.search(r"worst relative [a-z -]*difference ([0-9.eE+-]+)", m.group(4))
        rows.append({"result": m.group(1).lower(), "variant": m.group(2), "steps": int(m.group(3)),
                     "detail": m.group(4), "worst_relative_difference": float(worst.group(1)) if worst else None})
    skip = re.search(r"^skip\s+(.*)$", text, re.M)
    if rows:
        result = "fail" if any(r["result"] == "fail" for r in rows) else "pass"
        return {"result": result, "rows": rows,
                "detail": "; ".join(f"{r['variant']}: {r['result']}, {r['detail']}" for r in rows)}
    if skip:
        return {"result": "skip", "rows": [], "detail": skip.group(1)}
    return {"result": None, "rows": [], "detail": "no parity row in the log"}


def load_steps(work):
    steps = []
    for line in read(os.path.join(work, "steps.tsv")).splitlines():
        f = line.split("\t")
        if len(f) < 7:
            continue
        steps.append({"name": f[0], "title": f[1], "status": f[2],
                      "rc": int(f[3]) if f[3].lstrip("-").isdigit() else None,
                      "seconds": float(f[4]) if f[4] else None, "cap_s": int(f[5]) if f[5] else None,
                      "reason": f[6], "log": f"logs/{f[0]}.log"})
    return steps


def info(work, name):
    return read(os.path.join(work, "info", name)).strip()


def peaks_for(gpu_name, device_info_tflops):
    for key, p in PEAKS:
        if gpu_name and key in gpu_name:
            d = dict(p)
            d["device_info_fp32_tflops"] = device_info_tflops
            return d
    return {"fp32_tflops": device_info_tflops, "tf32_dense_tflops": None,
            "source": "device_info (2 x SMs x FP32 lanes x clock): not an H200 by name, no datasheet figure used",
            "device_info_fp32_tflops": device_info_tflops}


def fmt(v, spec=".1f", none="–"):
    return none if v is None else format(v, spec)


def main():
    if len(sys.argv) != 4:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    work, out_json, out_md = sys.argv[1:]
    meta = {}
    for line in read(os.path.join(work, "meta.tsv")).splitlines():
        k, _, v = line.partition("\t")
        meta[k] = v
    steps = load_steps(work)
    by_name = {s["name"]: s for s in steps}
    logs = {s["name"]: read(os.path.join(work, s["log"])) for s in steps}

    report = {"schema": SCHEMA, "mode": meta.get("mode"), "meta": meta, "steps": steps}

    # devices
    devices, unavailable = parse_devices(logs.get("devices", ""))
    gpus = {b: [d for d in ds if not d["cpu"]] for b, ds in devices.items()}
    report["devices"] = {"listed": devices, "unavailable": unavailable,
                         "gpu_backends": sorted(b for b, ds in gpus.items() if ds)}
    gpu_name = gpus.get("cuda", [{}])[0].get("name") if gpus.get("cuda") else None

    # conformance
    # conformance; a dry run's CPU samples (steps named *_sample, *_smoke) go to their own
    # section, so that nothing measured on a CPU sits in a GPU table
    conformance, samples = {}, {}
    for s in steps:
        if s["name"].startswith("check_"):
            entry = {"status": s["status"], "reason": s["reason"]}
            if s["status"] not in ("skip", "not-run"):
                rows, tally = parse_check(logs[s["name"]])
                s["status"] = check_status(rows, tally, s["status"])
                entry = {"status": s["status"], "reason": s["reason"], "tally": tally,
                         "failed_rows": [r for r in rows if r["status"] == "FAIL"][:50], "rows": len(rows)}
            if s["name"].endswith("_sample"):
                samples[s["name"]] = entry
            else:
                conformance[s["name"][len("check_"):]] = entry
    report["conformance"] = conformance

    # TF32 error against the fp32 reference: the conformance rows of the -tf32 GEMM
    # implementations next to their float32 twins (same op, same shape)
    rows, _ = parse_check(logs.get("check_cuda", ""))
    fp32 = {(r["backend"].split(":")[-1], r["op"], r["shape"]): r["nmse"] for r in rows}
    tf32_rows = []
    for r in rows:
        impl = r["backend"].split(":")[-1]
        if impl.endswith("-tf32") and r["shape"] not in ("-", "bad index"):
            tf32_rows.append({"impl": impl, "op": r["op"], "shape": r["shape"], "status": r["status"],
                              "nmse_tf32": r["nmse"],
                              "nmse_fp32": fp32.get((impl[:-5], r["op"], r["shape"]))})
    report["tf32_error"] = {"conformance_rows": tf32_rows,
                            "bound": "NMSE 1e-5 (BOUND_TF32 in tests/suite/conformance.c) against ref's double-accumulated result"}
    tf32_train = info(work, "tf32_train.json")
    if tf32_train:
        try:
            report["tf32_error"]["training"] = json.loads(tf32_train)
        except ValueError:
            report["tf32_error"]["training"] = {"error": "unreadable tf32_train.json"}

    # sanitizers
    sanitizer = {}
    for tool in ("memcheck", "racecheck"):
        s = by_name.get(tool)
        if not s:
            continue
        parsed = parse_sanitizer(logs[tool]) if s["status"] not in ("skip", "not-run") else None
        if parsed is not None:
            rows, tally = parse_check(logs[tool])
            parsed["check_tally_rows"] = {"passed": sum(r["status"] == "pass" for r in rows),
                                          "failed": sum(r["status"] == "FAIL" for r in rows),
                                          "skipped": sum(r["status"] == "skip" for r in rows)}
            clean = parsed["errors"] == 0 and parsed["hazards"] == 0
            if s["status"] == "pass":
                # a run without a summary, or whose check rows were all skipped, proves nothing
                if parsed["summaries"] == 0 or parsed["check_tally_rows"]["passed"] == 0:
                    s["status"] = "fail"
                    s["reason"] = "no sanitizer summary or no check row ran under it"
                elif not clean:
                    s["status"] = "fail"
        sanitizer[tool] = parsed
    report["sanitizer"] = sanitizer

    # parity
    parity = {}
    for name in ("parity_cuda",):
        s = by_name.get(name)
        if s and s["status"] not in ("skip", "not-run"):
            p = parse_parity(logs[name])
            parity[name] = p
            if p["result"] == "skip" and s["status"] in ("skip", "pass"):
                s["status"] = "skip"
            elif p["result"] in (None, "fail") and s["status"] == "pass":
                s["status"] = "fail"
                s["reason"] = p["detail"]
    report["parity"] = parity

    # GEMM: polymoe bench rows of the cuda backend
    gemm = read_json_lines(os.path.join(work, "bench", "gemm.jsonl"))
    # the driver's figure, as the train_step rows carry it (peak_source device_info)
    device_info_tflops = None
    for s in steps:
        for r in read_json_lines(os.path.join(work, "bench", s["name"] + ".jsonl")):
            if r.get("backend") == "cuda" and r.get("peak_source") == "device_info" and r.get("peak_gflops"):
                device_info_tflops = r["peak_gflops"] / 1000.0
    peaks = peaks_for(gpu_name, device_info_tflops)
    report["peaks"] = peaks
    gemm_rows = []
    for r in gemm:
        if r.get("backend") != "cuda" or r.get("gflops") is None:
            continue
        tf = r["gflops"] / 1000.0
        tf32 = str(r.get("implementation", "")).endswith("-tf32")
        peak = peaks["tf32_dense_tflops"] if tf32 else peaks["fp32_tflops"]
        gemm_rows.append({"op": r["op"], "case": r["case"], "shape": r["shape"],
                          "impl": r["implementation"], "median_ms": r["median_ms"], "tflops": tf,
                          "peak_tflops": peak, "fraction_of_peak": tf / peak if peak else None,
                          "peak_kind": "tf32_dense" if tf32 else "fp32"})
    report["gemm"] = gemm_rows
    if by_name.get("gemm_bench", {}).get("status") == "pass" and not gemm_rows:
        by_name["gemm_bench"]["status"] = "fail"
        by_name["gemm_bench"]["reason"] = "no cuda GEMM rows in bench.jsonl"

    # training steps: polymoe bench train_step rows and the PyTorch peers
    train = []
    for s in steps:
        if s["name"].startswith("train_"):
            rows = read_json_lines(os.path.join(work, "bench", s["name"] + ".jsonl"))
            rows = [r for r in rows if r.get("op") == "train_step"]
            for r in rows:
                train.append({"side": "polymoe", "backend": r["backend"], "impl": r["implementation"],
                              "case": r["case"], "shape": r["shape"], "tokens_per_s": r.get("tokens_per_s"),
                              "tokens_per_s_min": r.get("tokens_per_s_min"),
                              "tokens_per_s_max": r.get("tokens_per_s_max"), "peak_bytes": r.get("peak_bytes"),
                              "mfu": r.get("mfu"), "reps": r.get("reps"), "step": s["name"]})
            if s["status"] == "pass" and not rows:
                s["status"] = "fail"
                s["reason"] = "no train_step rows"
        if s["name"].startswith("peer_"):
            lines = [l for l in logs[s["name"]].splitlines() if l.startswith("{")]
            try:
                r = json.loads(lines[-1]) if lines else None
            except ValueError:
                r = None
            if r and s["name"].endswith("_smoke"):
                samples[s["name"]] = {"status": s["status"], "tokens_per_s": r.get("tokens_per_s"),
                                      "config": r.get("config"), "device": r.get("device"),
                                      "torch": r.get("torch")}
            elif r:
                train.append({"side": "pytorch", "backend": "cuda" if r.get("device") != "cpu" else "cpu",
                              "impl": f"{'dense' if r.get('dense') else r.get('impl') or 'no MoE layer'} "
                                      f"{'tf32' if r.get('tf32') else 'fp32'}",
                              "case": r.get("config") + ("-dense" if r.get("dense") else ""),
                              "shape": f"B={r.get('B')} T={r.get('T')}", "tokens_per_s": r.get("tokens_per_s"),
                              "tokens_per_s_min": r.get("tokens_per_s_min"),
                              "tokens_per_s_max": r.get("tokens_per_s_max"), "peak_bytes": r.get("peak_bytes"),
                              "torch": r.get("torch"), "device": r.get("device"), "reps": r.get("steps"),
                              "step": s["name"]})
            elif s["status"] == "pass":
                s["status"] = "fail"
                s["reason"] = "no JSON line from the peer"
    report["train_step"] = train
    report["dry_run_samples"] = samples

    # the issue's targets: met, missed, or not measured (None)
    def tps(side, backend, impl, case):
        for r in train:
            if r["side"] == side and r["backend"] == backend and r["impl"] == impl and r["case"] == case:
                return r["tokens_per_s"]
        return None

    def gemm_ms(impl, case, shape):
        for r in gemm_rows:
            if r["impl"] == impl and r["case"] == case and r["shape"] == shape:
                return r["tflops"]
        return None

    own, cub = gemm_ms("own", "square", "4096x4096x4096"), gemm_ms("cublas", "square", "4096x4096x4096")
    moe = tps("polymoe", "cuda", "cublas", "gpt2-small-moe")
    dense = tps("polymoe", "cuda", "cublas", "gpt2-small-moe-dense")
    peer = tps("pytorch", "cuda", "grouped fp32", "gpt2-small-moe")
    cc = conformance.get("cuda", {}).get("tally")
    mc, rc = sanitizer.get("memcheck"), sanitizer.get("racecheck")
    conf_ok = None
    if cc and mc and rc and by_name.get("memcheck", {}).get("status") != "timeout" and \
            by_name.get("racecheck", {}).get("status") != "timeout" and cc["passed"]:
        conf_ok = cc["failed"] == 0 and mc["errors"] == 0 and mc["summaries"] > 0 and \
            rc["errors"] == 0 and rc["hazards"] == 0 and rc["summaries"] > 0
    targets = [
        {"target": "own SGEMM >= 0.9x cuBLAS fp32 at 4096^3",
         "value": own / cub if own and cub else None, "met": (own / cub >= 0.9) if own and cub else None},
        {"target": "gpt2-small-moe training >= 1.5x the PyTorch grouped peer's tokens/s, fp32",
         "value": moe / peer if moe and peer else None, "met": (moe / peer >= 1.5) if moe and peer else None},
        {"target": "MoE/dense step time ratio < 1.3 (gpt2-small-moe vs its dense twin, fp32 cuBLAS)",
         "value": dense / moe if moe and dense else None, "met": (dense / moe < 1.3) if moe and dense else None},
        {"target": "every CUDA conformance row passing with no sanitizer report",
         "value": None, "met": conf_ok},
    ]
    report["targets"] = targets

    failed = [s["name"] for s in steps if s["status"] in ("fail", "timeout")]
    report["summary"] = {
        "passed": sum(s["status"] == "pass" for s in steps),
        "failed": sum(s["status"] == "fail" for s in steps),
        "timeout": sum(s["status"] == "timeout" for s in steps),
        "skipped": sum(s["status"] == "skip" for s in steps),
        "not_run": sum(s["status"] == "not-run" for s in steps),
        "failed_steps": failed,
    }
    with open(out_json, "w") as f:
        json.dump(report, f, indent=1, sort_keys=False)
        f.write("\n")
    with open(out_md, "w") as f:
        f.write(markdown(report))
    return 1 if failed else 0


def markdown(r):
    m = r["meta"]
    out = []
    w = out.append
    w(f"# polymoe GPU verification ({r['mode']})\n")
    if r["mode"] == "dry-run":
        w("**Dry run on a machine without a GPU: no GPU result below; GPU steps are skipped by name.**\n")
    w(f"- started {m.get('started_utc', '?')}, {m.get('elapsed_s', '?')} s of a {m.get('budget_s', '?')} s budget")
    w(f"- GPU: {m.get('gpu', 'none found')}; driver {m.get('driver') or '–'}; nvcc {m.get('nvcc', '?')}; "
      f"compute-sanitizer {m.get('sanitizer', 'not found')}")
    w(f"- source: {m.get('source', '?')}; tree sha256 {m.get('tree_sha256', '?')[:16]}")
    w(f"- build: CUDA arch {m.get('arch', '?')}, backends {m.get('backends_built', '?')}")
    w(f"- host: {m.get('host_cpu', '?')}, {m.get('nproc', '?')} cores; PyTorch {m.get('torch', 'not importable')}\n")
    s = r["summary"]
    w(f"**{s['passed']} passed, {s['failed']} failed, {s['timeout']} timed out, {s['skipped']} skipped, "
      f"{s['not_run']} not run.**\n")
    w("## Steps\n")
    w("| step | what | status | s | cap s | note |")
    w("| --- | --- | --- | ---: | ---: | --- |")
    for st in r["steps"]:
        w(f"| {st['name']} | {st['title']} | {st['status']} | {fmt(st['seconds'])} | {st['cap_s'] or ''} | "
          f"{st['reason'].replace('|', '/')} |")
    w("")
    if r["conformance"]:
        w("## Conformance (`polymoe check`)\n")
        w("| backend | status | passed | failed | skipped | first failures, or why not run |")
        w("| --- | --- | ---: | ---: | ---: | --- |")
        for b, c in r["conformance"].items():
            t = c.get("tally") or {}
            fails = "; ".join(f"{x['backend']} {x['op']} {x['shape']}: {x['detail']}" for x in c.get("failed_rows", [])[:3])
            note = fails or (c["reason"] if c["status"] != "pass" else "")
            w(f"| {b} | {c['status']} | {t.get('passed', '–')} | {t.get('failed', '–')} | {t.get('skipped', '–')} "
              f"| {note.replace('|', '/')} |")
        w("")
    if r["sanitizer"]:
        w("## compute-sanitizer\n")
        w("| tool | processes | errors | hazards | first report |")
        w("| --- | ---: | ---: | ---: | --- |")
        for tool, p in r["sanitizer"].items():
            if p is None:
                w(f"| {tool} | – | – | – | not run |")
            else:
                w(f"| {tool} | {p['processes']} | {p['errors']} | {p['hazards']} | {(p['first_report'] or '').replace('|', '/')} |")
        w("")
    if r["parity"]:
        w("## Trainer parity (tests/test_parity.sh)\n")
        for name, p in r["parity"].items():
            w(f"- {name}: {p['result']}: {p['detail']}")
        w("")
    pk = r["peaks"]
    if r["gemm"]:
        w("## GEMM (`polymoe bench --suite gemm`, cuda)\n")
        w(f"Peak used: float32 {fmt(pk['fp32_tflops'])} TFLOP/s, TF32 dense {fmt(pk['tf32_dense_tflops'])} TFLOP/s "
          f"({pk['source']}); device_info float32 {fmt(pk['device_info_fp32_tflops'])} TFLOP/s. "
          "gemm_grouped rows run the backend's own grouped kernels in every column (the column sets their precision).\n")
        impls = list(dict.fromkeys(g["impl"] for g in r["gemm"]))
        cells = {}
        for g in r["gemm"]:
            frac = f" ({100 * g['fraction_of_peak']:.0f}%)" if g["fraction_of_peak"] else ""
            cells.setdefault((g["op"], g["case"], g["shape"]), {})[g["impl"]] = (g["tflops"], f"{g['tflops']:.2f}{frac}")
        ratio = "own" in impls and "cublas" in impls
        w("TFLOP/s (fraction of the float32 peak; of the TF32 peak for -tf32 columns):\n")
        w("| op | case | shape | " + " | ".join(impls) + (" | own / cublas |" if ratio else " |"))
        w("| --- | --- | --- | " + " | ".join("---:" for _ in impls) + (" | ---: |" if ratio else " |"))
        for (op, case, shape), c in cells.items():
            row = f"| {op} | {case} | {shape} | " + " | ".join(c.get(i, (None, "–"))[1] for i in impls)
            if ratio:
                own, cub = c.get("own", (None,))[0], c.get("cublas", (None,))[0]
                row += f" | {own / cub:.2f}" if own and cub else " | –"
            w(row + " |")
        w("")
    if r["train_step"]:
        w("## Training step, GPT-2 small MoE and dense, B=2 T=512, vocab 50257, accumulation 1\n")
        w("| side | backend | implementation | case | tokens/s (median [min..max]) | peak device memory MiB | steps |")
        w("| --- | --- | --- | --- | ---: | ---: | ---: |")
        for t in r["train_step"]:
            mem = fmt(t["peak_bytes"] / 2**20, ",.0f") if t.get("peak_bytes") else "–"
            w(f"| {t['side']} | {t['backend']} | {t['impl']} | {t['case']} | {fmt(t['tokens_per_s'], ',.0f')} "
              f"[{fmt(t['tokens_per_s_min'], ',.0f')}..{fmt(t['tokens_per_s_max'], ',.0f')}] | {mem} | {t.get('reps') or ''} |")
        w("\npolymoe's peak is its own allocations (pm_peak_bytes); PyTorch's is torch.cuda.max_memory_allocated. "
          "Neither counts the CUDA context or library workspaces.\n")
    te = r["tf32_error"]
    if te["conformance_rows"] or te.get("training"):
        w("## TF32: error added against the float32 reference\n")
        if te["conformance_rows"]:
            worst = {}
            for x in te["conformance_rows"]:
                if x["nmse_tf32"] is not None and x["nmse_tf32"] >= worst.get(x["impl"], (-1,))[0]:
                    worst[x["impl"]] = (x["nmse_tf32"], f"{x['op']} {x['shape']}")
            w("Worst TF32 row: " + "; ".join(f"{k} NMSE {v[0]:.2g} ({v[1]})" for k, v in worst.items()) + "\n")
            w(f"Conformance rows (NMSE against ref; bound {te['bound']}):\n")
            w("| implementation | op | shape | NMSE TF32 | NMSE float32 twin | status |")
            w("| --- | --- | --- | ---: | ---: | --- |")
            for x in te["conformance_rows"]:
                w(f"| {x['impl']} | {x['op']} | {x['shape']} | {fmt(x['nmse_tf32'], '.2g')} "
                  f"| {fmt(x['nmse_fp32'], '.2g')} | {x['status']} |")
        if te.get("training"):
            w("\nTraining (tiny config, 20 steps, relative loss difference to the cuda float32 cuBLAS run):\n")
            for k, v in te["training"].items():
                w(f"- {k}: {v}")
        w("")
    if r["dry_run_samples"]:
        w("## Dry-run samples (CPU, to exercise the parsers; not GPU results)\n")
        for name, x in r["dry_run_samples"].items():
            w(f"- {name}: {json.dumps(x)}")
        w("")
    w("## Targets (issue 19)\n")
    w("| target | value | met |")
    w("| --- | ---: | --- |")
    for t in r["targets"]:
        met = {True: "yes", False: "**missed**", None: "not measured"}[t["met"]]
        w(f"| {t['target']} | {fmt(t['value'], '.2f')} | {met} |")
    w("")
    return "\n".join(out) + "\n"


def fallback(error):
    """A parser that breaks must not lose the run: the steps as recorded, and the error."""
    work, out_json, out_md = sys.argv[1:4]
    steps = load_steps(work)
    with open(out_json, "w") as f:
        json.dump({"schema": SCHEMA, "report_error": error, "steps": steps}, f, indent=1)
    with open(out_md, "w") as f:
        f.write("# polymoe GPU verification: the report broke\n\n```\n" + error + "```\n\n")
        f.write("| step | status | s | note |\n| --- | --- | ---: | --- |\n")
        for st in steps:
            f.write(f"| {st['name']} | {st['status']} | {fmt(st['seconds'])} | {st['reason']} |\n")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # noqa: BLE001 (any parser failure)
        import traceback
        fallback(traceback.format_exc())
        print(traceback.format_exc(), file=sys.stderr)
        sys.exit(1)
