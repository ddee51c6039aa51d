#!/usr/bin/python3
"""train_step.py — training steps per second of labbook and PyTorch, measured in the same run.

Models (batch 64, SGD lr 0.01 momentum 0.9, cross-entropy), the same in both:
  MLP  784-256-10 (relu)                             labbook: mlp(hidden=[256])
  CNN  conv16-pool-conv32-pool-linear (3x3 pad 1, relu, maxpool 2)
                                                     labbook: cnn(channels=[16, 32], pool="max")
The labbook side is build/bench/train_step (bench/train_step.c): an interpreter runs `use mlp`,
`use cnn` and `model ...` (the plugins are dlopen'ed from the build tree, as in a notebook),
then steps through the trainer's seam (lb_model_forward, lb_cross_entropy, lb_backward,
lb_optim_step). The PyTorch side is this script in --worker mode (torch.nn, torch.optim.SGD).

Each (side, thread count) is its own long-lived worker process; after a warm-up, every round
measures each model at each thread count on both sides back to back (the order alternates
from round to round), and the figures reported are medians over the rounds. Data: the first
NBATCHES * 64 Fashion-MNIST training images (normalised) when the Debian dataset is installed,
else uniform random images (the output says which).

GFLOP/s counts the multiply-adds (2 FLOPs each) of the matmuls and convolutions of the
forward and backward passes, analytically: forward, weight gradient, and input gradient of
every layer but the first (nothing else in the step needs it).

Usage: train_step.py [--threads 1,2] [--rounds 7] [--seconds 0.6] [--data fashion|random]
                     [--labbook build/bench/train_step] [--json out.json]
"""

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION = "/usr/share/datasets/fashion-mnist"
BATCH = 64
NBATCHES = 32


def flops_per_sample():
    """Multiply-add FLOPs of forward + backward per sample for both models."""
    # MLP: linear 784->256 (forward, dW; the input needs no gradient), linear 256->10 (all three)
    mlp = 2 * 784 * 256 * 2 + 2 * 256 * 10 * 3
    # CNN: conv1 1->16 3x3 on 28x28 (forward, dW), conv2 16->32 3x3 on 14x14 (forward, dW, dX),
    # linear 1568->10 (forward, dW, dX)
    conv1 = 2 * 16 * 28 * 28 * (1 * 9)
    conv2 = 2 * 32 * 14 * 14 * (16 * 9)
    lin = 2 * 32 * 7 * 7 * 10
    cnn = conv1 * 2 + conv2 * 3 + lin * 3
    return {"mlp": mlp, "cnn": cnn}


def load_data(kind, path):
    """Writes NBATCHES*64 images then their labels (float32) to path; returns a description."""
    n = NBATCHES * BATCH
    imgs = os.path.join(FASHION, "train-images-idx3-ubyte.gz")
    labs = os.path.join(FASHION, "train-labels-idx1-ubyte.gz")
    if kind == "fashion" and os.path.exists(imgs) and os.path.exists(labs):
        with gzip.open(imgs) as f:
            x = np.frombuffer(f.read(16 + n * 784)[16:], dtype=np.uint8).astype(np.float32)
        with gzip.open(labs) as f:
            y = np.frombuffer(f.read(8 + n)[8:], dtype=np.uint8).astype(np.float32)
        x = (x / 255.0 - 0.2860) / 0.3530
        desc = "Fashion-MNIST (first %d training images, normalised)" % n
    else:
        rng = np.random.default_rng(1)
        x = rng.random(n * 784, dtype=np.float32)
        y = rng.integers(0, 10, n).astype(np.float32)
        desc = "uniform random images, random labels (%d)" % n
    with open(path, "wb") as f:
        f.write(np.ascontiguousarray(x, dtype=np.float32).tobytes())
        f.write(np.ascontiguousarray(y, dtype=np.float32).tobytes())
    return desc


# ---- the PyTorch worker -------------------------------------------------------------------------

def worker(threads, data, nb):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    raw = np.fromfile(data, dtype=np.float32)
    n = nb * BATCH
    X = torch.from_numpy(raw[:n * 784].copy()).reshape(nb, BATCH, 1, 28, 28)
    Y = torch.from_numpy(raw[n * 784:n * 785].copy()).long().reshape(nb, BATCH)
    models = {
        "mlp": nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)),
        "cnn": nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(32 * 7 * 7, 10)),
    }
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for k, m in models.items()}
    nxt = {"mlp": 0, "cnn": 0}
    print("ready torch %s" % torch.__version__, flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] == "quit":
            break
        which, steps = parts[0], int(parts[1])
        model, opt = models[which], opts[which]
        t0 = time.perf_counter()
        for _ in range(steps):
            k = nxt[which] % nb
            nxt[which] += 1
            opt.zero_grad()
            loss = F.cross_entropy(model(X[k]), Y[k])
            loss.backward()
            opt.step()
        t = time.perf_counter() - t0
        print("%.9f %.6f" % (t, loss.item()), flush=True)


# ---- the orchestrator ----------------------------------------------------------------------------

class Worker:
    def __init__(self, argv, env=None):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.banner = self.p.stdout.readline().strip()
        if not self.banner.startswith("ready"):
            raise SystemExit("worker %s failed to start" % argv)

    def run(self, model, steps):
        self.p.stdin.write("%s %d\n" % (model, steps))
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise SystemExit("a worker died")
        t, loss = line.split()
        return float(t), float(loss)

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
        except OSError:
            pass
        self.p.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.6, help="target length of one measurement")
    ap.add_argument("--data", choices=["fashion", "random"], default="fashion")
    ap.add_argument("--labbook", default=os.path.join(ROOT, "build", "bench", "train_step"))
    ap.add_argument("--json")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--nb", type=int, default=NBATCHES, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker is not None:
        worker(a.worker, a.file, a.nb)
        return 0

    threads = [int(t) for t in a.threads.split(",")]
    tmp = tempfile.mkdtemp(prefix="lb_train_step_")
    data = os.path.join(tmp, "data.bin")
    desc = load_data(a.data, data)
    fl = flops_per_sample()
    workers = {}
    try:
        for t in threads:
            workers[("labbook", t)] = Worker([a.labbook, str(t), data, str(NBATCHES)])
            workers[("pytorch", t)] = Worker([sys.executable, os.path.abspath(__file__), "--worker", str(t), "--file",
                                              data, "--nb", str(NBATCHES)])
        torch_version = workers[("pytorch", threads[0])].banner.split()[-1]
        print("train_step: batch %d, SGD(lr 0.01, momentum 0.9), cross-entropy; data: %s" % (BATCH, desc))
        print("labbook %s vs PyTorch %s; %d rounds of ~%.1f s per measurement, medians" %
              (os.path.relpath(a.labbook, ROOT), torch_version, a.rounds, a.seconds))
        # warm-up and calibration: steps per measurement from a short timed run
        steps = {}
        for key, w in workers.items():
            for m in ("mlp", "cnn"):
                w.run(m, 5)
                t, _ = w.run(m, 10)
                steps[key + (m,)] = max(5, int(a.seconds * 10 / max(t, 1e-6)))
        # the same step count for both sides of a comparison (the smaller of the two)
        for t in threads:
            for m in ("mlp", "cnn"):
                s = min(steps[("labbook", t, m)], steps[("pytorch", t, m)])
                steps[("labbook", t, m)] = steps[("pytorch", t, m)] = s
        res = {}
        for r in range(a.rounds):
            for t in threads:
                for m in ("mlp", "cnn"):
                    order = ("labbook", "pytorch") if r % 2 == 0 else ("pytorch", "labbook")
                    for side in order:
                        n = steps[(side, t, m)]
                        sec, loss = workers[(side, t)].run(m, n)
                        res.setdefault((side, t, m), []).append(n * BATCH / sec)
                        time.sleep(0.25)  # idle BLAS / OpenMP threads of the last worker spin ~0.1 s
        out = []
        print()
        print("%-6s %7s %14s %14s %8s %8s %10s %10s" % ("model", "threads", "labbook/s", "pytorch/s", "ratio",
                                                         "paired", "lb GFLOP/s", "pt GFLOP/s"))
        for t in threads:
            for m in ("mlp", "cnn"):
                lb = statistics.median(res[("labbook", t, m)])
                pt = statistics.median(res[("pytorch", t, m)])
                # the ratio of the medians, and the median of the per-round ratios (paired)
                rr = statistics.median([x / y for x, y in zip(res[("labbook", t, m)], res[("pytorch", t, m)])])
                print("%-6s %7d %14.0f %14.0f %7.2fx %7.2fx %10.1f %10.1f" % (m.upper(), t, lb, pt, lb / pt, rr,
                                                                              lb * fl[m] * 1e-9, pt * fl[m] * 1e-9))
                out.append({"model": m, "threads": t, "labbook_samples_per_s": lb, "pytorch_samples_per_s": pt,
                            "ratio": lb / pt, "paired_ratio_median": rr, "labbook_gflops": lb * fl[m] * 1e-9,
                            "pytorch_gflops": pt * fl[m] * 1e-9, "flop_per_sample": fl[m],
                            "labbook_rounds": res[("labbook", t, m)], "pytorch_rounds": res[("pytorch", t, m)]})
        print("(samples/s = medians over rounds; ratio = labbook / PyTorch of the medians, paired = median of "
              "the per-round ratios; FLOPs per sample: MLP %.3f M, CNN %.3f M)" % (fl["mlp"] * 1e-6, fl["cnn"] * 1e-6))
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"data": desc, "results": out}, f, indent=1)
    finally:
        for w in workers.values():
            w.close()
        for fn in os.listdir(tmp):
            os.unlink(os.path.join(tmp, fn))
        os.rmdir(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
