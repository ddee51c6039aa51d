"""rnn_bench.py — one LSTM training step (forward + backward; hidden 256, batch 64, length 20,
input 128), labbook's fused op (bench/rnn_bench.c) against torch.nn.LSTM in the same run, with
the same loss sum(y R) + sum(h_T R'); prints both, the ratio, the CPU and the BLAS cores.
Usage: rnn_bench.py --labbook build/bench/rnn_bench [--threads 1] [--rounds 5] [--steps 10] [--cell lstm]
LB_BENCH_CPU=1 times process CPU time on both sides (fairer on a shared machine, 1 thread)."""
import argparse
import os
import re
import statistics
import subprocess
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--labbook", required=True)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--steps", type=int, default=10)
ap.add_argument("--cell", default="lstm", choices=["lstm", "gru", "tanh"])
a = ap.parse_args()
T, B, I, H = 20, 64, 128, 256
clock = time.process_time if os.environ.get("LB_BENCH_CPU") else time.perf_counter


def torch_ms():
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    mod = {"lstm": lambda: torch.nn.LSTM(I, H), "gru": lambda: torch.nn.GRU(I, H),
           "tanh": lambda: torch.nn.RNN(I, H)}[a.cell]()
    x, r, r2 = torch.randn(T, B, I), torch.randn(T, B, H), torch.randn(1, B, H)
    per = []
    for rnd in range(-1, a.rounds):
        t0 = clock()
        for _ in range(a.steps):
            mod.zero_grad(set_to_none=True)
            y, hn = mod(x)
            hn = hn[0] if a.cell == "lstm" else hn
            ((y * r).sum() + (hn * r2).sum()).backward()
        if rnd >= 0:
            per.append((clock() - t0) / a.steps)
    return 1e3 * statistics.median(per)


def labbook_ms():
    out = subprocess.run([a.labbook, str(a.threads), str(a.rounds), str(a.steps), a.cell], check=True,
                         capture_output=True, text=True).stdout
    ms = float(re.search(r"([0-9.]+) ms per training step", out).group(1))
    return ms, out


# alternate the two sides so that a load change on the machine falls on both
lb, pt, info = [], [], ""
for _ in range(2):
    ms, info = labbook_ms()
    lb.append(ms)
    pt.append(torch_ms())
lbm, ptm = min(lb), min(pt)
blas = [l for l in info.splitlines() if l.startswith(("blas:", "cpu:"))]
cfg = torch.__config__.show()
tblas = re.search(r"BLAS_INFO=(\w+)", cfg)
with open("/proc/self/maps") as f:  # the BLAS library this process (PyTorch) loaded
    libs = sorted({os.path.realpath(l.split()[-1]) for l in f if re.search(r"lib(open)?blas", l)})
print("%s T%d B%d I%d H%d, %d thread(s), %s time" % (a.cell, T, B, I, H, a.threads,
                                                     "CPU" if os.environ.get("LB_BENCH_CPU") else "wall"))
print("  labbook lb_rnn   %.2f ms per training step (forward + backward)" % lbm)
print("  pytorch %s %.2f ms" % (torch.__version__, ptm))
print("  ratio (pytorch time / labbook time): %.2f" % (ptm / lbm))
for l in blas:
    print("  labbook " + l)
print("  pytorch blas: %s (%s)" % (tblas.group(1) if tblas else "?", ", ".join(libs) or "none loaded"))
