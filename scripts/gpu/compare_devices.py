#!/usr/bin/env python3
"""Compares precis runs of one model on two devices (scripts/gpu/check.sh step 3): greedy
generation (tokens, their log-probs, and the top-2 margin where they part) and teacher-forced
scoring of a fixed text. The CPU backend is the reference.

usage: compare_devices.py DIR DEVICE
  reads DIR/generate-{DEVICE,cpu}.json and DIR/score-{DEVICE,cpu}.json
Prints one 'key: value' line per figure (scripts/gpu/report.py reads them) and exits 1 when the
devices disagree beyond rounding: a scored log-prob differs by more than 0.05 nats, or greedy
decoding parts where the CPU's top two tokens were more than 0.05 nats apart (not a near-tie).
"""
import json
import os
import sys

TOLERANCE = 0.05


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    d, dev = sys.argv[1], sys.argv[2]
    ok = True
    gen = load(os.path.join(d, f"generate-{dev}.json"))["choices"][0]
    ref = load(os.path.join(d, "generate-cpu.json"))["choices"][0]
    n = min(len(gen["tokens"]), len(ref["tokens"]))
    same = 0
    while same < n and gen["tokens"][same] == ref["tokens"][same]:
        same += 1
    print(f"greedy tokens compared: {n}")
    print(f"greedy tokens identical before the first difference: {same}")
    if same < n:
        alts = sorted((a["logprob"] for a in ref["top_logprobs"][same]), reverse=True)
        margin = alts[0] - alts[1] if len(alts) > 1 else float("inf")
        print(f"greedy cpu top-2 margin where they part: {margin:.4f}")
        if margin > TOLERANCE:
            ok = False
    diffs = [abs(gen["logprobs"][i] - ref["logprobs"][i]) for i in range(same)]
    print(f"greedy log-prob max abs diff: {max(diffs, default=0):.5f}")

    s, r = load(os.path.join(d, f"score-{dev}.json")), load(os.path.join(d, "score-cpu.json"))
    if s["tokens"] != r["tokens"]:
        print("score tokens: DIFFERENT tokenization")
        return 1
    # The first token (BOS) has no log-prob of its own in some layouts: compare what both give.
    a = [x for x in s["logprobs"] if x is not None]
    b = [x for x in r["logprobs"] if x is not None]
    sd = [abs(x - y) for x, y in zip(a, b)]
    print(f"score tokens: {len(sd)}")
    print(f"score log-prob max abs diff: {max(sd, default=0):.5f}")
    print(f"score log-prob mean abs diff: {sum(sd) / max(len(sd), 1):.6f}")
    print(f"score total log-prob {dev}: {sum(a):.4f}, cpu: {sum(b):.4f}")
    if max(sd, default=0) > TOLERANCE:
        ok = False
    print("devices agree" if ok else f"DEVICES DISAGREE beyond {TOLERANCE} nats")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
