"""test_architecture.py — the rooms of kernel/ and their one-way dependencies
(spec/architecture.md), checked on the sources: a wrong #include fails `make test`.

  * every C file of kernel/ lives in a room (kernel/ROOM/) and includes kernel headers by their
    room ("lang/value.h"), and only headers of the rooms its own room may use (ALLOWED);
  * a few headers are a room's narrow face for rooms that may not see the rest of it (FACES:
    the trainer sees a model through host/model.h only);
  * no include cycles: between the modules of kernel/ (a .c with its .h), and between rooms;
  * ops/ (the tensor engine) and the public plugin header include nothing of kernel/.
"""

import os
import re
import unittest

ROOT = os.environ.get("LABBOOK_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = os.path.join(ROOT, "kernel")

# room -> the rooms whose headers it may include (its own is always allowed)
ALLOWED = {
    "base": set(),
    "render": {"base"},
    "data": {"base"},
    "lang": {"base", "render"},
    "host": {"base", "render", "data", "lang"},
    "train": {"base", "render", "data"},
    "jupyter": {"base", "lang"},
    "modules": {"base", "render", "data", "lang", "host", "train"},
    "cli": {"base", "render", "data", "lang", "host", "train", "jupyter", "modules"},
}
# headers a room may include although their room is not in its ALLOWED set
FACES = {
    "train": {"host/model.h"},
}
# what each room is for (spec/architecture.md has the full map)
PURPOSE = {
    "base": "errors, text buffers, files, hashing, UTF-8, clocks",
    "render": "tables and figures (cairo): data in, bundles and PNGs out",
    "data": "data sets, splits, the epoch order",
    "lang": "lexer, parser, evaluator, values, the command table, the module interface",
    "host": "plugins, models, checkpoints",
    "train": "the training loop, metrics, run records",
    "jupyter": "the Jupyter transport (ZeroMQ, wire format, history, kernelspec)",
    "modules": "the language's commands and values for each domain",
    "cli": "the program's entry points, where modules are put together",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources():
    """[(room, path relative to kernel/)] of every .c/.h under kernel/."""
    out = []
    for dirpath, _, files in os.walk(KERNEL):
        for f in files:
            if f.endswith((".c", ".h")):
                rel = os.path.relpath(os.path.join(dirpath, f), KERNEL)
                out.append((rel.split(os.sep)[0] if os.sep in rel else "", rel))
    return sorted(out)


def includes(rel):
    with open(os.path.join(KERNEL, rel), errors="replace") as f:
        return INCLUDE.findall(f.read())


def kernel_header(name):
    return os.path.exists(os.path.join(KERNEL, name)) and "/" in name


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


class Architecture(unittest.TestCase):
    def test_every_file_in_a_room(self):
        loose = [rel for room, rel in sources() if room not in ALLOWED]
        self.assertEqual(loose, [], "files of kernel/ outside the rooms %s" % sorted(ALLOWED))
        for room in ALLOWED:
            self.assertTrue(os.path.isdir(os.path.join(KERNEL, room)), room)

    def test_includes_go_one_way(self):
        bad = []
        for room, rel in sources():
            for h in includes(rel):
                if h in ("labbook_plugin.h", "ops.h"):
                    continue
                if not kernel_header(h):
                    if os.path.exists(os.path.join(KERNEL, room, h)) or any(
                            os.path.exists(os.path.join(KERNEL, r, h)) for r in ALLOWED):
                        bad.append("%s includes \"%s\" without its room" % (rel, h))
                    continue
                target = h.split("/")[0]
                if target == room or target in ALLOWED[room] or h in FACES.get(room, ()):
                    continue
                bad.append("%s (%s) includes %s (%s)" % (rel, room, h, target))
        self.assertEqual(bad, [], "\n" + "\n".join(bad))

    def test_no_cycles(self):
        """No include cycle between headers, none between rooms, and no two source files that
        include each other's header (X.c includes Y.h while Y.c includes X.h: the parser and
        the command table used to)."""
        headers, rooms, c_incl = {}, {}, {}
        for room, rel in sources():
            for h in includes(rel):
                if not kernel_header(h):
                    continue
                if rel.endswith(".h"):
                    headers.setdefault(rel, set()).add(h)
                else:
                    c_incl.setdefault(rel, set()).add(h)
                if h.split("/")[0] != room:
                    rooms.setdefault(room, set()).add(h.split("/")[0])
        self.assertEqual(cycles(headers), [], "include cycles between headers")
        self.assertEqual(cycles(rooms), [], "include cycles between rooms")
        mutual = []
        for c1, hs in c_incl.items():
            h1 = c1[:-2] + ".h"
            for h2 in hs:
                c2 = h2[:-2] + ".c"
                if h2 != h1 and os.path.exists(os.path.join(KERNEL, h1)) and h1 in c_incl.get(c2, ()):
                    mutual.append("%s includes %s and %s includes %s" % (c1, h2, c2, h1))
        self.assertEqual(sorted(set(mutual)), [], "source files that depend on each other")

    def test_engine_and_plugin_header_stand_alone(self):
        for d in ("ops", "plugins"):
            for f in os.listdir(os.path.join(ROOT, d)):
                if f.endswith((".c", ".h")):
                    with open(os.path.join(ROOT, d, f)) as fh:
                        for h in INCLUDE.findall(fh.read()):
                            self.assertFalse(kernel_header(h), "%s/%s includes %s" % (d, f, h))

    def test_rooms_are_documented(self):
        with open(os.path.join(ROOT, "spec", "architecture.md")) as f:
            doc = f.read()
        for room in ALLOWED:
            self.assertIn("`%s/`" % room, doc, "spec/architecture.md does not describe kernel/%s/" % room)
        for room in ALLOWED:  # each room says what it holds and may include, at its top
            readme = os.path.join(KERNEL, room, "README.md")
            self.assertTrue(os.path.exists(readme), "kernel/%s/README.md is missing" % room)


if __name__ == "__main__":
    unittest.main()
