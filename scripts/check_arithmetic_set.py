#!/usr/bin/env python3
"""Checks data/eval/arithmetic.jsonl on its own terms, without the generator's arithmetic.

For every item it reads each quantity back from the question text (digits, "$1.50", "20%",
"twice", "three times", "half", number words), checks that every number written in the
question is one of the item's quantities (nothing given goes unused), that constants the text
does not state are the common ones (7 days a week, 12 in a dozen, 100 cm in a metre), then
evaluates the item's formula (only + - * / and parentheses) on the values read from the text and
compares it with the stored answer. It also checks the step count (the formula's operators,
1 to 4), that answers are positive, that ids and questions are unique. Exit status 1 on any
problem, each one printed.
"""
import ast
import json
import re
import sys

WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
         "twice": 2, "two times": 2, "three times": 3, "four times": 4, "five times": 5,
         "half": 0.5, "a quarter": 0.25, "three quarters": 0.75}
CONSTANTS = {"days": 7, "dozen": 12, "cm_per_m": 100}


def read_value(text):
    """The value a piece of question text states, or None."""
    t = text.lower()
    if t in WORDS:
        return WORDS[t]
    m = re.fullmatch(r"\$?(\d+(?:\.\d+)?)%?", t)
    return float(m.group(1)) if m else None


def evaluate(node, env):
    if isinstance(node, ast.Expression):
        return evaluate(node.body, env)
    if isinstance(node, ast.BinOp) and type(node.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div):
        a, b = evaluate(node.left, env), evaluate(node.right, env)
        return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b,
                ast.Div: a / b if b else float("nan")}[type(node.op)]
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    raise ValueError(f"not allowed in a formula: {ast.dump(node)}")


def operators(node):
    return sum(isinstance(n, ast.BinOp) for n in ast.walk(node))


def check(item):
    problems = []
    q = item["question"]
    env = {}
    for name, (value, text) in item["quantities"].items():
        if text is None:
            if CONSTANTS.get(name) != value:
                problems.append(f"constant {name}={value} is not a known common constant")
            env[name] = CONSTANTS.get(name, value)
            continue
        if not re.search(r"(?<![\w.$])" + re.escape(text) + r"(?!\w|\.\d)", q, re.IGNORECASE):
            problems.append(f"{name}: {text!r} is not in the question")
        read = read_value(text)
        if read is None or abs(read - value) > 1e-9:
            problems.append(f"{name}: {text!r} reads as {read}, stored {value}")
        env[name] = read if read is not None else value
    # Every number written in the question is one of the quantities.
    stated = {t.lower() for _, t in item["quantities"].values() if t}
    for m in re.finditer(r"\$?\d+(?:\.\d+)?%?", q):
        tok = m.group(0)
        if tok.lower() not in stated and tok.lstrip("$").rstrip("%") not in {
                s.lstrip("$").rstrip("%") for s in stated}:
            problems.append(f"the number {tok!r} in the question is not a quantity")
    tree = ast.parse(item["formula"], mode="eval")
    try:
        got = evaluate(tree, env)
    except (KeyError, ValueError) as e:
        return problems + [f"formula: {e}"]
    if abs(got - item["answer"]) > 0.005:
        problems.append(f"formula gives {got}, stored answer {item['answer']}")
    if not item["answer"] > 0:
        problems.append(f"answer {item['answer']} is not positive")
    ops = operators(tree)
    if ops != item["steps"] or not 1 <= ops <= 4:
        problems.append(f"steps {item['steps']}, formula has {ops} operations (want 1-4)")
    return problems


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "data/eval/arithmetic.jsonl"
    items = [json.loads(line) for line in open(path, encoding="utf-8")]
    bad = 0
    for it in items:
        for p in check(it):
            print(f"{it['id']}: {p}")
            bad += 1
    for key in ("id", "question"):
        if len({it[key] for it in items}) != len(items):
            print(f"duplicate {key}s")
            bad += 1
    steps = {s: sum(1 for it in items if it["steps"] == s) for s in range(1, 5)}
    print(f"{len(items)} items, steps {steps}, {bad} problems")
    sys.exit(1 if bad or len(items) < 150 else 0)


if __name__ == "__main__":
    main()
