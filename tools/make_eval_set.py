#!/usr/bin/env python3
"""Builds data/eval/qa.jsonl, the evaluation set of bench/compress_eval.

Each item is a multi-document question-answering prompt made from real public-domain text
installed by Debian packages:

  bible-kjv    King James Version (1611)           `bible -l0 Ex1:1-Ac28:31`
  jargon-text  The Jargon File 4.4.7 (public domain) /usr/share/doc/jargon-text/jargon.txt.gz
  dict-devil   The Devil's Dictionary (Bierce, 1911) /usr/share/dictd/devil.{index,dict.dz}

An item is several passages of one source ("contexts"), one of which (the gold passage)
holds a sentence chosen for a rare capitalised name or a number. The question is that
sentence with the span blanked out ("Fill in the blank with a name: ... ___ ..."); the answer
is the span, which occurs verbatim (as a substring) exactly once in all the contexts together
and not in the question. The other passages are distractors from the same source.

Python 3 standard library only; deterministic for a given seed and installed package set.

    apt-get install -y bible-kjv jargon-text dict-devil
    python3 tools/make_eval_set.py [--out data/eval/qa.jsonl] [--seed 20240601]
"""

import argparse
import collections
import gzip
import json
import os
import random
import re
import subprocess
import sys

# Books of the KJV used: narrative books rich in names and numbers. Genesis, Ruth, Esther,
# Proverbs and Ecclesiastes are left out because data/corpus/kjv_excerpt.txt (the text the
# project's test tokenizers are trained on) holds them.
KJV_BOOKS = [
    "Exodus", "Numbers", "Joshua", "Judges", "1 Samuel", "2 Samuel", "1 Kings", "2 Kings",
    "1 Chronicles", "2 Chronicles", "Ezra", "Nehemiah", "Daniel", "Matthew", "Mark", "Luke",
    "John", "Acts",
]

JARGON_PATH = "/usr/share/doc/jargon-text/jargon.txt.gz"
DEVIL_INDEX = "/usr/share/dictd/devil.index"
DEVIL_DICT = "/usr/share/dictd/devil.dict.dz"

# How many items per source, and the size of an item's contexts in characters (about 4
# characters per Llama-2 token for English: ~1,500-3,000 tokens).
ITEMS = {"kjv": 100, "jargon": 70, "devil": 50}
CHARS_MIN, CHARS_MAX = 6000, 9500

NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred thousand threescore fourscore score second third fourth fifth "
    "sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth fifteenth "
    "twentieth thirtieth fortieth fiftieth hundredth thousandth").split()
NUMBER_RE = re.compile(
    r"\b(?:%s)(?:(?: and | |-)(?:%s))*\b" % ("|".join(NUMBER_WORDS), "|".join(NUMBER_WORDS)))
DIGITS_RE = re.compile(r"(?<![\w.,])\d[\d,.]*\d(?:s\b)?|(?<![\w.,])\d\d*(?![\w.,]\w)")
NAME_RE = re.compile(r"(?<![\w'’])[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?(?: [A-Z][a-z]+){0,2}(?![\w'’-])")
SENT_RE = re.compile(r"(?<=[.!?])[\"”’']?\s+(?=[\"“‘']?[A-Z])")


def run_bible():
    out = subprocess.run(["bible", "-l0", "Ex1:1-Ac28:31"], check=True, capture_output=True,
                         text=True).stdout
    chapters = []  # (book, chapter, [(verse, text)])
    cur = None
    for line in out.splitlines():
        m = re.match(r"^(\S.*?) (\d+)$", line)
        if m and not line.startswith(" "):
            cur = (m.group(1), int(m.group(2)), [])
            chapters.append(cur)
            continue
        m = re.match(r"^\s+(\d+) (.*)$", line)
        if m and cur is not None:
            cur[2].append((int(m.group(1)), m.group(2).strip()))
    return [c for c in chapters if c[0] in KJV_BOOKS and c[2]]


def kjv_passages():
    """Chunks of consecutive verses (~1,000-1,600 characters) of one chapter."""
    passages = []  # dict(ref, text, sentences)
    for book, chap, verses in run_bible():
        chunk = []
        size = 0
        for i, (v, t) in enumerate(verses):
            chunk.append((v, t))
            size += len(t) + 1
            rest = sum(len(x[1]) for x in verses[i + 1:])
            if size >= 1000 and (size >= 1600 or rest >= 600) or i == len(verses) - 1:
                if size >= 500:
                    text = " ".join(x[1] for x in chunk)
                    ref = "%s %d:%d-%d" % (book, chap, chunk[0][0], chunk[-1][0])
                    passages.append({"ref": ref, "text": text,
                                     "sentences": [x[1] for x in chunk]})
                chunk, size = [], 0
    return passages


def unwrap(lines):
    """Joins hard-wrapped lines into paragraphs; blank lines separate paragraphs."""
    paras, cur = [], []
    for line in lines + [""]:
        s = line.strip()
        if not s:
            if cur:
                paras.append(" ".join(cur))
                cur = []
        else:
            cur.append(s)
    return paras


def jargon_entries():
    with gzip.open(JARGON_PATH, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    entries = []
    cur = None
    for line in lines:
        m = re.match(r"^   :(.+?):\s*(.*)$", line)
        if m:
            if cur:
                entries.append(cur)
            cur = (m.group(1), m.group(2), [])
        elif cur is not None:
            if line and not line.startswith(" "):  # a section heading: glossary over
                entries.append(cur)
                cur = None
                if entries and len(entries) > 2000:
                    break
            else:
                cur[2].append(line)
    if cur:
        entries.append(cur)
    out = []
    for term, pron, body in entries:
        paras = []
        for p in unwrap(body):
            p = re.sub(r"[{}]", "", p)
            p = re.sub(r"\s+", " ", p).strip()
            if p:
                paras.append(p)
        if not paras:
            continue
        head = term + ": " + pron if pron and pron != "//" else term + ":"
        text = head.strip() + "\n" + "\n".join(paras)
        out.append({"ref": "Jargon File 4.4.7: " + term, "text": text, "paras": paras})
    return out


def b64num(s):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    n = 0
    for ch in s:
        n = n * 64 + alphabet.index(ch)
    return n


def devil_entries():
    with gzip.open(DEVIL_DICT, "rb") as f:
        data = f.read()
    out = []
    seen = set()
    with open(DEVIL_INDEX, encoding="utf-8") as f:
        for line in f:
            word, off, length = line.rstrip("\n").split("\t")
            if word.startswith("00"):
                continue
            start, n = b64num(off), b64num(length)
            if start in seen:
                continue
            seen.add(start)
            raw = data[start:start + n].decode("utf-8", "replace")
            blocks, cur = [], []
            for ln in raw.splitlines() + [""]:
                if not ln.strip():
                    if cur:
                        blocks.append(cur)
                        cur = []
                else:
                    cur.append(ln.rstrip())
            paras = []
            for b in blocks:
                indented = sum(1 for x in b if x.startswith("    "))
                if len(b) > 1 and indented == len(b) and any(len(x.strip()) < 50 for x in b):
                    paras.append(("verse", "\n".join(x.strip() for x in b)))
                else:
                    # An indented first line starts a new prose paragraph.
                    cur = []
                    for x in b:
                        if x.startswith("    ") and cur:
                            paras.append(("prose", " ".join(cur)))
                            cur = []
                        cur.append(x.strip())
                    if cur:
                        paras.append(("prose", " ".join(cur)))
            paras = [(k, re.sub(r"[ \t]+", " ", p).strip()) for k, p in paras]
            text = "\n".join(p for _, p in paras)
            if len(text) < 40:
                continue
            out.append({"ref": "The Devil's Dictionary: " + word, "text": text,
                        "paras": [p for k, p in paras if k == "prose"]})
    out.sort(key=lambda e: e["ref"])
    return out


def group_entries(entries, lo, hi):
    """Concatenates consecutive dictionary entries into passages of lo-hi characters."""
    passages, cur, size = [], [], 0
    for e in entries:
        if len(e["text"]) > hi * 2:
            continue
        cur.append(e)
        size += len(e["text"]) + 2
        if size >= lo:
            sents = []
            for x in cur:
                for p in x["paras"]:
                    sents.extend(SENT_RE.split(p))
            passages.append({"ref": cur[0]["ref"] + " .. " + cur[-1]["ref"].split(": ", 1)[1],
                             "text": "\n\n".join(x["text"] for x in cur), "sentences": sents})
            cur, size = [], 0
    return passages


def word_stats(passages):
    counts = collections.Counter()
    for p in passages:
        counts.update(re.findall(r"[A-Za-z][A-Za-z'-]*", p["text"]))
    return counts


def candidates(sentence, kind, words, full_text):
    """(answer, start) spans of the sentence usable as an answer of this kind."""
    out = []
    if kind == "number":
        for m in NUMBER_RE.finditer(sentence):
            out.append((m.group(0), m.start()))
        for m in DIGITS_RE.finditer(sentence):
            out.append((m.group(0), m.start()))
    else:
        for m in NAME_RE.finditer(sentence):
            span = m.group(0)
            if m.start() == 0:
                continue
            before = sentence[:m.start()].rstrip()
            if before.endswith((".", "!", "?", ":", ";", "\"", "“", "(", "—", "-")):
                continue
            toks = span.split()
            # Names only: words that (almost) never occur in lower case in the source.
            if any(words[t.lower()] > words[t] // 10 for t in toks):
                continue
            if any(words[t] < 1 for t in toks):
                continue
            if full_text.count(span) > 30:
                continue
            out.append((span, m.start()))
    return [(a, s) for a, s in out if 1 <= len(a.split()) <= 4 and len(a) >= 2]


def make_items(name, passages, n_items, rng):
    words = word_stats(passages)
    full_text = "\n".join(p["text"] for p in passages)
    order = list(range(len(passages)))
    rng.shuffle(order)
    items = []
    used_sentences = set()
    tried = 0
    for gi in order:
        if len(items) >= n_items:
            break
        tried += 1
        gold = passages[gi]
        kind = "name" if len(items) % 5 < 3 else "number"
        sents = [s for s in gold["sentences"]
                 if "\n" not in s and 8 <= len(s.split()) <= 60 and s in gold["text"]]
        rng.shuffle(sents)
        made = None
        for sent in sents:
            if sent in used_sentences:
                continue
            cands = candidates(sent, kind, words, full_text)
            rng.shuffle(cands)
            for ans, start in cands:
                if sent.count(ans) != 1 or gold["text"].count(ans) != 1:
                    continue
                question_body = sent[:start] + "___" + sent[start + len(ans):]
                if len(question_body.split()) < 6:
                    continue
                what = "a name" if kind == "name" else "a number"
                question = "Fill in the blank with %s: %s" % (what, question_body)
                if ans in question:
                    continue
                # Distractors: other passages of the same source, not containing the answer.
                target = rng.randint(CHARS_MIN, CHARS_MAX)
                ctx = [gold]
                size = len(gold["text"])
                for _ in range(200):
                    if size >= target:
                        break
                    d = passages[rng.randrange(len(passages))]
                    if d in ctx or ans in d["text"] or d["text"] in gold["text"]:
                        continue
                    ctx.append(d)
                    size += len(d["text"])
                if size < CHARS_MIN or len(ctx) < 3:
                    continue
                rng.shuffle(ctx)
                texts = [c["text"] for c in ctx]
                if sum(t.count(ans) for t in texts) != 1:
                    continue
                made = {
                    "id": "%s-%03d" % (name, len(items) + 1),
                    "source": {"kjv": "bible-kjv", "jargon": "jargon-text",
                               "devil": "dict-devil"}[name],
                    "contexts": texts,
                    "question": question,
                    "answer": ans,
                    "gold": ctx.index(gold),
                    "ref": gold["ref"],
                    "kind": kind,
                }
                used_sentences.add(sent)
                break
            if made:
                break
        if made:
            items.append(made)
    if len(items) < n_items:
        sys.exit("%s: only %d of %d items could be made" % (name, len(items), n_items))
    return items


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "data", "eval", "qa.jsonl"))
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()

    sources = {
        "kjv": kjv_passages(),
        "jargon": group_entries(jargon_entries(), 900, 1600),
        "devil": group_entries(devil_entries(), 900, 1600),
    }
    all_items = []
    for name in ["kjv", "jargon", "devil"]:
        rng = random.Random("%d/%s" % (args.seed, name))
        items = make_items(name, sources[name], ITEMS[name], rng)
        chars = [sum(len(c) for c in it["contexts"]) for it in items]
        print("%-7s passages %5d  items %3d  context chars mean %d (min %d, max %d)" %
              (name, len(sources[name]), len(items), sum(chars) // len(chars), min(chars),
               max(chars)), file=sys.stderr)
        all_items.extend(items)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for it in all_items:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    print("wrote %d items to %s (%d bytes)" % (len(all_items), args.out,
                                                os.path.getsize(args.out)), file=sys.stderr)


if __name__ == "__main__":
    main()
