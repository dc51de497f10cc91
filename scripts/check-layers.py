#!/usr/bin/env python3
"""Check the layering of harness/src that ARCHITECTURE.md states, and measure it.

Reads every `crate::` and `super::` path in harness/src, resolves it to the module
it names, and reports:
  - import cycles between files and between top-level modules,
  - imports from a lower layer to a higher one (the order is LAYERS below, the
    same table as ARCHITECTURE.md, "Layers of harness/"),
  - functions over MAX_FN_LINES lines, and `Result<_, String>` in the library.

Usage: scripts/check-layers.py [--stats]   exit 1 when a rule is broken.
"""

import os
import re
import sys
from collections import defaultdict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness", "src")
MAX_FN_LINES = 100

# Lowest first. A module may import from its own layer's modules only if that
# does not close a cycle, and from any lower layer; never from a higher one.
LAYERS = [
    ["outcome", "yaml", "test_ca", "shipped"],
    ["wire", "dns"],
    ["scenario", "send"],
    ["requirements", "profile"],
    ["roles"],
    ["runner", "fuzz"],
    ["report"],
    ["cmd", "cli"],
]
# The binary's root (main.rs) sits above everything.
BINARY_ONLY = {"main"}


def rust_files():
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".rs"):
                yield os.path.join(dirpath, f)


def module_path(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def strip(text):
    """Drop comments and string contents, keeping line structure (one left-to-right pass,
    so a quote inside a string or comment never starts another)."""
    token = re.compile(
        r"//[^\n]*|/\*.*?\*/|(?<!\w)b?r(#*)\"(?:.|\n)*?\"\1|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])'",
        flags=re.S,
    )

    def blank(m):
        s = m.group(0)
        keep = '""' if s[:1] in ('"', "b", "r") else ("' '" if s[:1] == "'" else "")
        return keep + "\n" * s.count("\n")

    return token.sub(blank, text)


def is_test_module(mod, text):
    return mod and mod[-1] == "tests"


def references(mod, text, modules):
    """Modules that `text` (the source of `mod`) names through crate:: or super::."""
    out = set()
    for m in re.finditer(r"\b(crate|super)((?:::\w+)+)", text):
        head, tail = m.group(1), [p for p in m.group(2).split("::") if p]
        if head == "crate":
            base = []
        else:
            base = list(mod[:-1])
            while tail and tail[0] == "super":
                base = base[:-1]
                tail = tail[1:]
        # `use crate::a::{b, c}` names a; extend as far as a module exists.
        path = list(base)
        for part in tail:
            if tuple(path + [part]) in modules:
                path.append(part)
            else:
                break
        target = tuple(path)
        if target and target != mod and target in modules:
            out.add(target)
    # Brace groups: `use crate::a::{b::X, c}` also names a::b and a::c.
    for m in re.finditer(r"\b(crate|super)((?:::\w+)+)::\{([^;]*?)\};", text, flags=re.S):
        head, tail = m.group(1), [p for p in m.group(2).split("::") if p]
        base = [] if head == "crate" else list(mod[:-1])
        while head == "super" and tail and tail[0] == "super":
            base, tail = base[:-1], tail[1:]
        prefix = base + tail
        for item in re.split(r",", m.group(3)):
            first = item.strip().split("::")[0].strip("{} \n")
            cand = tuple(prefix + [first])
            if cand in modules and cand != mod:
                out.add(cand)
    return out


def functions(text):
    """(name, first line, line count) of each fn with a body."""
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)", line)
        if not m:
            continue
        depth, opened = 0, False
        for j in range(i, len(lines)):
            for ch in lines[j]:
                if ch == "{":
                    depth += 1
                    opened = True
                elif ch == "}":
                    depth -= 1
                elif ch == ";" and not opened and depth == 0:
                    break
            else:
                if opened and depth == 0:
                    out.append((m.group(1), i + 1, j - i + 1))
                    break
                continue
            break
    return out


def sccs(graph):
    index, low, stack, on, result, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                result.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return result


def layer_of(top):
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    if top in BINARY_ONLY:
        return len(LAYERS)
    return None


def main():
    stats = "--stats" in sys.argv
    files = sorted(rust_files())
    sources, modules = {}, {}
    for f in files:
        mod = module_path(f)
        modules[mod] = f
        with open(f) as fh:
            sources[mod] = fh.read()
    graph, top_graph = defaultdict(set), defaultdict(set)
    problems = []
    for mod, text in sources.items():
        clean = strip(text)
        # Tests inside a file (`mod tests { ... }`) may reach anywhere; only the
        # code before the first #[cfg(test)] counts.
        body = clean.split("#[cfg(test)]")[0]
        if is_test_module(mod, body):
            continue
        for target in references(mod, body, modules):
            if target[: len(mod)] == mod:
                continue  # a module's own children
            graph[mod].add(target)
            if mod and target and mod[0] != target[0]:
                top_graph[mod[0]].add(target[0])
    file_cycles = sccs(graph)
    top_cycles = sccs(top_graph)
    upward, unlayered = [], set()
    for mod, targets in graph.items():
        if not mod:
            continue
        for t in targets:
            if not t or mod[0] == t[0]:
                continue
            a, b = layer_of(mod[0]), layer_of(t[0])
            if a is None:
                unlayered.add(mod[0])
            if b is None:
                unlayered.add(t[0])
            if a is not None and b is not None and b > a:
                upward.append(("::".join(mod), "::".join(t)))
    long_fns, string_errors = [], 0
    lines_per_top = defaultdict(int)
    for mod, text in sources.items():
        clean = strip(text)
        for name, line, count in functions(clean):
            if count > MAX_FN_LINES:
                long_fns.append((count, os.path.relpath(modules[mod], ROOT), line, name))
        lib_part = clean.split("#[cfg(test)]")[0]
        if mod and mod[0] not in BINARY_ONLY | {"cmd", "cli"} and mod[-1] != "tests":
            string_errors += len(re.findall(r"Result<[^;{]*?,\s*String>", lib_part))
        lines_per_top[mod[0] if mod else "lib"] += text.count("\n")

    if stats:
        print(f"files: {len(files)}, module edges: {sum(len(v) for v in graph.values())}")
        print(f"top-level modules: {', '.join(sorted(lines_per_top))}")
        print("lines per top-level module:")
        for top, n in sorted(lines_per_top.items(), key=lambda kv: -kv[1]):
            print(f"  {n:6d}  {top}")
        print("top-level imports:")
        for top in sorted(top_graph):
            print(f"  {top} -> {', '.join(sorted(top_graph[top]))}")
        fns = []
        for mod, text in sources.items():
            for name, line, count in functions(strip(text)):
                fns.append((count, os.path.relpath(modules[mod], ROOT), line, name))
        fns.sort(reverse=True)
        print("largest functions:")
        for count, path, line, name in fns[:15]:
            print(f"  {count:4d}  {path}:{line} {name}")
    print(f"file-level cycles: {len(file_cycles)}")
    for c in file_cycles:
        print("  " + " -> ".join("::".join(m) for m in c))
    print(f"module-level cycles: {len(top_cycles)}")
    for c in top_cycles:
        print("  " + " -> ".join(c))
    print(f"upward imports: {len(upward)}")
    for a, b in sorted(upward):
        print(f"  {a} -> {b}")
    if unlayered:
        print(f"modules missing from the layer table: {', '.join(sorted(unlayered))}")
    print(f"functions over {MAX_FN_LINES} lines: {len(long_fns)}")
    for count, path, line, name in sorted(long_fns, reverse=True):
        print(f"  {count:4d}  {path}:{line} {name}")
    print(f"Result<_, String> in the library: {string_errors}")
    broken = file_cycles or top_cycles or upward or unlayered or long_fns or string_errors
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
