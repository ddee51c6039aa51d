#!/usr/bin/python3
"""train_torch.py — the PyTorch side of bench/fashion_mnist: the same network, data, batch
order, initial weights and training loop as labbook's `train` in train.lab.

  * data: tests/lbdata.py's fashion_mnist(valid=V, seed=0, train=T, test=S) — bit for bit what labbook holds
    (the fingerprint is printed and compared by run.py);
  * network: Conv2d(1,c1,3,p1) ReLU MaxPool2d(2) Conv2d(c1,c2,3,p1) ReLU MaxPool2d(2) Flatten
    [Linear ReLU]* Linear(.., 10) (pool "stride": Conv2d(.., 3, s2, p1) ReLU per stage) — the
    cnn plugin's layers, in the same Sequential positions, so labbook's parameter names
    ("0.weight", "7.bias", ...) are the state_dict keys;
  * initial weights: labbook's checkpoint of the untrained model (--init, read with
    tests/lbckpt.py), else PyTorch's own initialisation (torch.manual_seed(model_seed));
  * epoch e visits the training samples in lbdata.shuffle(n, lbdata.epoch_seed(run_seed, e))
    (labbook's order; computed before the clock starts), batches of `batch`, the last partial
    one kept; per batch: forward (train mode), F.cross_entropy (mean), zero_grad, backward,
    the learning rate of the step (constant or cosine per batch, as labbook's lb_sched_lr, in
    float32), optimizer step (torch.optim.SGD with momentum / weight decay, or Adam);
  * timing: per epoch, the training loop alone (batch gathering included); the evaluation on
    the valid split after each epoch and on the test split at the end is timed separately.

Usage: train_torch.py --settings S.json --threads T [--init init.lbc] [--out result.json]
S.json holds train.lab's settings (run.py writes it). Prints one line per epoch.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests"))
import lbckpt  # noqa: E402
import lbdata  # noqa: E402


def build(channels, hidden, classes=10, pool="max"):
    """labbook's cnn(channels, hidden, pool): per stage conv 3x3 pad 1, relu, maxpool 2 — or,
    with pool="stride", a stride-2 conv 3x3 pad 1 and relu."""
    layers, c, size = [], 1, 28
    for n in channels:
        if pool == "stride":
            layers += [nn.Conv2d(c, n, 3, stride=2, padding=1), nn.ReLU()]
        else:
            layers += [nn.Conv2d(c, n, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c, size = n, (size + 1) // 2
    layers.append(nn.Flatten())
    features = c * size * size
    for n in hidden:
        layers += [nn.Linear(features, n), nn.ReLU()]
        features = n
    layers.append(nn.Linear(features, classes))
    return nn.Sequential(*layers)


def torch_backend():
    """What PyTorch computes with: its CPU capability (oneDNN / vectorised kernels) and the BLAS
    library it loaded, with that library's OpenBLAS core when it is OpenBLAS."""
    import ctypes
    import re
    cfg = torch.__config__.show()
    cap = re.search(r"CPU capability usage: (\S+)", cfg)
    blas = re.search(r"BLAS_INFO=(\w+)", cfg)
    out = {"cpu_capability": cap.group(1) if cap else "?", "blas_info": blas.group(1) if blas else "?",
           "mkldnn": bool(torch.backends.mkldnn.is_available())}
    with open("/proc/self/maps") as f:
        libs = sorted({l.split()[-1] for l in f if re.search(r"lib(open)?blas[^/]*\.so", l)})
    for lib in libs:
        try:
            fn = ctypes.CDLL(lib).openblas_get_corename
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_char_p
        out["blas_library"], out["blas_core"] = os.path.realpath(lib), fn().decode()
        break
    return out


def load_init(net, path):
    header, tensors = lbckpt.read(path)
    state = net.state_dict()
    if set(tensors) != set(state):
        raise SystemExit("checkpoint %s holds %s, the torch net %s" % (path, sorted(tensors), sorted(state)))
    with torch.no_grad():
        for k, v in tensors.items():
            if tuple(v.shape) != tuple(state[k].shape):
                raise SystemExit("checkpoint tensor %s is %s, the torch net's %s" % (k, v.shape, tuple(state[k].shape)))
            state[k].copy_(torch.from_numpy(v.copy()))
    return header


def evaluate(net, x, y, batch=500):
    """(mean loss, accuracy) in eval mode."""
    net.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            out = net(x[i:i + batch])
            loss += float(F.cross_entropy(out, y[i:i + batch], reduction="sum"))
            correct += int((out.argmax(1) == y[i:i + batch]).sum())
    net.train()
    return loss / len(y), correct / len(y)


def lr_at(s, step, total):
    """labbook's lb_sched_lr for "constant" and "cosine" (no warm-up), as float32."""
    if s.get("schedule", "constant") == "constant":
        return float(np.float32(s["lr"]))
    if s.get("schedule") == "cosine":
        t = min(step, total)
        base, eta_min = float(np.float32(s["lr"])), float(np.float32(s.get("eta_min", 0.0)))
        return float(np.float32(eta_min + (base - eta_min) * (1.0 + math.cos(math.pi * t / total)) / 2.0))
    raise SystemExit("schedule %r is not reproduced here" % s["schedule"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--settings", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--init")
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open(a.settings) as f:
        s = json.load(f)

    t_start = time.perf_counter()
    d = lbdata.fashion_mnist(valid=int(s["valid"]), seed=0, train=s.get("train"), test=s.get("test"))
    X, Y = torch.from_numpy(d["train"]["x"]), torch.from_numpy(d["train"]["y"])
    valid = (torch.from_numpy(d["valid"]["x"]), torch.from_numpy(d["valid"]["y"])) if "valid" in d else None
    test = (torch.from_numpy(d["test"]["x"]), torch.from_numpy(d["test"]["y"]))
    n, batch, epochs = len(Y), int(s["batch"]), int(s["epochs"])
    orders = [torch.tensor(lbdata.shuffle(n, lbdata.epoch_seed(int(s["run_seed"]), e)), dtype=torch.long)
              for e in range(epochs)]

    torch.manual_seed(int(s["model_seed"]))
    net = build(s["channels"], s.get("hidden", []), pool=s.get("pool", "max"))
    init = "pytorch default (torch.manual_seed(%d))" % int(s["model_seed"])
    if a.init:
        load_init(net, a.init)
        init = "labbook checkpoint " + a.init
    if s["opt"] == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=s["lr"], momentum=s.get("momentum", 0),
                              weight_decay=s.get("weight_decay", 0))
    elif s["opt"] == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=s["lr"], weight_decay=s.get("weight_decay", 0))
    else:
        raise SystemExit("opt %r is not reproduced here" % s["opt"])
    nb = (n + batch - 1) // batch
    total = epochs * nb
    print("pytorch %s, %d thread(s), %s pool %s: %d train / %d valid / %d test, %d batches of %d per epoch, init %s"
          % (torch.__version__, a.threads, json.dumps(s["channels"]), s.get("pool", "max"), n,
             len(valid[1]) if valid else 0, len(test[1]), nb, batch, init), flush=True)

    history, step = [], 0
    net.train()
    for e in range(epochs):
        order = orders[e]
        loss_sum, correct = 0.0, 0
        t0 = time.perf_counter()
        for k in range(0, n, batch):
            idx = order[k:k + batch]
            xb, yb = X[idx], Y[idx]
            out = net(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            lr = lr_at(s, step, total)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.step()
            step += 1
            loss_sum += float(loss.item()) * len(idx)
            correct += int((out.argmax(1) == yb).sum())
        train_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        vl, va = evaluate(net, *valid) if valid else (float("nan"), float("nan"))
        eval_s = time.perf_counter() - t1
        ep = {"epoch": e + 1, "train.loss": loss_sum / n, "train.acc": correct / n, "valid.loss": vl,
              "valid.acc": va, "lr": lr, "train_seconds": train_s, "eval_seconds": eval_s,
              "samples_per_s": n / train_s}
        history.append(ep)
        print("epoch %2d  train.loss %.4f  train.acc %.4f  valid.acc %.4f  %.0f samples/s  (train %.1f s, eval %.1f s)"
              % (e + 1, ep["train.loss"], ep["train.acc"], va, ep["samples_per_s"], train_s, eval_s), flush=True)
    t1 = time.perf_counter()
    tl, ta = evaluate(net, *test)
    test_s = time.perf_counter() - t1
    wall = time.perf_counter() - t_start
    print("test.loss %.4f  test.acc %.4f  (eval %.1f s; wall %.1f s)" % (tl, ta, test_s, wall), flush=True)
    res = {"side": "pytorch", "torch": torch.__version__, "backend": torch_backend(), "threads": a.threads, "init": init,
           "fingerprint": d["fingerprint"], "history": history, "test": {"loss": tl, "acc": ta},
           "test_seconds": test_s, "wall_seconds": wall}
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
