#!/usr/bin/env python3
"""Writes OUTDIR/report.md from what scripts/gpu/check.sh left in OUTDIR (logs.txt, steps.tsv):
every figure of every step in tables. check.sh runs it after each step, so a run cut short still
leaves a report of the steps that ran.

usage: report.py [--dry-run-flag 0|1] OUTDIR
"""
import argparse
import os
import re


def sections(log):
    """{step number: (name, text)} from the '=== step N name' headers; 0 is the preamble."""
    out, num, name, buf = {}, 0, "preamble", []
    for line in log.splitlines():
        m = re.match(r"=== step (\d+) (\S+)", line)
        if m:
            out[num] = (name, "\n".join(buf))
            num, name, buf = int(m.group(1)), m.group(2), []
        elif not line.startswith("=== end of step"):
            buf.append(line)
    out[num] = (name, "\n".join(buf))
    return out


def status_word(rc):
    return {"0": "passed", "124": "TIMED OUT", "137": "KILLED (timeout)"}.get(rc, f"FAILED (exit {rc})")


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def bench_rows(text):
    """engine_bench's per-batch rows: batch -> (decode tok/s, generated tok/s, KV blocks)."""
    rows = {}
    for m in re.finditer(r"^(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+\(", text, re.M):
        rows[int(m.group(1))] = (float(m.group(2)), float(m.group(3)), int(m.group(4)))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dry-run-flag", default="0")
    ap.add_argument("outdir")
    a = ap.parse_args()
    log = open(os.path.join(a.outdir, "logs.txt"), errors="replace").read()
    steps = [l.split("\t") for l in open(os.path.join(a.outdir, "steps.tsv")).read().splitlines() if l]
    sec = sections(log)
    get = lambda n: sec.get(n, ("", ""))[1]
    md = []
    pre = get(0).splitlines()
    md.append("# precis GPU check" + (" (DRY RUN on the CPU: no GPU figures)" if a.dry_run_flag == "1" else ""))
    md += ["", *[f"- {l}" for l in pre if l.strip()], ""]

    gpu = re.search(r"^name, driver_version.*\n(.+)$", get(1), re.M)
    if gpu:
        md += [f"GPU: {gpu.group(1)}", ""]

    md += ["## Steps", "", table(["step", "result", "seconds", "timeout (s)"],
                                 [(s[0], status_word(s[1]), s[2], s[3]) for s in steps]), ""]

    if 2 in sec:
        rows = []
        for m in re.finditer(r"^--- (\S+) \(exit (\d+)\) ---\n(.*?)(?=^--- |\Z)", get(2), re.M | re.S):
            body = m.group(3)
            summary = re.findall(r"^(All tests passed.*|test cases:.*|skipped: .*)$", body, re.M)
            dev = re.search(r"^CUDA device 0: (.*)$", body, re.M)
            rows.append((m.group(1), m.group(2), summary[-1] if summary else "(no summary: see logs.txt)",
                         dev.group(1) if dev else "-"))
        md += ["## GPU tests", "", table(["test", "exit", "Catch2 summary", "device"], rows), ""]

    if 3 in sec:
        figs = re.findall(r"^([a-z][\w ,-]*(?:\([^)]*\))?[\w ,-]*): (.+)$", get(3), re.M)
        verdict = re.search(r"^(devices agree|DEVICES DISAGREE.*)$", get(3), re.M)
        md += ["## Default model (models/default), CUDA against the CPU reference", "",
               table(["figure", "value"], figs)]
        md += ["", f"Verdict: {verdict.group(1) if verdict else 'no verdict (see logs.txt)'}", ""]

    if 4 in sec:
        size = re.search(r"^(\S+)\s+/tmp/\S+bench-model$", get(4), re.M)
        secs = next((s[2] for s in steps if s[0].startswith("4 ")), "?")
        md += ["## make-model", "", f"- {secs} s" + (f", {size.group(1)} on disk" if size else ""), ""]

    if 5 in sec:
        t = get(5)
        md.append("## engine_bench")
        md.append("")
        for pat in (r"^model .*$", r"^prefill .*$", r"^workload: .*$", r"^.*bandwidth: .*$",
                    r"^batch-1 decode reads .*$", r"^transformers \d.*$", r"^dry run: .*$"):
            for m in re.finditer(pat, t, re.M):
                md.append(f"- {m.group(0)}")
        ours = bench_rows(t)
        theirs = {int(b): float(x) for b, x in re.findall(
            r"^transformers batch (\d+): ([\d.]+) generated tokens/s", t, re.M)}
        oom = {int(b) for b in re.findall(r"^transformers batch (\d+): out of device memory", t, re.M)}
        rows = []
        for b, (dec, gen, blocks) in sorted(ours.items()):
            th = theirs.get(b)
            rows.append((b, f"{dec:.1f}", f"{gen:.1f}", blocks,
                         f"{th:.1f}" if th else ("OOM" if b in oom else "-"),
                         f"{gen / th:.2f}x" if th else "-"))
        md += ["", table(["batch", "precis decode tok/s", "precis generated tok/s", "KV blocks",
                          "transformers generated tok/s", "precis / transformers"], rows), ""]

    if 6 in sec:
        g, ng = bench_rows(get(5)), bench_rows(get(6))
        rows = [(b, f"{g[b][0]:.1f}" if b in g else "-", f"{ng[b][0]:.1f}",
                 f"{g[b][0] / ng[b][0]:.2f}x" if b in g and ng[b][0] else "-") for b in sorted(ng)]
        md += ["## CUDA graphs", "", table(["batch", "decode tok/s with graphs", "without",
                                            "graphs / without"], rows), ""]

    if 7 in sec:
        t = get(7)
        md += ["## q4_0 (precis quantize of the same model)", ""]
        for pat in (r"^model .*$", r"^prefill .*$", r"^workload: .*$", r"^batch-1 decode reads .*$"):
            md += [f"- {m.group(0)}" for m in re.finditer(pat, t, re.M)]
        q, f16 = bench_rows(t), bench_rows(get(5))
        rows = [(b, f"{dec:.1f}", f"{gen:.1f}", f"{f16[b][0]:.1f}" if b in f16 else "-",
                 f"{dec / f16[b][0]:.2f}x" if b in f16 and f16[b][0] else "-")
                for b, (dec, gen, _) in sorted(q.items())]
        md += ["", table(["batch", "q4_0 decode tok/s", "q4_0 generated tok/s",
                          "f16 decode tok/s (step 5)", "q4_0 / f16"], rows), ""]

    if 8 in sec:
        t = get(8)
        md += ["## Long-context decode (f16)", ""]
        md += [f"- {m.group(0)}" for m in re.finditer(r"^(workload: .*|batch-1 decode reads .*)$", t, re.M)]
        md += ["", table(["batch", "decode tok/s", "generated tok/s", "KV blocks"],
                         [(b, f"{d:.1f}", f"{g:.1f}", k) for b, (d, g, k) in sorted(bench_rows(t).items())]), ""]

    if 9 in sec:
        md += ["## Linear-layer kernels alone (bench/cuda_linear_bench)", "", "```",
               get(9).strip(), "```", ""]

    if 10 in sec:
        t = get(10)
        start = t.find("decode steps profiled")
        md += ["## One batch-1 f16 decode step, kernel by kernel (ncu, eager launches)", "", "```",
               (t[start:] if start >= 0 else t[-3000:]).strip(), "```", ""]

    if 11 in sec:
        t = get(11)
        bench, _, profile = t.partition("--- the decode step's kernels with both fusions ---")
        base = bench_rows(get(5))
        rows = []
        for m in re.finditer(r"^--- fusion: (.*?) ---\n(.*?)(?=^--- fusion: |\Z)", bench, re.M | re.S):
            for b, (dec, _, _) in sorted(bench_rows(m.group(2)).items()):
                rows.append((m.group(1), b, f"{base[b][0]:.1f}" if b in base else "-", f"{dec:.1f}",
                             f"{dec / base[b][0]:.3f}x" if b in base and base[b][0] else "-"))
        md += ["## Decode fusions (not yet the default)", ""]
        md += [f"- {m.group(0)}" for m in re.finditer(r"^batch-1 decode reads .*$", bench, re.M)]
        md += ["", table(["flags", "batch", "decode tok/s, unfused (step 5)", "fused",
                          "fused / unfused"], rows), ""]
        start = profile.find("decode steps profiled")
        if start >= 0:
            md += ["The decode step kernel by kernel with both fusions (ncu, eager launches):", "",
                   "```", profile[start:].strip(), "```", ""]

    md += ["Raw output of every step: logs.txt.", ""]
    with open(os.path.join(a.outdir, "report.md"), "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
