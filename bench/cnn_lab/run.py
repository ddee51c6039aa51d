#!/usr/bin/python3
"""bench/cnn_lab/run.py — the CNN lab's two models (notebooks/cnn-lab.ipynb: max-pooling vs
strided convolution), trained by labbook and by PyTorch in the same run, at 1 and 2 threads.

Set-up (lab.lab's `name = value` lines): cnn(channels=[16, 32]) with pool="max" and with
pool="stride", 10,000 Fashion-MNIST training images, plain SGD at lr 0.1, batch 64, a few
epochs, the same initial weights, data and batch order on both sides (PyTorch starts from the
checkpoints labbook saved; the data fingerprints are compared).

For each round and thread count T the two sides run back to back (the order alternates):
  labbook  `labbook run` of a copy of lab.lab (both models, one after the other) with
           OPENBLAS_NUM_THREADS=T; per-epoch samples/s of the training loop from the run records;
  PyTorch  bench/fashion_mnist/train_torch.py once per model, torch.set_num_threads(T);
at T = 1 each process is pinned to one core (taskset -c 0), as a 1-thread figure should be.
Figures: the median over all epochs of all rounds of the training loop's samples/s, per side,
model and thread count; the ratio labbook / PyTorch of those medians. On a shared or virtual
machine the spread between rounds is large: read the ratios, and run more rounds (--rounds).

It prints the CPU model, labbook's OpenBLAS library and core (with how it was chosen: see
ops/blas.c) and what PyTorch computes with (its CPU capability, its BLAS and that BLAS's core),
and whether each target (labbook >= 1.5x PyTorch per model and thread count) is met.

Usage: run.py [--rounds N] [--epochs N] [--threads 1,2] [--labbook build/labbook] [--json out.json]
              [--keep DIR] [--strict]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench", "fashion_mnist"))
from run import lab_copy, read_settings  # noqa: E402  (bench/fashion_mnist/run.py)

PYTHON = "/usr/bin/python3"
TORCH_SIDE = os.path.join(ROOT, "bench", "fashion_mnist", "train_torch.py")
MODELS = ("pool", "stride")
POOL_OF = {"pool": "max", "stride": "stride"}
RATIO_TARGET = 1.5


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def pinned(cmd, threads):
    return ["taskset", "-c", "0"] + cmd if threads == 1 and shutil.which("taskset") else cmd


def thread_env(threads):
    return {"OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def run_labbook(exe, lab, settings, work, threads, tag):
    """{model: record} of one `labbook run` of lab.lab."""
    files = {"init_pool": os.path.join(work, "pool_init.lbc"), "init_stride": os.path.join(work, "stride_init.lbc"),
             "runs_file": os.path.join(work, tag + ".json"), "epochs": settings["epochs"]}
    path = os.path.join(work, tag + ".lab")
    with open(path, "w") as f:
        f.write(lab_copy(lab, files))
    env = dict(os.environ, LABBOOK_PLUGIN_PATH=os.path.join(os.path.dirname(exe), "plugins"), **thread_env(threads))
    p = subprocess.run(pinned([exe, "run", path, "--out", os.path.join(work, "out_" + tag)], threads), cwd=work,
                       env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.stdout.write(p.stdout)
        raise SystemExit("labbook run failed (exit %d)" % p.returncode)
    with open(files["runs_file"]) as f:
        runs = json.load(f)["runs"]
    recs = {r["model"]: r for r in runs}
    for m in MODELS:
        if recs[m]["threads"] != threads or recs[m]["status"] != "finished":
            raise SystemExit("labbook run %s: %s threads, status %s" % (m, recs[m]["threads"], recs[m]["status"]))
    return recs


def run_torch(settings, model, work, threads, tag):
    s = dict(settings, pool=POOL_OF[model], hidden=[])
    spath = os.path.join(work, tag + "_settings.json")
    with open(spath, "w") as f:
        json.dump(s, f)
    out = os.path.join(work, tag + ".json")
    cmd = [PYTHON, TORCH_SIDE, "--settings", spath, "--threads", str(threads),
           "--init", os.path.join(work, model + "_init.lbc"), "--out", out]
    p = subprocess.run(pinned(cmd, threads), env=dict(os.environ, **thread_env(threads)), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.stdout.write(p.stdout)
        raise SystemExit("train_torch.py failed (exit %d)" % p.returncode)
    with open(out) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, help="epochs per run (default: lab.lab's)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--labbook", default=os.path.join(ROOT, "build", "labbook"))
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--keep", help="keep the work files in this folder")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    a = ap.parse_args()
    exe = os.path.abspath(a.labbook)
    if not os.access(exe, os.X_OK):
        raise SystemExit("%s is not built (make build)" % exe)
    lab = os.path.join(HERE, "lab.lab")
    settings = read_settings(lab)
    if a.epochs:
        settings["epochs"] = a.epochs
    threads = [int(t) for t in a.threads.split(",")]
    work = os.path.abspath(a.keep) if a.keep else tempfile.mkdtemp(prefix="lb_bench_cnn_lab_")
    os.makedirs(work, exist_ok=True)
    print("bench/cnn_lab: cnn(channels=%s) pool max and stride, %d train / %d valid images, %s lr %g, batch %d, "
          "%d epochs, %d round(s), threads %s" % (settings["channels"], settings["train"], settings["valid"],
                                                 settings["opt"], settings["lr"], settings["batch"], settings["epochs"],
                                                 a.rounds, a.threads), flush=True)
    sps = {}        # (side, model, threads) -> [samples/s per epoch, over rounds]
    info = {}
    t_all = time.perf_counter()
    try:
        for rnd in range(a.rounds):
            for i, t in enumerate(threads):
                order = ("labbook", "pytorch") if (rnd + i) % 2 == 0 else ("pytorch", "labbook")
                if rnd == 0 and i == 0:
                    order = ("labbook", "pytorch")   # PyTorch starts from labbook's checkpoints
                for side in order:
                    tag = "r%d_t%d_%s" % (rnd, t, side)
                    if side == "labbook":
                        recs = run_labbook(exe, lab, settings, work, t, tag)
                        for m in MODELS:
                            sps.setdefault(("labbook", m, t), []).extend(ep["samples_per_s"] for ep in recs[m]["history"])
                            info.setdefault("fingerprint", set()).add(recs[m]["data"]["fingerprint"])
                            info["labbook_blas"] = recs[m]["blas"]
                            info.setdefault("acc", {})[("labbook", m, t)] = recs[m]["final"]["test"]["acc"]
                    else:
                        for m in MODELS:
                            res = run_torch(settings, m, work, t, tag + "_" + m)
                            sps.setdefault(("pytorch", m, t), []).extend(ep["samples_per_s"] for ep in res["history"])
                            info["fingerprint"].add(res["fingerprint"])
                            info["torch"] = (res["torch"], res["backend"])
                            info["acc"][("pytorch", m, t)] = res["test"]["acc"]
                    print("  round %d, %d thread(s), %s: %s" % (
                        rnd + 1, t, side, ", ".join("%s %.0f samples/s" % (m, statistics.median(sps[(side, m, t)]))
                                                   for m in MODELS)), flush=True)
                    time.sleep(1)   # let idle BLAS / OpenMP threads stop spinning
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)

    b = info["labbook_blas"]
    tv, be = info["torch"]
    print()
    print("CPU: %s" % cpu_model())
    print("labbook: OpenBLAS %s (%s), core %s (%s%s)" % (
        b["version"], b["library"], b["core"], b["chosen_by"],
        "; OpenBLAS detected %s" % b["detected"] if b["detected"] != b["core"] else ""))
    print("PyTorch %s: CPU capability %s, oneDNN %s, BLAS %s%s" % (
        tv, be["cpu_capability"], "on" if be["mkldnn"] else "off", be["blas_info"],
        " (%s, core %s)" % (be["blas_library"], be["blas_core"]) if "blas_core" in be else ""))
    print("data: %s" % ("the same on both sides" if len(info["fingerprint"]) == 1 else "DIFFERENT"))
    print("%-7s %7s %16s %16s %7s %9s" % ("model", "threads", "labbook sam/s", "PyTorch sam/s", "ratio", "target"))
    rows, ok = [], len(info["fingerprint"]) == 1
    for m in MODELS:
        for t in threads:
            lb, pt = statistics.median(sps[("labbook", m, t)]), statistics.median(sps[("pytorch", m, t)])
            r = lb / pt
            rows.append({"model": m, "threads": t, "labbook": lb, "pytorch": pt, "ratio": r,
                         "labbook_epochs": sps[("labbook", m, t)], "pytorch_epochs": sps[("pytorch", m, t)],
                         "test_acc": {"labbook": info["acc"][("labbook", m, t)],
                                      "pytorch": info["acc"][("pytorch", m, t)]}})
            print("%-7s %7d %16.0f %16.0f %6.2fx %9s" % (m, t, lb, pt, r, "met" if r >= RATIO_TARGET else "missed"))
            ok = ok and r >= RATIO_TARGET
    print("(samples/s: median over %d epochs x %d rounds of the training loop alone; target %.1fx; total %.0f s)"
          % (settings["epochs"], a.rounds, RATIO_TARGET, time.perf_counter() - t_all))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"settings": settings, "cpu": cpu_model(), "labbook_blas": b, "torch": tv, "torch_backend": be,
                       "results": rows}, f, indent=1)
    return 1 if a.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
