"""test_train_parity.py — end-to-end training parity with PyTorch, and reproducibility of
`labbook run`.

Parity: for the same CNN, initial weights, data, batch order and settings, labbook's per-epoch
training loss matches a PyTorch script within 1e-3 relative over 2 epochs.

  * labbook: a script run with `labbook run` (a subprocess, OPENBLAS_NUM_THREADS=1) builds
    cnn(channels=[16, 32], pool="max") twice (model seeds 3 and 4), saves each model's initial
    weights as a checkpoint (`save`), trains the first with SGD (lr 0.05, momentum 0.9) and the
    second with Adam (lr 1e-3), batch 64, 2 epochs, run seed 1, on
    fashion_mnist(valid=10000, seed=0, train=4000, test=1000) (4,000 training samples from the
    50,000 left after the 10,000 held-out valid samples, 1,000 test samples), and exports the
    run records as JSON;
  * PyTorch 1.13 (torch.set_num_threads(1)): Conv2d(1,16,3,p1) ReLU MaxPool2d(2)
    Conv2d(16,32,3,p1) ReLU MaxPool2d(2) Flatten Linear(1568,10) — labbook's parameter names
    ("0.weight", "3.bias", "7.weight", ...) are the torch Sequential's — loaded from the
    checkpoint (tests/lbckpt.py); the data from tests/lbdata.py (its fingerprint must equal
    the record's); epoch e visits the samples in lbdata.shuffle(n, lbdata.epoch_seed(1, e)),
    batches of 64, the last partial batch kept; per batch F.cross_entropy (mean), zero_grad,
    backward, torch.optim.SGD / Adam step; the epoch's train.loss = sum(batch loss * batch
    size) / samples in double, as the trainer computes it;
  * asserted: |labbook - torch| / |torch| <= 1e-3 for train.loss in both epochs; valid.acc per
    epoch and the final test accuracy within 0.01. A control shows the tolerance is tight
    enough to see the batch order: PyTorch's first epoch with the order of seed 2 instead of
    seed 1 is further than 1e-3 from labbook's;
  * and the model keeps what it learned: its checkpoint saved after `train`, evaluated by
    PyTorch on the test split, gives the run's final test loss (1e-4 relative) and accuracy,
    and its parameter block hashes to the run's weights_sha256.

Reproducibility: the same script run twice (two processes) gives bit-identical exported
metrics (train.loss, train.acc, valid.*, lr per epoch, the final test metrics) and the same
weights_sha256; a run with another seed (another batch order) gives another loss and other
weights from the same initial weights.

The measured relative differences are printed (tests/run.py -v shows them).
LABBOOK_EXE names the labbook binary (default LABBOOK_BUILD_DIR/labbook, else build/labbook);
its plugins are taken from the plugins/ folder next to it.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbckpt  # noqa: E402
import lbdata  # noqa: E402

ROOT = os.environ.get("LABBOOK_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LABBOOK_BUILD_DIR") or os.path.join(ROOT, "build")
EXE = os.path.abspath(os.environ.get("LABBOOK_EXE") or os.path.join(BUILD, "labbook"))

LOSS_RTOL = 1e-3      # per-epoch train.loss, relative to PyTorch's
ACC_ATOL = 0.01       # valid.acc per epoch and the final test accuracy

DATA = dict(valid=10000, seed=0, train=4000, test=1000)
EPOCHS, BATCH, RUN_SEED = 2, 64, 1
CASES = {
    # name: (model seed, labbook settings, torch optimizer factory)
    "sgd": (3, 'opt="sgd" lr=0.05 momentum=0.9',
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "adam": (4, 'opt="adam" lr=0.001',
             lambda p: torch.optim.Adam(p, lr=1e-3)),
}


def build_dir():
    d = os.path.dirname(os.path.abspath(EXE))
    return os.path.dirname(d) if os.path.basename(d) == "asan" else d


def run_labbook(script, tmp, name, threads=1, timeout=300):
    """Runs script with `labbook run` in tmp; returns the CompletedProcess (asserted ok by
    the caller)."""
    path = os.path.join(tmp, name + ".lab")
    with open(path, "w") as f:
        f.write(script)
    env = dict(os.environ, LABBOOK_PLUGIN_PATH=os.path.join(build_dir(), "plugins"),
               OPENBLAS_NUM_THREADS=str(threads))
    return subprocess.run([EXE, "run", path, "--out", os.path.join(tmp, name + "_out")], cwd=tmp,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                          env=env)


def data_line():
    return "f = fashion_mnist(%s)\n" % ", ".join("%s=%d" % kv for kv in DATA.items())


def torch_net():
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * 7 * 7, 10))


def block_sha256(header, tensors):
    """SHA-256 of a model's parameter block as the trainer hashes it (init_sha256): the
    float32 values of each tensor in order, each padded with zeros to a multiple of 16 floats
    (ops/params.c)."""
    h = hashlib.sha256()
    for t in header["tensors"]:
        a = np.ascontiguousarray(tensors[t["name"]], dtype="<f4").ravel()
        h.update(a.tobytes())
        h.update(b"\0" * (4 * ((-a.size) % 16)))
    return h.hexdigest()


def accuracy(net, x, y, batch=500):
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += int((net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    net.train()
    return correct / len(y)


def train_torch(net, opt, x, y, order_seed, epochs, valid=None):
    """PyTorch's side of the comparison: [{"train.loss", "valid.acc"}] per epoch."""
    n = len(y)
    history = []
    net.train()
    for e in range(epochs):
        order = torch.tensor(lbdata.shuffle(n, lbdata.epoch_seed(order_seed, e)), dtype=torch.long)
        total = 0.0
        for k in range(0, n, BATCH):
            idx = order[k:k + BATCH]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item()) * len(idx)   # float32 batch mean, summed in double
        ep = {"train.loss": total / n}
        if valid is not None:
            ep["valid.acc"] = accuracy(net, *valid)
        history.append(ep)
    return history


@unittest.skipIf(torch is None, "python3-torch is not installed")
class TrainParity(unittest.TestCase):
    """labbook's `train` against the same training loop in PyTorch."""

    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmpdir = tempfile.TemporaryDirectory(prefix="lb_train_parity_")
        tmp = cls.tmpdir.name
        script = "use cnn\n" + data_line()
        for name, (mseed, settings, _) in CASES.items():
            script += ('model %s = cnn(channels=[16, 32], pool="max") seed=%d\n'
                       'save %s "%s/%s_init.lbc"\n'
                       "r_%s = train %s on f epochs=%d batch=%d seed=%d %s live=false curves=false\n"
                       'export r_%s "%s/%s.json"\n'
                       'save %s "%s/%s_after.lbc"\n'
                       % (name, mseed, name, tmp, name, name, name, EPOCHS, BATCH, RUN_SEED, settings,
                          name, tmp, name, name, tmp, name))
        cls.proc = run_labbook(script, tmp, "parity") if os.access(EXE, os.X_OK) else None
        cls.data = lbdata.fashion_mnist(**DATA)

    @classmethod
    def tearDownClass(cls):
        cls.tmpdir.cleanup()

    def record(self, name):
        p = self.proc
        self.assertTrue(os.access(EXE, os.X_OK), "%s is not built (make build)" % EXE)
        self.assertEqual(p.returncode, 0, "labbook run failed:\n%s\n%s" % (p.stdout, p.stderr))
        with open(os.path.join(self.tmpdir.name, name + ".json")) as f:
            doc = json.load(f)
        self.assertEqual(doc["format"], "labbook-runs")
        self.assertEqual(len(doc["runs"]), 1)
        rec = doc["runs"][0]
        self.assertEqual(rec["status"], "finished")
        self.assertEqual(rec["epochs_run"], EPOCHS)
        self.assertEqual(rec["seed"], RUN_SEED)
        self.assertEqual(rec["threads"], 1)
        return rec

    def torch_net_from(self, path):
        """(checkpoint header, the torch net holding the checkpoint's weights)."""
        header, tensors = lbckpt.read(path)
        self.assertEqual(header["spec"], 'cnn(channels=[16, 32], pool="max")')
        net = torch_net()
        state = net.state_dict()
        self.assertEqual(set(tensors), set(state))
        with torch.no_grad():
            for k, v in tensors.items():
                self.assertEqual(tuple(v.shape), tuple(state[k].shape), k)
                state[k].copy_(torch.from_numpy(v.copy()))
        return header, tensors, net

    def torch_start(self, name, rec):
        """The torch net with labbook's initial weights of case `name` (checked to be the ones
        training started from)."""
        header, tensors, net = self.torch_net_from(os.path.join(self.tmpdir.name, name + "_init.lbc"))
        self.assertEqual(block_sha256(header, tensors), rec["init_sha256"],
                         "the checkpoint saved before `train` is not what training started from")
        return net

    def check_case(self, name):
        rec = self.record(name)
        d = self.data
        self.assertEqual(rec["data"]["fingerprint"], d["fingerprint"],
                         "lbdata does not reproduce the data labbook trained on")
        self.assertEqual(rec["data"]["splits"], {"train": 4000, "valid": 10000, "test": 1000})
        tr, va, te = ((torch.from_numpy(d[s]["x"]), torch.from_numpy(d[s]["y"]))
                      for s in ("train", "valid", "test"))
        net = self.torch_start(name, rec)
        opt = CASES[name][2](net.parameters())
        t0 = time.monotonic()
        hist = train_torch(net, opt, *tr, RUN_SEED, EPOCHS, valid=va)
        test_acc = accuracy(net, *te)
        torch_seconds = time.monotonic() - t0

        lines = []
        for e, (lb, pt) in enumerate(zip(rec["history"], hist)):
            self.assertEqual(lb["epoch"], e + 1)
            rel = abs(lb["train.loss"] - pt["train.loss"]) / abs(pt["train.loss"])
            dacc = lb["valid.acc"] - pt["valid.acc"]
            lines.append("  %s epoch %d: train.loss labbook %.6f torch %.6f rel.diff %.2e; "
                         "valid.acc labbook %.4f torch %.4f diff %+.4f"
                         % (name, e + 1, lb["train.loss"], pt["train.loss"], rel, lb["valid.acc"],
                            pt["valid.acc"], dacc))
        lb_test = rec["final"]["test"]["acc"]
        lines.append("  %s test.acc labbook %.4f torch %.4f diff %+.4f (torch side %.1f s)"
                     % (name, lb_test, test_acc, lb_test - test_acc, torch_seconds))
        print("\n" + "\n".join(lines), flush=True)
        for e, (lb, pt) in enumerate(zip(rec["history"], hist)):
            rel = abs(lb["train.loss"] - pt["train.loss"]) / abs(pt["train.loss"])
            self.assertLessEqual(rel, LOSS_RTOL, "%s epoch %d train.loss: labbook %.7f, torch %.7f"
                                 % (name, e + 1, lb["train.loss"], pt["train.loss"]))
            self.assertLessEqual(abs(lb["valid.acc"] - pt["valid.acc"]), ACC_ATOL,
                                 "%s epoch %d valid.acc" % (name, e + 1))
        self.assertLessEqual(abs(lb_test - test_acc), ACC_ATOL, "%s test.acc" % name)
        # training did something (the loss fell), so the agreement is not that of two idle runs
        self.assertLess(hist[1]["train.loss"], 0.8 * hist[0]["train.loss"])
        return rec

    def test_sgd_momentum_loss_matches_torch(self):
        rec = self.check_case("sgd")
        # control: the same start with seed 2's batch order is visibly off in epoch 1, so the
        # agreement above depends on labbook drawing exactly lbdata's order for seed 1
        x, y = torch.from_numpy(self.data["train"]["x"]), torch.from_numpy(self.data["train"]["y"])
        net = self.torch_start("sgd", rec)
        other = train_torch(net, CASES["sgd"][2](net.parameters()), x, y, 2, 1)[0]["train.loss"]
        rel = abs(rec["history"][0]["train.loss"] - other) / abs(other)
        print("  control: epoch 1 with seed 2's order: torch %.6f, rel.diff to labbook's seed 1 "
              "%.2e" % (other, rel), flush=True)
        self.assertGreater(rel, LOSS_RTOL)

    def test_adam_loss_matches_torch(self):
        self.check_case("adam")

    def test_model_keeps_trained_weights(self):
        """After `train`, the model holds the weights the run ended with: its checkpoint
        (`save` after training), evaluated by PyTorch on the test split, gives the run's final
        test loss and accuracy, and hashes to the run's weights_sha256."""
        x, y = (torch.from_numpy(self.data["test"][k]) for k in ("x", "y"))
        for name in CASES:
            rec = self.record(name)
            header, tensors, net = self.torch_net_from(os.path.join(self.tmpdir.name, name + "_after.lbc"))
            net.eval()
            with torch.no_grad():
                logits = torch.cat([net(x[i:i + 500]) for i in range(0, len(y), 500)])
                loss = float(F.cross_entropy(logits, y, reduction="sum")) / len(y)
                acc = float((logits.argmax(1) == y).double().mean())
            want = rec["final"]["test"]
            print("\n  %s: saved after training, torch test loss %.6f acc %.4f; the run's test loss %.6f "
                  "acc %.4f" % (name, loss, acc, want["loss"], want["acc"]), flush=True)
            self.assertLessEqual(abs(loss - want["loss"]), 1e-4 * abs(want["loss"]),
                                 "%s: the model after `train` does not hold the run's final weights" % name)
            self.assertLessEqual(abs(acc - want["acc"]), 0.002, name)
            self.assertEqual(block_sha256(header, tensors), rec["weights_sha256"], name)


class RunReproducible(unittest.TestCase):
    """`labbook run` of the same script twice: bit-identical metrics and weights."""

    SCRIPT = ("use cnn\n"
              "f = fashion_mnist(valid=500, seed=0, train=1500, test=500)\n"
              'model m = cnn(channels=[8, 16], pool="max") seed=5\n'
              "r = train m on f epochs=2 batch=32 opt=\"sgd\" lr=0.05 momentum=0.9 seed=[1, 2] "
              "live=false curves=false\n"
              'export r "{tmp}/{tag}.json"\n')

    def runs(self, tmp, tag):
        p = run_labbook(self.SCRIPT.format(tmp=tmp, tag=tag), tmp, tag)
        self.assertEqual(p.returncode, 0, "labbook run failed:\n%s\n%s" % (p.stdout, p.stderr))
        with open(os.path.join(tmp, tag + ".json")) as f:
            runs = json.load(f)["runs"]
        self.assertEqual([r["seed"] for r in runs], [1, 2])
        return runs

    def test_same_script_twice_bit_identical(self):
        self.assertTrue(os.access(EXE, os.X_OK), "%s is not built (make build)" % EXE)
        with tempfile.TemporaryDirectory(prefix="lb_train_repro_") as tmp:
            a = self.runs(tmp, "a")
            b = self.runs(tmp, "b")
        metrics = lambda r: [{k: v for k, v in ep.items() if k not in ("seconds", "samples_per_s")}
                             for ep in r["history"]]
        for ra, rb in zip(a, b):
            self.assertEqual(ra["status"], "finished")
            self.assertEqual(len(ra["history"]), 2)
            self.assertEqual(ra["init_sha256"], rb["init_sha256"])
            self.assertEqual(ra["data"]["fingerprint"], rb["data"]["fingerprint"])
            self.assertEqual(ra["config_sha256"], rb["config_sha256"])
            # exact equality of the exported doubles (jansson writes them round-trippable)
            self.assertEqual(metrics(ra), metrics(rb), "seed %d: metrics differ between runs" % ra["seed"])
            self.assertEqual(ra["final"]["test"], rb["final"]["test"])
            self.assertEqual(ra["weights_sha256"], rb["weights_sha256"])
        # another seed: the same start, another batch order, so another loss and other weights
        s1, s2 = a
        self.assertEqual(s1["init_sha256"], s2["init_sha256"])
        n = s1["data"]["splits"]["train"]
        self.assertNotEqual(lbdata.shuffle(n, lbdata.epoch_seed(1, 0)), lbdata.shuffle(n, lbdata.epoch_seed(2, 0)))
        for e in range(2):
            self.assertNotEqual(s1["history"][e]["train.loss"], s2["history"][e]["train.loss"])
        self.assertNotEqual(s1["weights_sha256"], s2["weights_sha256"])
        print("\n  seed 1 train.loss %r (twice), seed 2 %r" %
              ([ep["train.loss"] for ep in s1["history"]], [ep["train.loss"] for ep in s2["history"]]),
              flush=True)


if __name__ == "__main__":
    unittest.main()
