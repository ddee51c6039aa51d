"""test_task_metrics.py — the built-in tasks' losses and metrics (kernel/train/task_*.c) against
reference libraries: each loss against PyTorch (float32 and float64, judged by tests/noise.py),
each metric against scikit-learn, on outputs and targets made here. The real task code runs in
build/parity/task_metrics_driver the way the trainer runs it: batch by batch (batches that do
not divide the set, so accumulation over a whole split is tested), the loss from the task, the
metrics accumulated and made final at the end.

Metrics are sums and counts kept in double precision over float32 inputs, with no BLAS call, and
travel back as float32: their agreement with scikit-learn (float64 from the same float32 values)
is checked to two float32 ulps (2^-22 relative), the rounding of that last conversion, which no
CPU difference reaches.
"""

import os
import subprocess
import sys
import tempfile
import unittest
import warnings

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None
try:
    from sklearn import metrics as skm
except ImportError:  # pragma: no cover
    skm = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402
from noise import NoiseMixin  # noqa: E402
from test_ops_parity import read_blobs, write_blobs  # noqa: E402

ROOT = os.environ.get("LABBOOK_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LABBOOK_BUILD_DIR") or os.path.join(ROOT, "build")
RTOL = 2.0 ** -22


@unittest.skipIf(torch is None or skm is None, "python3-torch and python3-sklearn are needed")
class TaskMetrics(NoiseMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.driver = os.path.join(BUILD, "parity", "task_metrics_driver")
        cls.tmp = tempfile.mkdtemp(prefix="lb_task_metrics_")

    def run_task(self, task, out, y, classes=0, ignore=255, batch=37, topk=5):
        self.assertTrue(os.access(self.driver, os.X_OK), "%s is not built (make build)" % self.driver)
        inp, outp = os.path.join(self.tmp, task + ".in"), os.path.join(self.tmp, task + ".out")
        write_blobs(inp, {"out": out.astype(np.float32), "y": y.astype(np.float32),
                          "meta": np.array([classes, ignore, batch, topk], dtype=np.float32)})
        r = subprocess.run([self.driver, task, inp, outp], capture_output=True, text=True,
                           timeout=lbtest.limit(120))
        self.assertEqual(r.returncode, 0, r.stderr)
        return read_blobs(outp)

    def batch_loss(self, name, got, fn, out, y, batch):
        """Each batch's loss against fn in PyTorch float32 and float64."""
        for i, lo in enumerate(range(0, len(out), batch)):
            o, t = torch.from_numpy(out[lo:lo + batch]), torch.from_numpy(y[lo:lo + batch])
            self.assertAgrees("%s batch %d" % (name, i), got[i], fn(o.float(), t).detach(),
                              fn(o.double(), t).detach())

    def test_classify(self):
        rng = np.random.default_rng(1)
        n, c = 301, 7
        out = rng.normal(size=(n, c)).astype(np.float32) * 3
        y = rng.integers(0, c, size=n)
        r = self.run_task("classify", out, y, classes=c, batch=37, topk=3)
        loss, acc, top3 = r["values"]
        self.assertEqual(acc, np.float32(skm.accuracy_score(y, out.argmax(1))))
        self.assertEqual(top3, np.float32(skm.top_k_accuracy_score(y, out, k=3, labels=range(c))))
        yt = torch.from_numpy(y)
        self.batch_loss("cross-entropy", r["batch_loss"], lambda o, t: F.cross_entropy(o, t), out, yt.numpy(), 37)
        self.assertAgrees("mean loss", loss, F.cross_entropy(torch.from_numpy(out), yt),
                          F.cross_entropy(torch.from_numpy(out).double(), yt))

    def test_regress(self):
        rng = np.random.default_rng(2)
        n, k = 250, 3
        y = rng.normal(size=(n, k)).astype(np.float32) * [1, 5, 0.2] + [0, 10, -1]
        out = (y + rng.normal(size=(n, k)) * 0.7).astype(np.float32)
        r = self.run_task("regress", out, y, batch=64)
        loss, mae, r2 = (float(v) for v in r["values"])
        yd, od = y.astype(np.float64), out.astype(np.float64)
        self.assertAlmostEqual(mae / skm.mean_absolute_error(yd, od), 1, delta=RTOL)
        self.assertAlmostEqual(r2 / skm.r2_score(yd, od), 1, delta=RTOL)
        mse = lambda o, t: F.mse_loss(o, t.to(o.dtype))  # noqa: E731
        self.batch_loss("mse", r["batch_loss"], mse, out, y, 64)
        self.assertAgrees("mean loss", loss, mse(torch.from_numpy(out), torch.from_numpy(y)),
                          mse(torch.from_numpy(out).double(), torch.from_numpy(y)))
        # one output, a target as a vector [N] and the model's [N, 1]
        r1 = self.run_task("regress", out[:, :1], y[:, 0], batch=64)
        self.assertAlmostEqual(float(r1["values"][2]) / skm.r2_score(yd[:, 0], od[:, 0]), 1, delta=RTOL)

    def test_segment(self):
        rng = np.random.default_rng(3)
        n, c, h, w = 23, 4, 9, 11
        y = rng.integers(0, c - 1, size=(n, h, w))  # class 3 never labelled ...
        y[rng.random(size=y.shape) < 0.1] = 255     # ... and a tenth of the pixels ignored
        out = rng.normal(size=(n, c, h, w)).astype(np.float32)
        out[:, 3] -= 10                              # ... nor predicted: its IoU is undefined
        out += np.eye(c, dtype=np.float32)[np.where(y == 255, 0, y)].transpose(0, 3, 1, 2) * 1.5
        r = self.run_task("segment", out, y, classes=c, ignore=255, batch=5)
        loss, pixel_acc, miou = (float(v) for v in r["values"])
        keep = y != 255
        pred = out.argmax(1)
        yk, pk = y[keep], pred[keep]
        self.assertAlmostEqual(pixel_acc / skm.accuracy_score(yk, pk), 1, delta=RTOL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # class 3: sklearn warns and gives 0
            iou = skm.jaccard_score(yk, pk, labels=range(c), average=None)
        present = [k for k in range(c) if (yk == k).any() or (pk == k).any()]
        self.assertEqual(present, [0, 1, 2])
        for k in range(c):
            if k in present:
                self.assertAlmostEqual(float(r["iou"][k]) / iou[k], 1, delta=RTOL, msg="IoU of class %d" % k)
            else:
                self.assertTrue(np.isnan(r["iou"][k]), "class %d: no union, IoU undefined (NaN)" % k)
        self.assertAlmostEqual(miou / np.mean(iou[present]), 1, delta=RTOL)
        ce = lambda o, t: F.cross_entropy(o, t, ignore_index=255)  # noqa: E731
        self.batch_loss("pixel cross-entropy", r["batch_loss"], ce, out, y, 5)


if __name__ == "__main__":
    unittest.main()
