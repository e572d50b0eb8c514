#!/usr/bin/env python3
"""Where one decode step's GPU time goes: reads Nsight Compute's CSV (`ncu --csv --page raw
--metrics gpu__time_duration.sum`, one row per kernel launch, in launch order), cuts the launches
into engine steps at each embedding kernel (every forward starts with one), keeps the steps that
ran decode attention, and prints per kernel: launches and microseconds per step, and the share
of the step's kernel time. The sum is GPU busy time only; the gap to a measured step time is
launch latency and idle GPU between kernels.

usage: kernel_profile.py NCU_CSV [--step-ms MEASURED_MS_PER_STEP]
"""
import argparse
import csv
import re
import sys
from collections import defaultdict

DURATION = "gpu__time_duration.sum"


def base_name(kernel):
    """'void precis::cuda::(anonymous namespace)::dense_gemv_kernel<__half, 1>(...)' ->
    'dense_gemv_kernel<__half, 1>': the function with its template arguments, no namespaces."""
    name = kernel[5:] if kernel.startswith("void ") else kernel
    for anonymous in ("(anonymous namespace)::", "<unnamed>::"):  # as ncu may print either
        name = name.replace(anonymous, "")
    depth, cut = 0, len(name)
    for i, c in enumerate(name):  # drop the parameter list: the first '(' outside '<...>'
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        elif c == "(" and depth == 0:
            cut = i
            break
    name = name[:cut]
    head = name.split("<", 1)[0]
    return head.rsplit("::", 1)[-1] + name[len(head):]


def launches(path):
    """[(kernel base name and grid, duration in ns)] in launch order."""
    lines = open(path, errors="replace").read().splitlines()
    start = next((i for i, l in enumerate(lines) if '"Kernel Name"' in l), None)
    if start is None:
        raise SystemExit(f"kernel_profile.py: no ncu CSV header in {path}")
    out = []
    scale = 1.0  # to ns, from the units row under the header ("nsecond", "usecond", ...)
    for row in csv.DictReader(lines[start:]):
        value = (row.get(DURATION) or "").replace(",", "")
        if not (row.get("ID") or "").strip().isdigit():
            unit = re.sub(r"[^a-z]", "", value.lower())
            scale = {"usecond": 1e3, "us": 1e3, "msecond": 1e6, "ms": 1e6}.get(unit, scale)
            continue
        try:
            ns = float(value) * scale
        except ValueError:
            continue
        # The grid tells the linear layers apart (q/k/v, o, gate/up, down and the LM head share
        # one GEMV kernel).
        grid = re.sub(r"[()\s]", "", row.get("Grid Size") or "").replace(",1,1", "")
        out.append((base_name(row["Kernel Name"]) + (f" grid {grid}" if grid else ""), ns))
    return out


def decode_steps(rows):
    steps, cur = [], []
    for name, ns in rows:
        if "embedding" in name and cur:
            steps.append(cur)
            cur = []
        cur.append((name, ns))
    if cur:
        steps.append(cur)
    return [s for s in steps if any("paged_attention_decode" in n for n, _ in s)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--step-ms", type=float, default=0)
    a = ap.parse_args()
    steps = decode_steps(launches(a.csv))
    if not steps:
        print("kernel_profile.py: no decode step among the profiled launches")
        return 1
    per = defaultdict(lambda: [0, 0.0])  # name -> [launches, ns] summed over steps
    for s in steps:
        for name, ns in s:
            per[name][0] += 1
            per[name][1] += ns
    n = len(steps)
    total_us = sum(v[1] for v in per.values()) / n / 1e3
    print(f"decode steps profiled: {n}; kernels per step: {sum(v[0] for v in per.values()) / n:.0f}")
    print(f"kernel time per step: {total_us:.1f} us")
    if a.step_ms > 0:
        print(f"measured step time (graphs): {a.step_ms * 1e3:.1f} us; kernels busy "
              f"{100 * total_us / (a.step_ms * 1e3):.0f}% of it")
    print()
    print(f"{'kernel':70s} {'per step':>8s} {'us/step':>9s} {'us each':>8s} {'share':>6s}")
    for name, (count, ns) in sorted(per.items(), key=lambda kv: -kv[1][1]):
        us = ns / n / 1e3
        print(f"{name[:70]:70s} {count / n:8.1f} {us:9.1f} {us / (count / n):8.2f} "
              f"{100 * us / total_us:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
