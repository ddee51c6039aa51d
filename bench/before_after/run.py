#!/usr/bin/python3
"""bench/before_after/run.py — training speed of this tree against an earlier commit (by default
the last one before the architecture issue), side by side in the same run: the CNN lab's two
models (bench/cnn_lab/lab.lab's set-up), trained by both programs with the same data, weights,
settings and threads, rounds alternating which goes first.

The earlier commit is built beside the current build (tests/lbrev.py; cached in build/rev-*).
Figures: per model and thread count, the median over all epochs of all rounds of the training
loop's samples/s, for each program, and the ratio now / before (above 1: faster now). It also
checks that both programs gave the same weights (bit for bit), and prints the CPU model and the
OpenBLAS core both used. On a shared or virtual machine the spread between rounds is large:
read the ratio over several rounds.

Usage: run.py [--rev COMMIT] [--rounds N] [--epochs N] [--threads 1,2] [--json out.json]
"""

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "bench", "fashion_mnist"))
import lbrev  # noqa: E402  (tests/lbrev.py)


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cnn_lab = load("cnn_lab_run", os.path.join(ROOT, "bench", "cnn_lab", "run.py"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", default=lbrev.BEFORE_ARCHITECTURE)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    old_exe, _ = lbrev.build(a.rev)
    new_exe = os.path.join(lbrev.BUILD, "labbook")
    lab = os.path.join(ROOT, "bench", "cnn_lab", "lab.lab")
    settings = cnn_lab.read_settings(lab)
    settings["epochs"] = a.epochs
    threads = [int(t) for t in a.threads.split(",")]
    work = tempfile.mkdtemp(prefix="lb_before_after_")
    print("bench/before_after: %s (now) vs %s (before), cnn(channels=%s) pool max and stride, %d train images, "
          "batch %d, %d epochs, %d rounds, threads %s" % (os.path.relpath(new_exe, ROOT), a.rev, settings["channels"],
                                                         settings["train"], settings["batch"], a.epochs, a.rounds,
                                                         a.threads), flush=True)
    sps, info, same = {}, {}, True
    for rnd in range(a.rounds):
        for i, t in enumerate(threads):
            order = ("now", "before") if (rnd + i) % 2 == 0 else ("before", "now")
            got = {}
            for side in order:
                exe = new_exe if side == "now" else old_exe
                recs = cnn_lab.run_labbook(exe, lab, settings, work, t, "r%d_t%d_%s" % (rnd, t, side))
                got[side] = recs
                for m, r in recs.items():
                    sps.setdefault((side, m, t), []).extend(ep["samples_per_s"] for ep in r["history"])
                    info[side] = r["blas"]
            for m in cnn_lab.MODELS:
                same &= got["now"][m]["weights_sha256"] == got["before"][m]["weights_sha256"]
    print("cpu: %s; OpenBLAS core now %s, before %s" % (cnn_lab.cpu_model(), info["now"]["core"],
                                                       info["before"]["core"]))
    rows = []
    print("%-7s %7s %14s %14s %7s" % ("model", "threads", "now samples/s", "before", "ratio"))
    for m in cnn_lab.MODELS:
        for t in threads:
            now, before = statistics.median(sps[("now", m, t)]), statistics.median(sps[("before", m, t)])
            rows.append({"model": m, "threads": t, "now": now, "before": before, "ratio": now / before})
            print("%-7s %7d %14.0f %14.0f %7.3f" % (m, t, now, before, now / before))
    print("weights bit-identical between the two: %s" % ("yes" if same else "NO"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rev": a.rev, "cpu": cnn_lab.cpu_model(), "blas": info, "rows": rows, "same_weights": same}, f,
                      indent=1)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
