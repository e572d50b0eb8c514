#!/usr/bin/env python3
"""Writes data/eval/arithmetic.jsonl: GSM8K-style arithmetic word problems of one to four steps.

Each template draws names, nouns, units and numbers from a fixed-seed generator, words the
problem one of several ways, and computes the answer directly in Python. It also records the
answer as a formula over named quantities (`formula`, `quantities`) so that
scripts/check_arithmetic_set.py can re-derive every answer from the question text on its own.
Some templates need knowledge the text does not state (7 days a week, 100 cm in a metre, 12 in a
dozen) or operations a planner must not guess (percentages, averages, fractions): a plan that is
not certain has to leave those steps open. Standard library only; same seed, same bytes.
"""
import argparse
import json
import random

NAMES = ["Ava", "Ben", "Chloe", "Diego", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal",
         "Kira", "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq"]
PRON = {"Ava": "she", "Ben": "he", "Chloe": "she", "Diego": "he", "Elena": "she", "Farid": "he",
        "Grace": "she", "Hiro": "he", "Ines": "she", "Jamal": "he", "Kira": "she", "Liam": "he",
        "Maya": "she", "Noah": "he", "Olga": "she", "Priya": "she", "Quinn": "he", "Rosa": "she",
        "Sam": "he", "Tariq": "he"}
THINGS = ["apples", "marbles", "stickers", "pencils", "stamps", "seashells", "cards", "books",
          "oranges", "buttons", "coins", "shells"]
GOODS = [("muffins", "cookies"), ("notebooks", "pens"), ("sandwiches", "juices"),
         ("roses", "tulips"), ("shirts", "hats"), ("bagels", "donuts"), ("cakes", "pies")]
SHOPS = ["bakery", "shop", "store", "market stall", "cafe", "kiosk"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
TIMES = {2: "twice", 3: "three times", 4: "four times", 5: "five times"}
WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


def money(x):
    """$3, $1.50: whole dollars without cents."""
    return f"${x:.2f}" if x != int(x) else f"${int(x)}"


def num(x):
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def two(r):
    a, b = r.sample(NAMES, 2)
    return a, b


def price(r, lo=1, hi=9):
    """A price in whole dollars or with 25/50/75 cents."""
    return r.randint(lo, hi) + r.choice([0, 0, 0.25, 0.5, 0.75])


# Each template returns (question, answer, formula, quantities, steps). `quantities` maps each
# name in `formula` to [value, text as written in the question] (constants the text does not
# state carry text None).

def bakery(r):
    shop, day = r.choice(SHOPS), r.choice(DAYS)
    a, b = r.choice(GOODS)
    pa, pb = price(r), price(r, 1, 4)
    n, k = r.randint(10, 60), r.choice([2, 3])
    q = r.choice([
        f"A {shop} sells {a} for {money(pa)} each and {b} for {money(pb)} each. On {day} it sold {n} {a} and {TIMES[k]} as many {b}. What was {day}'s revenue?",
        f"At a {shop}, {a} cost {money(pa)} each and {b} cost {money(pb)} each. On {day} the {shop} sold {n} {a} and {TIMES[k]} as many {b}. How much money did it take in on {day}?",
    ])
    ans = n * pa + k * n * pb
    return q, ans, "n * pa + k * n * pb", {"n": [n, str(n)], "pa": [pa, money(pa)], "pb": [pb, money(pb)], "k": [k, TIMES[k]]}, 4


def has_buys_altogether(r):
    x, y = two(r)
    t = r.choice(THINGS)
    n1, n2, n3 = r.randint(3, 40), r.randint(2, 20), r.randint(3, 40)
    q = r.choice([
        f"{x} has {n1} {t} and buys {n2} more. {y} has {n3} {t}. How many {t} do they have altogether?",
        f"{x} has {n1} {t}. {PRON[x].capitalize()} finds {n2} more {t}. {y} has {n3} {t}. How many {t} do {x} and {y} have in total?",
        f"{x} collected {n1} {t} and then {n2} more {t}. {y} collected {n3} {t}. How many {t} did they collect together?",
    ])
    return q, n1 + n2 + n3, "n1 + n2 + n3", {"n1": [n1, str(n1)], "n2": [n2, str(n2)], "n3": [n3, str(n3)]}, 2


def gave_ate_left(r):
    x, y = two(r)
    t = r.choice(THINGS)
    n2, n3 = r.randint(2, 15), r.randint(1, 9)
    n1 = n2 + n3 + r.randint(1, 30)
    q = r.choice([
        f"{x} has {n1} {t}. {PRON[x].capitalize()} gives {n2} {t} to {y} and loses {n3} {t}. How many {t} does {x} have left?",
        f"{x} had {n1} {t}. {PRON[x].capitalize()} gave {n2} to {y} and lost {n3}. How many {t} does {PRON[x]} have now?",
    ])
    return q, n1 - n2 - n3, "n1 - n2 - n3", {"n1": [n1, str(n1)], "n2": [n2, str(n2)], "n3": [n3, str(n3)]}, 2


def buy_each(r):
    x = r.choice(NAMES)
    a, _ = r.choice(GOODS)
    n, p = r.randint(2, 12), price(r)
    q = r.choice([
        f"{x} buys {n} {a} at {money(p)} each. How much does {PRON[x]} spend?",
        f"{a.capitalize()} cost {money(p)} each. {x} buys {n} {a}. How much does {PRON[x]} pay?",
        f"{x} bought {n} {a} for {money(p)} each. How much money did {PRON[x]} spend?",
    ])
    return q, n * p, "n * p", {"n": [n, str(n)], "p": [p, money(p)]}, 1


def change_from_bill(r):
    x = r.choice(NAMES)
    a, b = r.choice(GOODS)
    n1, p1, n2, p2 = r.randint(2, 6), price(r, 1, 5), r.randint(2, 6), price(r, 1, 3)
    total = n1 * p1 + n2 * p2
    bill = next(v for v in (20, 50, 100) if v >= total)
    q = r.choice([
        f"{x} buys {n1} {a} at {money(p1)} each and {n2} {b} at {money(p2)} each. {PRON[x].capitalize()} pays with a {money(bill)} bill. How much change does {PRON[x]} get?",
        f"{a.capitalize()} cost {money(p1)} each and {b} cost {money(p2)} each. {x} buys {n1} {a} and {n2} {b} and pays with a {money(bill)} bill. How much change does {PRON[x]} receive?",
    ])
    return q, bill - total, "bill - (n1 * p1 + n2 * p2)", {"n1": [n1, str(n1)], "p1": [p1, money(p1)], "n2": [n2, str(n2)], "p2": [p2, money(p2)], "bill": [bill, money(bill)]}, 4


def one_item_change(r):
    x = r.choice(NAMES)
    a, _ = r.choice(GOODS)
    n, p = r.randint(2, 5), price(r, 1, 6)
    bill = next(v for v in (10, 20, 50) if v >= n * p)
    q = f"{x} buys {n} {a} that cost {money(p)} each and pays with a {money(bill)} bill. How much change does {PRON[x]} get?"
    return q, bill - n * p, "bill - n * p", {"n": [n, str(n)], "p": [p, money(p)], "bill": [bill, money(bill)]}, 2


def more_than_together(r):
    x, y = two(r)
    t = r.choice(THINGS)
    n1, d = r.randint(5, 40), r.randint(2, 15)
    q = r.choice([
        f"{x} has {n1} {t}. {y} has {d} more {t} than {x}. How many {t} do they have together?",
        f"{x} has {n1} {t} and {y} has {d} more {t} than {x}. How many {t} do {x} and {y} have altogether?",
    ])
    return q, n1 + n1 + d, "n1 + (n1 + d)", {"n1": [n1, str(n1)], "d": [d, str(d)]}, 2


def fewer_than_total(r):
    a = r.choice(["cows", "goats", "chickens", "ducks"])
    b = r.choice(["sheep", "pigs", "horses", "rabbits"])
    n1 = r.randint(20, 60)
    d = r.randint(2, n1 - 5)
    q = f"A farm has {n1} {a} and {d} fewer {b} than {a}. How many animals are on the farm?"
    return q, n1 + n1 - d, "n1 + (n1 - d)", {"n1": [n1, str(n1)], "d": [d, str(d)]}, 2


def times_as_many_days(r):
    x = r.choice(NAMES)
    n1, k = r.randint(8, 40), r.choice([2, 3, 4])
    unit = r.choice(["pages", "problems", "laps", "words"])
    verb = {"pages": "read", "problems": "solved", "laps": "swam", "words": "wrote"}[unit]
    q = r.choice([
        f"{x} {verb} {n1} {unit} on Monday. On Tuesday {PRON[x]} {verb} {TIMES[k]} as many {unit}. How many {unit} did {PRON[x]} {'read' if verb == 'read' else {'solved': 'solve', 'swam': 'swim', 'wrote': 'write'}[verb]} in the two days?",
    ])
    return q, n1 + k * n1, "n1 + k * n1", {"n1": [n1, str(n1)], "k": [k, TIMES[k]]}, 2


def share_equally(r):
    x = r.choice(NAMES)
    t = r.choice(THINGS)
    k = r.randint(2, 8)
    each = r.randint(2, 12)
    n = k * each
    q = r.choice([
        f"{x} has {n} {t} and shares them equally among {k} friends. How many {t} does each friend get?",
        f"{x} splits {n} {t} equally between {k} boxes. How many {t} go in each box?",
    ])
    return q, each, "n / k", {"n": [n, str(n)], "k": [k, str(k)]}, 1


def speed_time(r):
    v, t = r.choice([40, 45, 50, 60, 72, 80, 90]), r.randint(2, 6)
    veh = r.choice(["train", "bus", "car", "truck"])
    q = r.choice([
        f"A {veh} travels at {v} km/h for {t} hours. How far does it travel?",
        f"A {veh} drives for {t} hours at an average speed of {v} km/h. How many kilometers does it cover?",
    ])
    return q, v * t, "v * t", {"v": [v, str(v)], "t": [t, str(t)]}, 1


def hourly_days(r):
    x = r.choice(NAMES)
    w, h, d = r.randint(10, 25), r.randint(3, 8), r.randint(2, 6)
    q = f"{x} earns {money(w)} per hour and works {h} hours a day for {d} days. How much does {PRON[x]} earn?"
    return q, w * h * d, "w * h * d", {"w": [w, money(w)], "h": [h, str(h)], "d": [d, str(d)]}, 2


def hourly(r):
    x = r.choice(NAMES)
    w, h = r.randint(10, 25) + r.choice([0, 0.5]), r.randint(3, 30)
    q = r.choice([
        f"{x} earns {money(w)} per hour. Last week {PRON[x]} worked {h} hours. How much did {PRON[x]} earn last week?",
        f"{x} is paid {money(w)} an hour. How much does {PRON[x]} make for {h} hours of work?",
    ])
    return q, w * h, "w * h", {"w": [w, money(w)], "h": [h, str(h)]}, 1


def discount(r):
    item = r.choice(["jacket", "lamp", "bike", "guitar", "backpack"])
    p, pct = r.choice([20, 40, 60, 80, 120, 150, 200]), r.choice([10, 20, 25, 50])
    q = r.choice([
        f"A {item} costs {money(p)}. It is on sale for {pct}% off. What is the sale price?",
        f"The price of a {item} is {money(p)}. During a sale the price is reduced by {pct}%. How much does the {item} cost during the sale?",
    ])
    return q, p - p * pct / 100, "p - p * pct / 100", {"p": [p, money(p)], "pct": [pct, f"{pct}%"]}, 3


def packs_used(r):
    x = r.choice(NAMES)
    t = r.choice(["pencils", "batteries", "cards", "stickers"])
    k, n = r.randint(2, 6), r.randint(4, 12)
    u = r.randint(1, k * n - 1)
    q = r.choice([
        f"{x} buys {k} packs of {t}. Each pack has {n} {t}. {PRON[x].capitalize()} uses {u} {t}. How many {t} are left?",
        f"{x} has {k} boxes with {n} {t} in each box. {PRON[x].capitalize()} gives away {u} {t}. How many {t} does {PRON[x]} have left?",
    ])
    return q, k * n - u, "k * n - u", {"k": [k, str(k)], "n": [n, str(n)], "u": [u, str(u)]}, 2


def half_then_more(r):
    x = r.choice(NAMES)
    t = r.choice(THINGS)
    n, m = 2 * r.randint(5, 30), r.randint(2, 15)
    q = f"{x} had {n} {t}. {PRON[x].capitalize()} gave half of them to a friend and then bought {m} more. How many {t} does {PRON[x]} have now?"
    return q, n / 2 + m, "n / 2 + m", {"n": [n, str(n)], "m": [m, str(m)]}, 2


def older(r):
    x, y = two(r)
    b = r.randint(5, 40)
    a = b + r.randint(1, 30)
    q = r.choice([
        f"{x} is {a} years old and {y} is {b} years old. How much older is {x} than {y}?",
        f"{x} is {a} years old. {y} is {b} years old. How many years older is {x}?",
    ])
    return q, a - b, "a - b", {"a": [a, str(a)], "b": [b, str(b)]}, 1


def average(r):
    x = r.choice(NAMES)
    s = [r.randint(5, 30) for _ in range(3)]
    s[2] += (3 - sum(s) % 3) % 3
    q = f"{x} scored {s[0]}, {s[1]} and {s[2]} points in three games. What was {'her' if PRON[x] == 'she' else 'his'} average score?"
    return q, sum(s) / 3, "(s1 + s2 + s3) / 3", {"s1": [s[0], str(s[0])], "s2": [s[1], str(s[1])], "s3": [s[2], str(s[2])]}, 3


def weeks(r):
    x = r.choice(NAMES)
    d, w = r.randint(2, 9), r.randint(2, 5)
    q = f"{x} walks {d} km every day. How many kilometers does {PRON[x]} walk in {w} weeks?"
    return q, d * 7 * w, "d * days * w", {"d": [d, str(d)], "w": [w, str(w)], "days": [7, None]}, 2


def dozen(r):
    x = r.choice(NAMES)
    k = r.randint(2, 6)
    s = r.randint(1, 12 * k - 1)
    q = f"{x} bakes {WORDS[k]} dozen cookies and sells {s} of them. How many cookies are left?"
    return q, 12 * k - s, "k * dozen - s", {"k": [k, WORDS[k]], "s": [s, str(s)], "dozen": [12, None]}, 2


def saving_weeks(r):
    x = r.choice(NAMES)
    s, w = r.randint(5, 25), r.randint(3, 12)
    q = f"{x} saves {money(s)} each week. How many weeks will it take {'her' if PRON[x] == 'she' else 'him'} to save {money(s * w)}?"
    return q, w, "target / s", {"s": [s, money(s)], "target": [s * w, money(s * w)]}, 1


def girls_boys(r):
    n = 4 * r.randint(5, 9)
    frac, f = r.choice([("half", 0.5), ("a quarter", 0.25), ("three quarters", 0.75)])
    q = f"A class has {n} students. {frac.capitalize()} of them are girls. How many boys are in the class?"
    return q, n - n * f, "n - n * f", {"n": [n, str(n)], "f": [f, frac]}, 2


def money_left(r):
    x = r.choice(NAMES)
    s1, s2 = r.randint(3, 15), r.randint(2, 10)
    have = s1 + s2 + r.randint(1, 30)
    q = r.choice([
        f"{x} has {money(have)}. {PRON[x].capitalize()} spends {money(s1)} on lunch and {money(s2)} on a book. How much money does {PRON[x]} have left?",
        f"{x} had {money(have)} in {'her' if PRON[x] == 'she' else 'his'} wallet. {PRON[x].capitalize()} spent {money(s1)} on a ticket and {money(s2)} on snacks. How much money is left?",
    ])
    return q, have - s1 - s2, "have - s1 - s2", {"have": [have, money(have)], "s1": [s1, money(s1)], "s2": [s2, money(s2)]}, 2


def rope_cm(r):
    x = r.choice(NAMES)
    m, c = r.randint(2, 9), r.choice([10, 20, 25, 50])
    q = f"{x} has a rope {m} meters long. {PRON[x].capitalize()} cuts it into pieces that are {c} centimeters long. How many pieces does {PRON[x]} get?"
    return q, m * 100 / c, "m * cm_per_m / c", {"m": [m, str(m)], "c": [c, str(c)], "cm_per_m": [100, None]}, 2


def two_purchases(r):
    x = r.choice(NAMES)
    a, b = r.choice(GOODS)
    n1, p1, n2, p2 = r.randint(2, 9), price(r, 1, 6), r.randint(2, 9), price(r, 1, 6)
    q = r.choice([
        f"{x} buys {n1} {a} for {money(p1)} each and {n2} {b} for {money(p2)} each. How much does {PRON[x]} spend in total?",
        f"{a.capitalize()} cost {money(p1)} each and {b} cost {money(p2)} each. {x} buys {n1} {a} and {n2} {b}. What is the total cost?",
    ])
    return q, n1 * p1 + n2 * p2, "n1 * p1 + n2 * p2", {"n1": [n1, str(n1)], "p1": [p1, money(p1)], "n2": [n2, str(n2)], "p2": [p2, money(p2)]}, 3


TEMPLATES = [bakery, has_buys_altogether, gave_ate_left, buy_each, change_from_bill,
             one_item_change, more_than_together, fewer_than_total, times_as_many_days,
             share_equally, speed_time, hourly_days, hourly, discount, packs_used,
             half_then_more, older, average, weeks, dozen, saving_weeks, girls_boys, money_left,
             rope_cm, two_purchases]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="data/eval/arithmetic.jsonl")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--per-template", type=int, default=7)
    args = ap.parse_args()
    r = random.Random(args.seed)
    items = []
    for t in TEMPLATES:
        seen = set()
        while sum(1 for i in items if i["template"] == t.__name__) < args.per_template:
            q, ans, formula, quantities, steps = t(r)
            if q in seen:
                continue
            seen.add(q)
            ans = round(ans, 2)
            items.append({"id": f"arith-{len(items) + 1:03d}", "template": t.__name__,
                          "question": q, "answer": int(ans) if ans == int(ans) else ans,
                          "steps": steps, "formula": formula, "quantities": quantities})
    with open(args.out, "w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    print(f"wrote {len(items)} items from {len(TEMPLATES)} templates to {args.out}")


if __name__ == "__main__":
    main()
