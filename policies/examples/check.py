#!/usr/bin/env python3
"""Check the semantic stage's example files (python3 stdlib only, 3.11+ for tomllib).

    python3 policies/examples/check.py            # check, print counts per category and language
    python3 policies/examples/check.py --markdown # the same counts as a Markdown table

Checks, for every `policies/examples/<category>.toml`:
- the file parses as TOML and holds only `rule` and language tables;
- `rule` names a content rule of `policies/content.toml` whose `category` is the file's name,
  and every content rule has a file;
- each language table holds only `examples` and `counter_examples`, lists of strings of at
  most 300 characters, none empty;
- no string appears twice (after case folding and white-space folding) in a file, and no
  string is both an example and a counter-example anywhere;
- no example of one category is an example of another;
- counts per language reach the minimums (en: 60 examples and 40 counter-examples, every other
  language of LANGS: 12 and 8);
- no string is a copy of a line of the development corpus `tests/fixtures/corpus/dev.jsonl`
  (same check after folding), nor a near copy: a string of 6 words or more of which at least
  NEAR (70 %) of the words, counted on the shorter of the two, are in one dev line. The held-out corpus is never read here, nor anywhere else while
  writing examples: it measures the bundle and must stay unseen.
Exits 1 on any problem, naming the file and the string.
"""
import collections
import json
import os
import re
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
POLICIES = os.path.dirname(HERE)
ROOT = os.path.dirname(POLICIES)
DEV = os.path.join(ROOT, "tests", "fixtures", "corpus", "dev.jsonl")

LANGS = ("en", "de", "fr", "es", "it", "nl", "pl", "pt")
MINIMUMS = {"en": (60, 40)}
DEFAULT_MINIMUM = (12, 8)
MAX_CHARS = 300
NEAR = 0.7
KINDS = ("examples", "counter_examples")


def fold(s):
    return re.sub(r"\s+", " ", s.casefold()).strip()


def words(s):
    return frozenset(re.findall(r"\w+", s.casefold()))


def overlap(a, b):
    """Share of the shorter text's words that the other text also has."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def dev_texts():
    texts = set()
    if not os.path.exists(DEV):
        return texts
    with open(DEV, encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            if "text" in o:
                texts.add(fold(o["text"]))
            for m in o.get("messages") or []:
                c = m.get("content")
                if isinstance(c, str):
                    texts.add(fold(c))
                elif isinstance(c, list):
                    for part in c:
                        if isinstance(part, dict) and isinstance(part.get("text"), str):
                            texts.add(fold(part["text"]))
    return texts


def main():
    markdown = "--markdown" in sys.argv[1:]
    problems = []
    with open(os.path.join(POLICIES, "content.toml"), "rb") as f:
        rules = {r["id"]: r["category"] for r in tomllib.load(f)["content_rule"]}
    dev = dev_texts()
    dev_words = [w for w in (words(t) for t in dev) if len(w) >= 6]
    counts = {}
    seen_examples = {}   # folded example -> category
    seen_counters = {}   # folded counter-example -> category
    files = sorted(n for n in os.listdir(HERE) if n.endswith(".toml"))
    for name in files:
        category = name[: -len(".toml")]
        path = os.path.join(HERE, name)

        def bad(msg, category=category):
            problems.append(f"{category}.toml: {msg}")

        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            bad(f"not TOML ({e})")
            continue
        rule = doc.get("rule")
        if rule not in rules:
            bad(f"rule {rule!r} is not a content rule of content.toml")
        elif rules[rule] != category:
            bad(f"rule {rule!r} has category {rules[rule]!r}, not the file's name")
        in_file = {}
        counts[category] = {}
        for key, table in doc.items():
            if key == "rule":
                continue
            if key not in LANGS:
                bad(f"unknown key or language {key!r} (languages: {', '.join(LANGS)})")
                continue
            if not isinstance(table, dict) or set(table) - set(KINDS):
                bad(f"[{key}] holds only {' and '.join(KINDS)}")
                continue
            n = []
            for kind in KINDS:
                items = table.get(kind, [])
                if not isinstance(items, list):
                    bad(f"[{key}].{kind} is not a list")
                    items = []
                n.append(len(items))
                for s in items:
                    if not isinstance(s, str) or not s.strip():
                        bad(f"[{key}].{kind}: not a non-empty string: {s!r}")
                        continue
                    if len(s) > MAX_CHARS:
                        bad(f"[{key}].{kind}: {len(s)} characters (max {MAX_CHARS}): {s[:60]!r}…")
                    k = fold(s)
                    if k in in_file:
                        bad(f"[{key}].{kind}: duplicate of [{in_file[k]}]: {s!r}")
                    in_file[k] = f"{key}].{kind}"
                    if k in dev:
                        bad(f"[{key}].{kind}: copied from dev.jsonl: {s!r}")
                    else:
                        w = words(s)
                        if len(w) >= 6 and any(overlap(w, d) >= NEAR for d in dev_words):
                            bad(f"[{key}].{kind}: a near copy of a dev.jsonl line: {s!r}")
                    mine, other = (
                        (seen_examples, seen_counters)
                        if kind == "examples"
                        else (seen_counters, seen_examples)
                    )
                    if k in other:
                        bad(f"[{key}].{kind}: also a {'counter-' if kind == 'examples' else ''}"
                            f"example in {other[k]}.toml: {s!r}")
                    if kind == "examples" and k in mine and mine[k] != category:
                        bad(f"[{key}].examples: also an example in {mine[k]}.toml: {s!r}")
                    mine.setdefault(k, category)
            counts[category][key] = tuple(n)
        for lang in LANGS:
            want = MINIMUMS.get(lang, DEFAULT_MINIMUM)
            have = counts[category].get(lang, (0, 0))
            if have[0] < want[0] or have[1] < want[1]:
                bad(f"[{lang}] has {have[0]} examples and {have[1]} counter-examples; "
                    f"at least {want[0]} and {want[1]} wanted")
    for rule, category in sorted(rules.items(), key=lambda kv: kv[1]):
        if category not in counts:
            problems.append(f"{category}.toml: missing (rule {rule})")

    total = collections.Counter()
    if markdown:
        print("| category | " + " | ".join(LANGS) + " | all |")
        print("|---|" + "---|" * (len(LANGS) + 1))
    else:
        print(f"{'category':36}" + "".join(f"{lang:>9}" for lang in LANGS) + f"{'all':>11}")
    for category in sorted(counts):
        cells = []
        ex_all = ce_all = 0
        for lang in LANGS:
            ex, ce = counts[category].get(lang, (0, 0))
            ex_all += ex
            ce_all += ce
            total[(lang, 0)] += ex
            total[(lang, 1)] += ce
            cells.append(f"{ex}+{ce}")
        cells.append(f"{ex_all}+{ce_all}")
        if markdown:
            print(f"| {category} | " + " | ".join(cells) + " |")
        else:
            print(f"{category:36}" + "".join(f"{c:>9}" for c in cells[:-1]) + f"{cells[-1]:>11}")
    cells = [f"{total[(lang, 0)]}+{total[(lang, 1)]}" for lang in LANGS]
    ex = sum(total[(lang, 0)] for lang in LANGS)
    ce = sum(total[(lang, 1)] for lang in LANGS)
    if markdown:
        print("| **all** | " + " | ".join(cells) + f" | {ex}+{ce} |")
    else:
        print(f"{'all':36}" + "".join(f"{c:>9}" for c in cells) + f"{f'{ex}+{ce}':>11}")
        print("(examples+counter-examples)")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
