#!/usr/bin/python3
"""Fails when files call each other in a circle.

Files should form a tree: helpers in leaf files, dispatch on top (issue 15). This
builds two graphs over every .c and .h file under ROOT and prints each cycle:

  - includes: a header that includes a header that includes it back;
  - calls: x.c uses a function that y.c defines (called, or its address
    taken) while y.c, directly or through other files, uses one of x.c's.

Functions are found by reading the source, not the objects, so a function that
a macro defines (the store loader's forwarders) is invisible here, and a static
function shadows a global of the same name in its own file. A name defined in
more than one file (the loader and the module define the same API) resolves to
the definitions in the user's own directory when there are any.

usage: filecycles.py ROOT [DIR...]
  Builds the graphs of all of ROOT and exits 1 if a cycle touches a file under
  one of the DIRs (all of ROOT when none is given); cycles elsewhere are
  printed as notes and do not fail.
"""

import os
import re
import sys

TOKEN = re.compile(
    r"""
    (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
  | (?P<pp>^[ \t]*\#(?:\\\n|[^\n])*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[{}();=,\[\]])
    """,
    re.S | re.M | re.X,
)
INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.M)
DEFINE_BODY = re.compile(r"^[ \t]*#[ \t]*define[ \t]+[A-Za-z_][A-Za-z0-9_]*(?:\([^)]*\))?(.*)",
                         re.S)
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "do", "else", "case",
            "__attribute__", "__typeof__", "typeof", "_Static_assert", "defined"}


def tokens(text):
    """Identifiers and the punctuation that shapes declarations; macro bodies
    count as uses (a macro calling a function uses it)."""
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        if kind in ("comment", "string"):
            continue
        if kind == "pp":
            body = DEFINE_BODY.match(m.group())
            if body:
                for sub in tokens(body.group(1).replace("\\\n", " ")):
                    if sub[0] == "ident":
                        yield sub
            continue
        yield (kind, m.group())


def scan(text):
    """(global function definitions, static ones, identifiers used)."""
    defs, statics, used = set(), set(), set()
    depth = 0
    decl = []  # the tokens of the current top-level declaration
    prev = None
    for kind, tok in tokens(text):
        # a tag after struct/union/enum names a type, never a function,
        # even where both share a name (struct wm_store_status and the
        # function wm_store_status)
        if kind == "ident" and prev not in ("struct", "union", "enum"):
            used.add(tok)
        prev = tok
        if depth == 0:
            if tok == "{":
                name = function_name(decl)
                if name:
                    (statics if "static" in decl else defs).add(name)
                depth = 1
                decl = []
                continue
            if tok == ";":
                decl = []
                continue
            decl.append(tok)
        elif tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
    return defs - statics, statics, used


def function_name(decl):
    """The name a top-level `... name(params) {` defines, or None (a struct,
    an initializer)."""
    if "=" in decl:
        return None
    i = 0
    while i < len(decl):
        if decl[i] == "__attribute__":
            # skip __attribute__((...))
            j, level = i + 1, 0
            while j < len(decl):
                level += decl[j] == "("
                level -= decl[j] == ")"
                j += 1
                if level == 0:
                    break
            i = j
            continue
        if decl[i] == "(":
            prev = decl[i - 1] if i else ""
            if re.match(r"[A-Za-z_]\w*$", prev) and prev not in KEYWORDS:
                return prev
            return None
        i += 1
    return None


def sccs(nodes, edges):
    """Tarjan's strongly connected components, iteratively."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in edges.get(v, ()):
                    out.append(sorted(comp))
    return out


def one_cycle(comp, edges):
    """A shortest cycle through the component's first file."""
    start = comp[0]
    inside = set(comp)
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges.get(v, ())):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w in inside and w not in prev:
                prev[w] = v
                queue.append(w)
    return comp + [start]


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 2
    root = os.path.normpath(argv[1])
    checked = [os.path.normpath(d) for d in argv[2:]] or [root]
    files = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            if n.endswith((".c", ".h")):
                p = os.path.join(dirpath, n)
                with open(p, encoding="utf-8", errors="replace") as fh:
                    files[p] = fh.read()

    includes = {}
    for p, text in files.items():
        for inc in INCLUDE.findall(text):
            for cand in (os.path.join(root, inc), os.path.join(os.path.dirname(p), inc)):
                cand = os.path.normpath(cand)
                if cand in files and cand != p:
                    includes.setdefault(p, {})[cand] = [inc]
                    break

    defined, scans = {}, {}
    for p, text in files.items():
        if p.endswith(".c"):
            scans[p] = scan(text)
            for name in scans[p][0]:
                defined.setdefault(name, []).append(p)
    calls = {}
    for p, (defs, statics, used) in scans.items():
        for name in used - defs - statics:
            owners = defined.get(name, [])
            near = [o for o in owners if os.path.dirname(o) == os.path.dirname(p)]
            for o in near or owners:
                calls.setdefault(p, {}).setdefault(o, []).append(name)

    failed = False
    for what, edges in (("include", includes), ("call", calls)):
        for comp in sccs(set(files), edges):
            cyc = one_cycle(comp, edges)
            steps = [cyc[0]]
            for a, b in zip(cyc, cyc[1:]):
                why = ", ".join(sorted(edges[a][b])[:3])
                steps.append("%s (%s)" % (b, why))
            hit = any(f == d or f.startswith(d + os.sep) for f in comp for d in checked)
            failed |= hit
            print("%s cycle%s: %s" % (what, "" if hit else " (not checked)",
                                      " -> ".join(steps)))
            if len(comp) > len(cyc) - 1:
                print("  the same knot%s holds: %s" % ("" if hit else " (not checked)",
                                                      ", ".join(comp)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
