"""test_model_parity.py — whole-model PyTorch parity: the MLP and the CNNs built by the mlp and
cnn plugins (through labbook's real model path: an interpreter, `use`, `model`, the plugins
dlopen'ed from the build tree) against the same architecture in PyTorch 1.13 (Debian
python3-torch), starting from labbook's initial parameters (exported to torch):

  * one training-mode forward on the same batch gives the same logits and cross-entropy loss,
    and backward the same gradient of every parameter;
  * one step, and three steps, of SGD (momentum, weight decay), Adam (L2 weight decay) and
    AdamW give the same parameters (and batch-norm running statistics);

all within 1e-4 relative to each tensor's scale (max |labbook - torch| / max |torch|).

The C side is tests/parity/model_parity_driver.c, built by `make build` as
build/parity/model_parity_driver (LABBOOK_BUILD_DIR names another build directory).
"""

import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_ops_parity import read_blobs, write_blobs  # noqa: E402

ROOT = os.environ.get("LABBOOK_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LABBOOK_BUILD_DIR") or os.path.join(ROOT, "build")
TOL = 1e-4

# Gradients that are exactly zero in exact arithmetic (the bias of a convolution followed by
# batch norm) come out as float32 rounding noise of about 1e-8 on both sides, with no common
# value: they are compared with this absolute allowance, and their updates are not compared.
NOISE = 1e-7

# sgd_lr, sgd_momentum, sgd_weight_decay, adam_lr, beta1, beta2, eps, adam_wd, adamw_wd, steps.
# Adam's eps is 1e-5, not the default 1e-8: Adam divides every gradient element by its own
# magnitude, so with eps 1e-8 an element whose gradient (plus L2 term) is within rounding noise of
# zero moves by about +-lr whichever way the noise went, in PyTorch as in labbook. With 1e-5 the
# update stays a smooth function of the gradient and the comparison means something; the
# optimizer arithmetic with the default eps is checked on fixed gradients in test_ops_parity.
HYPER = [0.05, 0.9, 1e-3, 1e-3, 0.9, 0.999, 1e-5, 1e-2, 0.05, 3]


def torch_model(case):
    if case == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    if case == "cnn_max":
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(32 * 7 * 7, 10))
    if case == "cnn_stride":
        return nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
                             nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                             nn.Linear(32 * 7 * 7, 10))
    if case == "cnn_bn":
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10))
    raise ValueError(case)


SPECS = {
    "mlp": "mlp(hidden=[256])",
    "cnn_max": 'cnn(channels=[16, 32], pool="max")',
    "cnn_stride": 'cnn(channels=[16, 32], pool="stride")',
    "cnn_bn": 'cnn(channels=[8, 16], pool="max", batchnorm=true, hidden=[32])',
}


@unittest.skipIf(torch is None, "python3-torch is not installed")
class ModelParity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.driver = os.path.join(BUILD, "parity", "model_parity_driver")
        cls.tmp = tempfile.mkdtemp(prefix="lb_model_parity_")

    @classmethod
    def tearDownClass(cls):
        for f in os.listdir(cls.tmp):
            os.unlink(os.path.join(cls.tmp, f))
        os.rmdir(cls.tmp)

    def close(self, name, got, want, tol=TOL, atol=0.0):
        """max |got - want| <= tol * max |want| + atol"""
        want = want.detach().numpy() if torch.is_tensor(want) else np.asarray(want)
        self.assertEqual(tuple(got.shape), tuple(want.shape), name)
        scale = max(float(np.abs(want).max()) if want.size else 0.0, 1e-6)
        err = float(np.abs(got.astype(np.float64) - want).max()) if want.size else 0.0
        self.assertLessEqual(err, tol * scale + atol, "%s: max abs error %.3g at scale %.3g (%.3g relative)" %
                             (name, err, scale, err / scale))

    def labbook(self, case, x, y):
        self.assertTrue(os.access(self.driver, os.X_OK), "%s is not built (make build)" % self.driver)
        inp, outp = os.path.join(self.tmp, case + ".in"), os.path.join(self.tmp, case + ".out")
        write_blobs(inp, {"x": x.numpy(), "y": y.float().numpy(), "hyper": np.array(HYPER, dtype=np.float32)})
        r = subprocess.run([self.driver, SPECS[case], inp, outp], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return read_blobs(outp)

    def load(self, model, out):
        """Copies labbook's initial parameters and buffers into the torch model (names match:
        both are indices in one sequential)."""
        state = model.state_dict()
        names = {k[2:] for k in out if k.startswith("p:")}
        expected = {k for k in state if not k.endswith("num_batches_tracked")}
        self.assertEqual(names, expected)
        with torch.no_grad():
            for k in names:
                state[k].copy_(torch.from_numpy(out["p:" + k].copy()))

    def check_case(self, case, seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(16, 1, 28, 28, generator=g)
        y = torch.randint(0, 10, (16,), generator=g)
        out = self.labbook(case, x, y)

        model = torch_model(case)
        self.load(model, out)
        model.train()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        self.close(case + " logits", out["logits"], logits)
        self.close(case + " loss", out["loss"], loss)
        grads = {}
        for k, p in model.named_parameters():
            self.close(case + " grad " + k, out["g:" + k], p.grad, atol=NOISE)
            grads[k] = float(p.grad.abs().max())

        steps = int(HYPER[9])
        for prefix in ("sgd", "adam", "adamw"):
            m = torch_model(case)
            self.load(m, out)
            m.train()
            if prefix == "sgd":
                opt = torch.optim.SGD(m.parameters(), lr=HYPER[0], momentum=HYPER[1], weight_decay=HYPER[2])
            elif prefix == "adam":
                opt = torch.optim.Adam(m.parameters(), lr=HYPER[3], betas=(HYPER[4], HYPER[5]), eps=HYPER[6],
                                       weight_decay=HYPER[7])
            else:
                opt = torch.optim.AdamW(m.parameters(), lr=HYPER[3], betas=(HYPER[4], HYPER[5]), eps=HYPER[6],
                                        weight_decay=HYPER[8])
            for s in range(1, steps + 1):
                opt.zero_grad()
                F.cross_entropy(m(x), y).backward()
                opt.step()
                if s not in (1, steps):
                    continue
                for k, v in m.state_dict().items():
                    if k.endswith("num_batches_tracked"):
                        continue
                    got = out["%s%d:%s" % (prefix, s, k)]
                    self.close("%s %s after %d step(s): %s" % (case, prefix, s, k), got, v)
                    # the change itself agrees too (10x looser: a difference of two nearby
                    # numbers), unless the gradient is rounding noise around an exact zero
                    before = out["p:" + k]
                    if k in grads and grads[k] <= NOISE:
                        continue
                    if float((v - torch.from_numpy(before.copy())).abs().max()) > 0:
                        self.close("%s %s update of %s after %d step(s)" % (case, prefix, k, s), got - before,
                                   v - torch.from_numpy(before.copy()), tol=10 * TOL)

    def test_mlp(self):
        self.check_case("mlp", 1)

    def test_cnn_maxpool(self):
        self.check_case("cnn_max", 2)

    def test_cnn_strided(self):
        self.check_case("cnn_stride", 3)

    def test_cnn_batchnorm_hidden(self):
        self.check_case("cnn_bn", 4)


if __name__ == "__main__":
    unittest.main()
