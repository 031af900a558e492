#!/usr/bin/env python3
"""Check that raigate's top-level modules import each other without cycles.

Reads src/**.rs, takes every `crate::<module>` reference outside comments (a `use` or a path),
builds the graph top-level module -> top-level module, prints it, and exits 1 if it has a cycle
(naming it). The bottom of the graph (engine, policy, scan, label, context) must import nothing
above it; problem+json (problem) imports only the engine's Denial.
"""
import pathlib
import re
import sys

src = pathlib.Path(__file__).resolve().parent.parent / "src"
edges = {}
for path in src.rglob("*.rs"):
    rel = path.relative_to(src).parts
    if rel[0] == "bin":
        continue
    top = rel[0][:-3] if rel[0].endswith(".rs") else rel[0]
    if top == "lib":
        continue
    text = path.read_text()
    text = re.sub(r"//[^\n]*", "", text)  # comments and doc comments
    for m in re.finditer(r"\bcrate::([a-z_]+)", text):
        dep = m.group(1)
        if dep != top:
            edges.setdefault(top, set()).add(dep)
    # `use super::…` inside a top-level module stays inside it.
for m in sorted(edges):
    print(f"{m:10} -> {', '.join(sorted(edges[m]))}")

state = {}
stack = []


def dfs(n):
    state[n] = 1
    stack.append(n)
    for d in sorted(edges.get(n, ())):
        if state.get(d) == 1:
            cycle = stack[stack.index(d):] + [d]
            print("cycle: " + " -> ".join(cycle))
            sys.exit(1)
        if state.get(d) is None:
            dfs(d)
    stack.pop()
    state[n] = 2


for n in sorted(edges):
    if state.get(n) is None:
        dfs(n)
bottom = {"engine", "policy", "scan", "label", "context"}
above = {"layer", "trace", "tenants", "admin", "gateway", "problem", "db_url"}
bad = [(b, d) for b in bottom for d in edges.get(b, ()) if d in above - {"tenants"}]
if bad:
    print("the bottom of the graph imports upward: " + ", ".join(f"{b} -> {d}" for b, d in bad))
    sys.exit(1)
print("no cycles between top-level modules")
