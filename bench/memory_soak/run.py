#!/usr/bin/python3
"""memory_soak — the labbook kernel's memory over a long session: 10,000 cells of every kind
(tests/lbsoak.py's cycle: models, plots, checkpoints, data sets, tables, a training run,
deletions, failing cells) sent back to back by a lean ZeroMQ client, the kernel's RSS sampled
at the end of every cycle. Prints the CPU model, the curve (cells vs MiB) and a summary: RSS
after warm-up, at the end, the growth from the second to the last quarter (as the test suite's
tests/test_memory.py measures it, which runs a short cycle of the same cells), and how much of
it the session's run records account for (measured in a second kernel: training cells alone).

Usage: bench/memory_soak/run.py [--exe build/labbook] [--cells 10000] [--rows 25]
                                [--pause SECONDS] [--runs-calibration 400] [--json FILE]
                                [--strict MIB]
--strict MIB: exit 1 when the growth not accounted for by run records exceeds MIB.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import lbsoak  # noqa: E402  (tests/lbsoak.py)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exe", default=os.path.join(ROOT, "build", "labbook"))
    ap.add_argument("--cells", type=int, default=10000)
    ap.add_argument("--rows", type=int, default=25, help="rows of the printed curve")
    ap.add_argument("--pause", type=float, default=0.0,
                    help="seconds between cells (default 0: back to back)")
    ap.add_argument("--runs-calibration", type=int, default=400,
                    help="training cells of the second kernel that measures a run's cost (0: skip; "
                         "at least 400: the first ones only fill the heap's free space)")
    ap.add_argument("--json", help="also write the samples and the summary to this file")
    ap.add_argument("--strict", type=float, metavar="MIB",
                    help="exit 1 when the growth not accounted for by run records exceeds MIB")
    args = ap.parse_args()

    if 0 < args.runs_calibration < 400:
        ap.error("--runs-calibration takes 0 or at least 400 cells")
    exe = os.path.abspath(args.exe)
    if not os.access(exe, os.X_OK):
        sys.exit(f"{exe} is missing: run `make build` first")
    env = dict(os.environ)
    env.setdefault("LABBOOK_PLUGIN_PATH", os.path.join(os.path.dirname(exe), "plugins"))
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        env.pop(k, None)
    version = subprocess.run([exe, "version"], env=env, capture_output=True, text=True).stdout
    cycle = len(lbsoak.CYCLE)
    tmp = tempfile.mkdtemp(prefix="labbook-memory-soak-")
    env["JUPYTER_DATA_DIR"] = os.path.join(tmp, "jupyter")     # the kernel's history file
    print(f"cpu      {lbsoak.cpu_model()} ({os.cpu_count()} cores)")
    for line in version.splitlines():
        if line.startswith(("labbook", "openblas", "blas")):
            print(f"{line.split()[0]:<8} {' '.join(line.split()[1:])}")
    print(f"kernel   {exe}")
    print(f"cells    {args.cells}, a cycle of {cycle} (tests/lbsoak.py), "
          f"{'back to back' if not args.pause else f'{args.pause} s apart'}; "
          f"Fashion-MNIST subset: {'yes' if lbsoak.have_fashion() else 'no (IDX stand-in)'}")
    print(flush=True)
    try:
        soak_dir = os.path.join(tmp, "soak")
        os.mkdir(soak_dir)
        t0 = time.monotonic()
        r = lbsoak.soak(exe, soak_dir, args.cells, every=cycle, cell_timeout=300, env=env,
                        pause=args.pause)
        wall = time.monotonic() - t0
        per_run = None
        if args.runs_calibration > 0:
            cal_dir = os.path.join(tmp, "runs")
            os.mkdir(cal_dir)
            per_run = lbsoak.runs_cost(exe, cal_dir, args.runs_calibration, 300, env=env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    samples = r["samples"]
    step = max(1, len(samples) // args.rows)
    shown = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    print(f"{'cells':>7} {'RSS MiB':>8} {'anon MiB':>9} {'seconds':>8}")
    for n, m, t in shown:
        print(f"{n:>7} {m['rss'] / 1024:>8.1f} {m['anon'] / 1024:>9.1f} {t:>8.1f}")

    cells = args.cells
    after = [(n, m) for n, m, _ in samples if 4 * n > cells]       # after the first quarter
    rss = lambda n0: [m["rss"] for n, m in after if n >= n0]    # noqa: E731
    growth = lbsoak.quarter_growth(samples, cells)
    trainings = sum(1 for i in range(cells) if lbsoak.CYCLE[i % cycle] is lbsoak.TRAINING_CELL)
    runs_q = trainings / 2        # runs recorded between the two quarters' medians (half the cells)
    summary = {
        "cpu": lbsoak.cpu_model(), "cells": cells, "cycle": cycle, "seconds": wall,
        "rss_start_kib": samples[0][1]["rss"], "rss_after_warmup_kib": after[0][1]["rss"],
        "rss_end_kib": samples[-1][1]["rss"], "rss_max_after_warmup_kib": max(rss(0)),
        "rss_min_after_warmup_kib": min(rss(0)), "growth_q2_q4_kib": growth,
        "training_runs": trainings, "run_cost_kib": per_run,
    }
    print()
    print(f"{cells} cells in {wall:.0f} s ({1000 * wall / cells:.1f} ms a cell), "
          f"{r['iopub_messages']} iopub messages ({r['iopub_bytes'] / 2**20:.0f} MiB) read")
    print(f"RSS: {samples[0][1]['rss'] / 1024:.1f} MiB after the set-up cells, "
          f"{after[0][1]['rss'] / 1024:.1f} after the first quarter (warm-up), "
          f"{samples[-1][1]['rss'] / 1024:.1f} at the end; "
          f"{min(rss(0)) / 1024:.1f} to {max(rss(0)) / 1024:.1f} after warm-up")
    print(f"growth from the second to the last quarter (medians): {growth / 1024:.2f} MiB")
    if per_run is not None:
        held = runs_q * per_run
        summary["held_by_runs_kib"] = held
        summary["unaccounted_kib"] = growth - held
        print(f"  of which run records: {runs_q:.0f} runs x {per_run:.1f} KiB = {held / 1024:.2f} MiB "
              f"(the session keeps every run: `runs`); the rest: {(growth - held) / 1024:.2f} MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "samples": [[n, m, t] for n, m, t in samples]}, f,
                      indent=1)
    if args.strict is not None:
        rest = (growth - (summary.get("held_by_runs_kib") or 0)) / 1024
        if rest > args.strict:
            print(f"FAIL: {rest:.2f} MiB not accounted for by run records > {args.strict} MiB")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
