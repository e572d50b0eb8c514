#!/usr/bin/python3
"""Draws bench/e2e_eval's figures (its --json output) as a PNG: accuracy relative to the full
prompt and end-to-end time relative to the full prompt's, per method and rate. Needs Debian's
python3-matplotlib (hence /usr/bin/python3).

    /usr/bin/python3 bench/e2e_chart.py e2e.json out.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    data = json.load(open(sys.argv[1]))
    rows = data["rows"]
    names = [r["method"] for r in rows]
    acc = [r["accuracy"] for r in rows]
    full = next((r for r in rows if r["method"] == "full"), rows[0])
    time_rel = [r["total_s"] / full["total_s"] if full["total_s"] else 0 for r in rows]

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    a1.bar(names, acc, color=["#555" if n == "full" else "#3b7dd8" for n in names])
    a1.set_ylabel("accuracy (answer in the reply)")
    a1.set_title(f"{data['items']} questions, {data['model'].split('/')[-1]}")
    a2.bar(names, time_rel, color=["#555" if n == "full" else "#d8843b" for n in names])
    a2.axhline(0.5, color="k", lw=0.8, ls="--")
    a2.set_ylabel("end-to-end time / full prompt's")
    a2.set_title("time (compression included)")
    for ax in (a1, a2):
        ax.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
