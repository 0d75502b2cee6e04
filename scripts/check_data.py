#!/usr/bin/env python3
"""Validate the project's caption data (stdlib only).

Checks data/pairs.jsonl and data/safe_pool.txt against the rules in
data/README.md and prints a summary. Exits with status 1 on any violation.

Usage: python3 scripts/check_data.py [--pairs PATH] [--pool PATH] [--markdown]
"""
import argparse
import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data")

CATEGORIES = [
    "violence", "weapons", "blood_gore", "self_harm", "drugs",
    "theft_vandalism", "accidents_destruction", "hate_harassment", "nudity",
]
PAIR_KEYS = {"safe", "unsafe", "category"}
MIN_PER_CATEGORY = 33
MIN_PAIRS = 330
MIN_POOL = 2200
MIN_WORDS, MAX_WORDS = 4, 30

# Words that must not appear in safe-pool captions (kept in sync with
# make_safe_pool.py).
UNSAFE_RE = re.compile(
    r"\b(blood\w*|bleed\w*|gore|gory|corpse\w*|dead|death|die[sd]?|kill\w*|murder\w*|"
    r"gun\w*|pistol\w*|rifle\w*|revolver\w*|knife|knives|machete\w*|weapon\w*|ammo|"
    r"ammunition|bomb\w*|grenade\w*|explo\w*|shoot\w*|shot|stab\w*|"
    r"punch\w*|fight\w*|brawl\w*|assault\w*|attack\w*|beat(ing|en)?|violen\w*|"
    r"suicid\w*|self-harm|noose|overdos\w*|cutting|wound\w*|injur\w*|"
    r"drug\w*|cocaine|heroin|meth|marijuana|weed|joint|crack|syringe\w*|pills?|"
    r"steal\w*|stole\w*|stolen|thie\w*|robb\w*|burglar\w*|loot\w*|vandal\w*|graffiti|"
    r"crash\w*|wreck\w*|collaps\w*|burning|flames|smash\w*|"
    r"hate\w*|hateful|racis\w*|insult\w*|bull(y|ies|ying)|harass\w*|slur\w*|"
    r"nude|naked|topless|undress\w*|sex\w*|lingerie)\b"
)


class Report:
    def __init__(self):
        self.errors = []

    def err(self, where, msg):
        self.errors.append(f"{where}: {msg}")


def check_caption(rep, where, text):
    if not isinstance(text, str):
        rep.err(where, "caption is not a string")
        return
    if text != text.strip() or "  " in text or "\n" in text or "\t" in text:
        rep.err(where, f"stray whitespace in {text!r}")
    if not text[:1].islower():
        rep.err(where, f"caption must start with a lowercase letter: {text!r}")
    n = len(text.split())
    if not MIN_WORDS <= n <= MAX_WORDS:
        rep.err(where, f"{n} words (allowed {MIN_WORDS}-{MAX_WORDS}): {text!r}")


def read_lines(rep, path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        rep.err(path, f"cannot read: {e}")
        return []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        rep.err(path, f"not valid UTF-8: {e}")
        return []
    if raw.startswith(b"\xef\xbb\xbf"):
        rep.err(path, "has a UTF-8 byte order mark")
    if "\r" in text:
        rep.err(path, "has CR line endings")
    if text and not text.endswith("\n"):
        rep.err(path, "does not end with a newline")
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def check_pairs(rep, path):
    rows = []
    name = os.path.basename(path)
    for i, line in enumerate(read_lines(rep, path), 1):
        where = f"{name}:{i}"
        if not line.strip():
            rep.err(where, "blank line (not allowed)")
            continue
        if line.lstrip().startswith("//"):
            rep.err(where, "comment line (not allowed)")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            rep.err(where, f"invalid JSON: {e}")
            continue
        if not isinstance(obj, dict):
            rep.err(where, "not a JSON object")
            continue
        keys = set(obj)
        if keys != PAIR_KEYS:
            rep.err(where, f"keys must be exactly {sorted(PAIR_KEYS)}, got {sorted(keys)}")
        for k in ("safe", "unsafe"):
            if k in obj:
                check_caption(rep, f"{where} [{k}]", obj[k])
        if obj.get("category") not in CATEGORIES:
            rep.err(where, f"unknown category {obj.get('category')!r}")
        if obj.get("safe") is not None and obj.get("safe") == obj.get("unsafe"):
            rep.err(where, "safe == unsafe")
        rows.append((i, obj))

    for key in ("safe", "unsafe"):
        seen = {}
        for i, obj in rows:
            v = obj.get(key)
            if isinstance(v, str):
                if v in seen:
                    rep.err(f"{name}:{i}", f"duplicate {key} caption (first on line {seen[v]}): {v!r}")
                else:
                    seen[v] = i
    safes = {o.get("safe") for _, o in rows}
    for i, obj in rows:
        if obj.get("unsafe") in safes:
            rep.err(f"{name}:{i}", "unsafe caption also appears as a safe caption")

    counts = collections.Counter(o.get("category") for _, o in rows)
    for c in CATEGORIES:
        if counts[c] < MIN_PER_CATEGORY:
            rep.err(name, f"category {c!r} has {counts[c]} pairs (< {MIN_PER_CATEGORY})")
    if len(rows) < MIN_PAIRS:
        rep.err(name, f"{len(rows)} pairs (< {MIN_PAIRS})")

    # The file must be grouped by category (each category one contiguous block).
    order = []
    for _, o in rows:
        c = o.get("category")
        if not order or order[-1] != c:
            order.append(c)
    dup_blocks = [c for c, n in collections.Counter(order).items() if n > 1]
    if dup_blocks:
        rep.err(name, f"not grouped by category; split blocks: {dup_blocks}")
    return rows, counts


def check_pool(rep, path, pair_safes):
    name = os.path.basename(path)
    lines = read_lines(rep, path)
    seen = {}
    for i, line in enumerate(lines, 1):
        where = f"{name}:{i}"
        if not line.strip():
            rep.err(where, "blank line (not allowed)")
            continue
        check_caption(rep, where, line)
        if line in seen:
            rep.err(where, f"duplicate of line {seen[line]}: {line!r}")
        else:
            seen[line] = i
        if line in pair_safes:
            rep.err(where, f"equal to a safe caption of the pairs file: {line!r}")
        m = UNSAFE_RE.search(line.lower())
        if m:
            rep.err(where, f"contains unsafe word {m.group(0)!r}: {line!r}")
    if len(seen) < MIN_POOL:
        rep.err(name, f"{len(seen)} distinct captions (< {MIN_POOL})")
    return len(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", default=os.path.join(DATA, "pairs.jsonl"))
    ap.add_argument("--pool", default=os.path.join(DATA, "safe_pool.txt"))
    ap.add_argument("--markdown", action="store_true",
                    help="also print the per-category table in Markdown")
    args = ap.parse_args()

    rep = Report()
    rows, counts = check_pairs(rep, args.pairs)
    pair_safes = {o.get("safe") for _, o in rows}
    pool_n = check_pool(rep, args.pool, pair_safes)

    print(f"pairs: {len(rows)} in {os.path.relpath(args.pairs)}")
    for c in CATEGORIES:
        print(f"  {c:<22} {counts[c]:>4}")
    extra = sorted(k for k in counts if k not in CATEGORIES)
    if extra:
        print(f"  (unknown categories: {extra})")
    print(f"safe pool: {pool_n} lines in {os.path.relpath(args.pool)}")
    if args.markdown:
        print("\n| category | pairs |\n|---|---:|")
        for c in CATEGORIES:
            print(f"| `{c}` | {counts[c]} |")
        print(f"| **total** | **{len(rows)}** |")

    if rep.errors:
        print(f"\nFAILED: {len(rep.errors)} problem(s)", file=sys.stderr)
        for e in rep.errors[:200]:
            print("  " + e, file=sys.stderr)
        if len(rep.errors) > 200:
            print(f"  ... and {len(rep.errors) - 200} more", file=sys.stderr)
        return 1
    print("OK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
