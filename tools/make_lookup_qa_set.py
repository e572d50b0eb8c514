#!/usr/bin/env python3
"""Builds data/eval/qa_lookup.jsonl, the question set of bench/e2e_eval.

data/eval/qa.jsonl (tools/make_eval_set.py) asks fill-in-the-blank questions about ~2,000
tokens of text: right for measuring whether an answer survives compression, too hard for the
default 135M-parameter model to answer at all (1 in 10 from the full prompt). Tried and dropped
while making this set: reverse and forward dictionary lookups in the Jargon File and the
Devil's Dictionary ("what is a MACE?"), which that model answers from its own imagination even
when given the one entry (0 of 20).

What it does answer, some of the time, is a direct question whose words echo one sentence of a
document of a few hundred words. This set asks such questions about the King James Version's
narrative books (Exodus to Acts less the ones the test tokenizers are trained on), mostly about
the kings in Samuel, Kings and Chronicles, where the text states the same facts about each king
in a fixed form:

    Josiah was eight years old when he began to reign, and he reigned thirty and one years in
    Jerusalem. And his mother's name was Jedidah, ...

    How old was Josiah when he began to reign?        eight  (also right: 8)
    How many years did Josiah reign?                   thirty and one  (also right: 31)
    What was the name of Josiah's mother?              Jedidah
    Whose son was Nadab?                               Jeroboam  ("Nadab the son of Jeroboam")

Each question is written as "Question: ... Answer with a name or number from the text.", which
the model follows far more often than the bare question (measured while making the set: 17% vs
10% right on 30 items with 1,300-token documents). The document is the passage (consecutive
verses of one chapter) holding the sentence among other passages until it is 2,400-3,400
characters long (about 600-850 tokens of SmolLM2's tokenizer; at 1,300 tokens the model got 7%
right, at 850 tokens 33%). Guarantees, checked here: the answer occurs in the gold passage; no
other passage of the document names the person asked about; the answer is not in the question;
a question the gold passage answers two ways (David reigned forty years, seven of them in
Hebron) is left out. A number's `aliases` hold its value in digits. Python 3 standard library
only; deterministic for a given seed and package set.

    apt-get install -y bible-kjv
    python3 tools/make_lookup_qa_set.py [--out data/eval/qa_lookup.jsonl] [--seed 20261127]
"""

import argparse
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_eval_set as source  # noqa: E402  (the KJV reader is shared)

ITEMS = 120
CHARS_MIN, CHARS_MAX = 2400, 3400

UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
        "eighty": 80, "ninety": 90, "threescore": 60, "fourscore": 80, "score": 20}
NUM = r"(?:(?:%s)(?: and (?:%s))?)" % ("|".join(list(UNITS) + list(TENS)),
                                       "|".join(list(UNITS) + list(TENS)))
NAME = r"[A-Z][a-z]+"


def number_value(words):
    """'thirty and two' -> 32, 'two and twenty' -> 22, 'threescore and ten' -> 70."""
    total = 0
    for w in words.lower().replace("-", " ").split():
        if w == "and":
            continue
        if w in UNITS:
            total += UNITS[w]
        elif w in TENS:
            total += TENS[w]
        else:
            return None
    return total


# (kind, pattern, question template, answer group, subject group or None). A subject of None
# is looked for in the sentence and the verse before it (the king the verse is about).
PATTERNS = [
    ("age", re.compile(r"\b(%s) was (%s) years old when he began to reign" % (NAME, NUM)),
     "How old was {s} when he began to reign?", 2, 1),
    ("age", re.compile(r"\b(%s) years old was (%s) when he began to reign" % (NUM.replace(
        "(?:(?:", "(?:(?:(?i:", 1).replace(")(?: and", "))(?: and", 1), NAME)),
     "How old was {s} when he began to reign?", 1, 2),
    ("reign", re.compile(r"\breigned (?:over (?:Israel|Judah) )?(%s) years?" % NUM),
     "How many years did {s} reign?", 1, None),
    ("mother", re.compile(r"\bhis mother's name (?:also )?was (%s)" % NAME),
     "What was the name of {s}'s mother?", 1, None),
    ("father", re.compile(r"\b(%s) the son of (%s)" % (NAME, NAME)), "Whose son was {s}?", 2, 1),
    ("name", re.compile(r"\b((?:a|an) (?:certain )?[a-z]+(?: [a-z]+){0,8}?),? whose name was (%s)"
                        % NAME), 'What was the name of {s}?', 2, 1),
]
# How the text names the king a verse is about: "Josiah was eight years old", "Nadab the son of
# Jeroboam began to reign", "began Jotham the son of Uzziah ... to reign", "reigned Amaziah the
# son of Joash". ("Joash son of Jehoahaz king of Israel reigned" names a father first: not used.)
SUBJECT_RE = re.compile(r"\b(%s) was \w+(?: and \w+)? years old|\b(%s)(?: the son of %s)? began "
                        r"to reign|\b(?:began|reigned) (%s) the son of" % (NAME, NAME, NAME, NAME))
NOT_NAMES = {"And", "The", "Then", "Now", "In", "So", "But", "For", "He", "His", "This", "Twenty",
             "Thirty", "Forty", "Fifty", "Sixty", "Seven", "Eight", "Five", "Six", "Two", "One",
             "Three", "Four", "Nine", "Ten", "Eleven", "Twelve", "Sixteen", "Eighteen",
             "Seventeen", "Nineteen", "Fifteen", "Fourteen", "Thirteen", "Israel", "Judah",
             "Jerusalem", "Samaria", "Lord", "LORD", "God"}


def subject_of(text_before):
    """The last king named as a verse's subject in text_before ("Josiah was eight ...")."""
    names = [n for m in SUBJECT_RE.finditer(text_before) for n in m.groups()
             if n and n not in NOT_NAMES]
    return names[-1] if names else None


def chapter_passages():
    """KJV passages of the narrative books, each with its verses."""
    out = []
    for book, chap, verses in source.run_bible():
        if book not in source.KJV_BOOKS:
            continue
        chunk, size = [], 0
        for i, (v, t) in enumerate(verses):
            chunk.append((v, t))
            size += len(t) + 1
            rest = sum(len(x[1]) for x in verses[i + 1:])
            if size >= 900 and (size >= 1400 or rest >= 500) or i == len(verses) - 1:
                if size >= 400:
                    out.append({"ref": "%s %d:%d-%d" % (book, chap, chunk[0][0], chunk[-1][0]),
                                "text": " ".join(x[1] for x in chunk),
                                "verses": [x[1] for x in chunk]})
                chunk, size = [], 0
    return out


def facts(passage):
    """(kind, question, answer, subject) of every pattern match in the passage."""
    found = []
    for vi, verse in enumerate(passage["verses"]):
        for kind, pat, template, ai, si in PATTERNS:
            for m in pat.finditer(verse):
                if si is not None:
                    subj = m.group(si)
                else:
                    before = " ".join(passage["verses"][max(0, vi - 1):vi]) + " " + \
                        verse[:m.start()]
                    subj = subject_of(before)
                if not subj or subj in NOT_NAMES:
                    continue
                if kind == "father" and passage["text"].count(subj + " the son of ") != 1:
                    continue  # two men of that name, or one named twice: ambiguous
                answer = m.group(ai)
                if kind in ("age", "reign"):
                    answer = answer.lower()
                found.append((kind, template.format(s=subj), answer, subj))
    # A question the passage answers two ways ("he reigned forty years ... In Hebron he reigned
    # over Judah seven years") is ambiguous: dropped.
    answers = {}
    for kind, question, answer, subj in found:
        answers.setdefault(question, set()).add(answer)
    return [f for f in found if len(answers[f[1]]) == 1]


def make_items(passages, rng):
    all_text = [p["text"] for p in passages]
    items, seen = [], set()
    order = list(range(len(passages)))
    rng.shuffle(order)
    for gi in order:
        gold = passages[gi]
        for kind, question, answer, subj in facts(gold):
            key = (question, answer)
            if key in seen or answer.lower() in question.lower():
                continue
            target = rng.randint(CHARS_MIN, CHARS_MAX)
            ctx, size = [gold], len(gold["text"])
            for _ in range(400):
                if size >= target:
                    break
                d = rng.randrange(len(passages))
                named = subj if kind != "name" else answer
                if passages[d] in ctx or re.search(r"\b%s\b" % re.escape(named), all_text[d]):
                    continue
                ctx.append(passages[d])
                size += len(all_text[d])
            if size < CHARS_MIN:
                continue
            rng.shuffle(ctx)
            question = "Question: %s Answer with a name or number from the text." % question
            item = {
                "id": "kjv-kings-%03d" % (len(items) + 1),
                "source": "bible-kjv",
                "contexts": [c["text"] for c in ctx],
                "question": question,
                "answer": answer,
                "gold": ctx.index(gold),
                "ref": gold["ref"],
                "kind": kind,
            }
            if kind in ("age", "reign"):
                value = number_value(answer)
                if value is None:
                    continue
                item["aliases"] = [str(value)]
            seen.add(key)
            items.append(item)
    return items


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "data", "eval", "qa_lookup.jsonl"))
    ap.add_argument("--seed", type=int, default=20261127)
    args = ap.parse_args()
    passages = chapter_passages()
    items = make_items(passages, random.Random(args.seed))
    kings = [it for it in items if it["kind"] in ("age", "reign", "mother")]
    rest = [it for it in items if it["kind"] not in ("age", "reign", "mother")]
    random.Random(args.seed + 1).shuffle(rest)
    items = (kings + rest)[:ITEMS]
    items.sort(key=lambda it: it["id"])
    for n, it in enumerate(items, 1):
        it["id"] = "kjv-lookup-%03d" % n
    kinds = {}
    for it in items:
        kinds[it["kind"]] = kinds.get(it["kind"], 0) + 1
    chars = [sum(len(c) for c in it["contexts"]) for it in items]
    print("passages %d  items %d %s  document chars mean %d (min %d, max %d)" %
          (len(passages), len(items), kinds, sum(chars) // max(1, len(chars)), min(chars),
           max(chars)), file=sys.stderr)
    if len(items) < 100:
        sys.exit("only %d items: at least 100 are needed" % len(items))
    with open(args.out, "w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    print("wrote %d items to %s (%d bytes)" % (len(items), args.out, os.path.getsize(args.out)),
          file=sys.stderr)


if __name__ == "__main__":
    main()
