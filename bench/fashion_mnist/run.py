#!/usr/bin/python3
"""bench/fashion_mnist/run.py — full-data Fashion-MNIST training, labbook vs PyTorch, in the
same run: test accuracy (target >= 0.91 for both) and training throughput per epoch (target:
labbook at least 1.5x PyTorch's samples/s).

The settings are train.lab's (its `name = value` lines up to the first blank line): the
network cnn(channels, pool="max", hidden), optimizer, lr, schedule, epochs, batch, seeds, the
valid size. For each thread count the two sides run back to back (the first thread count
labbook first, the next PyTorch first, alternating):

  labbook  `labbook run` of a copy of train.lab (epochs, init_file, runs_file replaced), with
           OPENBLAS_NUM_THREADS=T (labbook's thread count: its own workers split batches,
           OpenBLAS's threads run the remaining GEMMs); its figures come
           from the exported run record: per epoch samples_per_s (the training loop only) and
           seconds (training + the valid evaluation), the final test accuracy;
  PyTorch  train_torch.py --threads T (torch.set_num_threads(T), OMP_NUM_THREADS=T): the same
           data (tests/lbdata.py; the fingerprint is compared), the same initial weights (the
           checkpoint labbook saved before training), the same batch order and learning rate
           per step; samples/s of the training loop, evaluation timed apart.

Throughput is the median over epochs of each side's per-epoch samples/s (the mean and the
fastest epoch are printed too: on a shared machine other jobs only slow an epoch down, so the
fastest is the closest to a quiet machine's figure); the ratio is labbook / PyTorch of the
medians (and of the fastest epochs).

Usage: run.py [--epochs N] [--threads 1,2] [--labbook build/labbook] [--json out.json]
              [--keep DIR] [--strict]
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"
ACC_TARGET = 0.91
RATIO_TARGET = 1.5


def read_settings(path):
    """train.lab's settings: {name: value} of its `name = value` lines before the first blank
    line after them (values in JSON syntax: numbers, strings, lists)."""
    settings, started = {}, False
    with open(path) as f:
        for line in f:
            m = re.match(r"^([A-Za-z_]\w*)\s*=\s*(.+?)\s*$", line)
            if m:
                settings[m.group(1)] = json.loads(m.group(2))
                started = True
            elif started and not line.strip():
                break
    return settings


def lab_copy(path, replace):
    """train.lab's text with the `name = value` lines of replace changed."""
    with open(path) as f:
        text = f.read()
    for k, v in replace.items():
        text, n = re.subn(r"(?m)^%s\s*=.*$" % re.escape(k), "%s = %s" % (k, json.dumps(v)), text, count=1)
        if n != 1:
            raise SystemExit("train.lab has no setting %s" % k)
    return text


def run_labbook(exe, lab_text, work, threads, tag):
    lab = os.path.join(work, "train_%s.lab" % tag)
    with open(lab, "w") as f:
        f.write(lab_text)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               LABBOOK_PLUGIN_PATH=os.path.join(os.path.dirname(os.path.abspath(exe)), "plugins"))
    t0 = time.perf_counter()
    p = subprocess.run([exe, "run", lab, "--out", os.path.join(work, "out_" + tag)], cwd=work, env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    sys.stdout.write("".join("    | " + l + "\n" for l in p.stdout.splitlines() if not l.startswith("[saved")))
    if p.returncode != 0:
        raise SystemExit("labbook run failed (exit %d)" % p.returncode)
    return wall


def run_torch(settings_path, init, work, threads, tag):
    out = os.path.join(work, "torch_%s.json" % tag)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    p = subprocess.Popen([PYTHON, os.path.join(HERE, "train_torch.py"), "--settings", settings_path,
                          "--threads", str(threads), "--init", init, "--out", out],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    for line in p.stdout:
        sys.stdout.write("    | " + line)
        sys.stdout.flush()
    if p.wait() != 0:
        raise SystemExit("train_torch.py failed (exit %d)" % p.returncode)
    wall = time.perf_counter() - t0
    with open(out) as f:
        return json.load(f), wall


def summary(side, threads, history, test_acc, wall, eval_s):
    sps = [ep["samples_per_s"] for ep in history]
    return {"side": side, "threads": threads, "epochs": len(history), "test_acc": test_acc,
            "valid_acc": history[-1]["valid.acc"], "train_loss": history[-1]["train.loss"],
            "samples_per_s_median": statistics.median(sps), "samples_per_s_mean": statistics.fmean(sps),
            "samples_per_s_best": max(sps),
            "samples_per_s_epochs": sps, "train_seconds_per_epoch": statistics.fmean(
                [ep["train_seconds"] for ep in history]),
            "eval_seconds": eval_s, "wall_seconds": wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, help="epochs (default: train.lab's)")
    ap.add_argument("--threads", default="1", help="comma-separated thread counts, e.g. 1,2")
    ap.add_argument("--labbook", default=os.path.join(ROOT, "build", "labbook"))
    ap.add_argument("--lab", default=os.path.join(HERE, "train.lab"))
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--keep", help="keep the work files (scripts, records, checkpoint) in this folder")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    a = ap.parse_args()

    exe = os.path.abspath(a.labbook)
    if not os.access(exe, os.X_OK):
        raise SystemExit("%s is not built (make build)" % exe)
    settings = read_settings(a.lab)
    if a.epochs:
        settings["epochs"] = a.epochs
    threads = [int(t) for t in a.threads.split(",")]
    work = os.path.abspath(a.keep) if a.keep else tempfile.mkdtemp(prefix="lb_bench_fashion_")
    os.makedirs(work, exist_ok=True)
    init = os.path.join(work, "init.lbc")
    settings_path = os.path.join(work, "settings.json")
    with open(settings_path, "w") as f:
        json.dump(settings, f, indent=1)
    print("bench/fashion_mnist: cnn(channels=%s, pool=\"max\", hidden=%s), %s lr %g%s wd %g, %s schedule, "
          "batch %d, %d epochs, valid %d held out; threads %s" %
          (settings["channels"], settings["hidden"], settings["opt"], settings["lr"],
           " momentum %g" % settings["momentum"] if settings["opt"] == "sgd" else "", settings["weight_decay"],
           settings["schedule"], settings["batch"], settings["epochs"], settings["valid"], a.threads), flush=True)

    t_all = time.perf_counter()
    rows = []
    try:
        for i, t in enumerate(threads):
            order = ("labbook", "pytorch") if i % 2 == 0 else ("pytorch", "labbook")
            if not os.path.exists(init):
                order = ("labbook", "pytorch")   # PyTorch starts from labbook's saved init
            for side in order:
                tag = "%s_t%d" % (side, t)
                print("  %s, %d thread(s):" % (side, t), flush=True)
                if side == "labbook":
                    runs_file = os.path.join(work, tag + ".json")
                    wall = run_labbook(exe, lab_copy(a.lab, {"epochs": settings["epochs"], "init_file": init,
                                                             "runs_file": runs_file}), work, t, tag)
                    with open(runs_file) as f:
                        rec = json.load(f)["runs"][0]
                    if rec["threads"] != t:
                        raise SystemExit("labbook ran with %d threads, not %d" % (rec["threads"], t))
                    # the record's samples_per_s is the training loop's; seconds adds the valid
                    # evaluation
                    n = rec["data"]["splits"]["train"]
                    hist = [dict(ep, train_seconds=n / ep["samples_per_s"]) for ep in rec["history"]]
                    eval_s = sum(ep["seconds"] - h["train_seconds"] for ep, h in zip(rec["history"], hist))
                    row = summary("labbook", t, hist, rec["final"]["test"]["acc"], wall, eval_s)
                    row["fingerprint"] = rec["data"]["fingerprint"]
                    row["init_sha256"] = rec["init_sha256"]
                else:
                    res, wall = run_torch(settings_path, init, work, t, tag)
                    eval_s = sum(ep["eval_seconds"] for ep in res["history"])
                    row = summary("pytorch", t, res["history"], res["test"]["acc"], wall, eval_s)
                    row["fingerprint"] = res["fingerprint"]
                    row["torch"] = res["torch"]
                rows.append(row)
                time.sleep(1)   # let the last side's idle BLAS / OpenMP threads stop spinning
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - t_all

    fps = {r["fingerprint"] for r in rows}
    print()
    print("data: %s (fingerprint %s)" % ("the same on both sides" if len(fps) == 1 else "DIFFERENT",
                                        ", ".join(sorted(f[:16] for f in fps))))
    print("%-8s %7s %6s %9s %9s %10s %10s %10s %10s %8s %8s" % (
        "side", "threads", "epochs", "test.acc", "valid.acc", "samples/s", "(mean)", "(best)", "train s/ep",
        "eval s", "wall s"))
    ok = len(fps) == 1
    for r in rows:
        print("%-8s %7d %6d %9.4f %9.4f %10.0f %10.0f %10.0f %10.1f %8.1f %8.1f" %
              (r["side"], r["threads"], r["epochs"], r["test_acc"], r["valid_acc"], r["samples_per_s_median"],
               r["samples_per_s_mean"], r["samples_per_s_best"], r["train_seconds_per_epoch"], r["eval_seconds"],
               r["wall_seconds"]))
        ok = ok and r["test_acc"] >= ACC_TARGET
    ratios = []
    for t in threads:
        lb = next(r for r in rows if r["side"] == "labbook" and r["threads"] == t)
        pt = next(r for r in rows if r["side"] == "pytorch" and r["threads"] == t)
        ratio = lb["samples_per_s_median"] / pt["samples_per_s_median"]
        best = lb["samples_per_s_best"] / pt["samples_per_s_best"]
        ratios.append({"threads": t, "ratio": ratio,
                       "ratio_mean": lb["samples_per_s_mean"] / pt["samples_per_s_mean"], "ratio_best": best})
        print("%d thread(s): labbook / PyTorch training throughput %.2fx (best epochs %.2fx; target %.1fx: %s); "
              "test.acc %.4f vs %.4f (target %.2f: %s)" %
              (t, ratio, best, RATIO_TARGET, "met" if ratio >= RATIO_TARGET else "missed", lb["test_acc"],
               pt["test_acc"], ACC_TARGET,
               "met" if min(lb["test_acc"], pt["test_acc"]) >= ACC_TARGET else "missed"))
        ok = ok and ratio >= RATIO_TARGET
    print("(samples/s: median over epochs of the training loop's throughput, best: the fastest epoch (what "
          "a busy machine slows the least); eval s: valid after every epoch; wall s: the whole process, data loading included; total %.0f s)" % total)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"settings": settings, "results": rows, "ratios": ratios, "total_seconds": total}, f,
                      indent=1)
    return 1 if a.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
