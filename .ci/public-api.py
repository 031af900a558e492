#!/usr/bin/env python3
"""List raigate's public API from rustdoc's JSON output, one line per public path, sorted.

Usage: public-api.py TARGET/doc/raigate.json > public-api.txt

Walks the crate from its root through public modules and public re-exports (so every name is
listed under the path a user writes), and lists for each public type its public fields,
variants, inherent methods and the traits it implements. CI compares the list with the
committed public-api.txt, so that a change of the public API is a deliberate one.
"""
import json
import sys

doc = json.load(open(sys.argv[1]))
index = doc["index"]
out = set()
seen = set()


def kind_of(item):
    inner = item.get("inner", {})
    return next(iter(inner)) if isinstance(inner, dict) and inner else "item"


def members(path, item):
    kind = kind_of(item)
    body = item["inner"][kind]
    if kind == "struct":
        k = body.get("kind", {})
        fields = []
        if isinstance(k, dict) and "plain" in k:
            fields = k["plain"].get("fields", [])
        elif isinstance(k, dict) and "tuple" in k:
            fields = [f for f in k["tuple"] if f is not None]
        for fid in fields:
            f = index.get(str(fid))
            if f and f.get("visibility") == "public" and f.get("name"):
                out.add(f"field {path}.{f['name']}")
    if kind == "enum":
        for vid in body.get("variants", []):
            v = index.get(str(vid))
            if v:
                out.add(f"variant {path}::{v['name']}")
    if kind == "trait":
        for aid in body.get("items", []):
            a = index.get(str(aid))
            if a and a.get("name"):
                out.add(f"{kind_of(a)} {path}::{a['name']}")
    for iid in body.get("impls", []):
        imp = index.get(str(iid))
        if not imp:
            continue
        ib = imp["inner"]["impl"]
        if ib.get("is_synthetic") or ib.get("blanket_impl") is not None:
            continue
        trait = ib.get("trait")
        if trait is not None:
            out.add(f"impl {trait.get('path') or trait.get('name')} for {path}")
            continue
        for aid in ib.get("items", []):
            a = index.get(str(aid))
            if a and a.get("visibility") == "public" and a.get("name"):
                out.add(f"{kind_of(a)} {path}::{a['name']}")


def visit(item_id, path):
    item = index.get(str(item_id))
    if item is None:
        return
    kind = kind_of(item)
    if kind == "use":
        use = item["inner"]["use"]
        if use.get("id") is None:
            return
        target = index.get(str(use["id"]))
        if use.get("is_glob"):
            if target and kind_of(target) == "module":
                for child in target["inner"]["module"]["items"]:
                    c = index.get(str(child))
                    if c and c.get("visibility") == "public":
                        visit(child, f"{path}::{c.get('name') or ''}")
            return
        visit(use["id"], path)
        return
    key = (item_id, path)
    if key in seen:
        return
    seen.add(key)
    if kind == "module":
        out.add(f"module {path}")
        for child in item["inner"]["module"]["items"]:
            c = index.get(str(child))
            if c is None or c.get("visibility") != "public":
                continue
            name = c.get("name")
            if kind_of(c) == "use":
                name = c["inner"]["use"]["name"]
            if kind_of(c) == "impl":
                continue
            visit(child, f"{path}::{name}")
        return
    if kind in ("impl",):
        return
    out.add(f"{kind} {path}")
    if kind in ("struct", "enum", "trait"):
        members(path, item)


visit(doc["root"], "raigate")
for line in sorted(out):
    print(line)
