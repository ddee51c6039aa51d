"""test_model_parity.py — whole-model PyTorch parity: the MLP and the CNNs built by the mlp and
cnn plugins (through labbook's real model path: an interpreter, `use`, `model`, the plugins
dlopen'ed from the build tree) against the same architecture in PyTorch 1.13 (Debian
python3-torch), starting from labbook's initial parameters (exported to torch):

  * one training-mode forward on the same batch gives the same logits and cross-entropy loss,
    and backward the same gradient of every parameter;
  * one step, and three steps, of SGD (momentum, weight decay), Adam (L2 weight decay) and
    AdamW give the same parameters (and batch-norm running statistics);

all judged against this machine's float noise (tests/noise.py): PyTorch runs every case in
float32 and in float64 from the same start, and labbook's distance to float64 must be within
noise.MULT times PyTorch float32's (with a small floor), tensor by tensor. The drivers say which
OpenBLAS core they ran on; a core forced with OPENBLAS_CORETYPE must be the one in use.

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
import lbtest  # noqa: E402
from noise import NoiseMixin  # noqa: E402
from test_ops_parity import read_blobs, write_blobs  # noqa: E402

ROOT = os.environ.get("LABBOOK_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LABBOOK_BUILD_DIR") or os.path.join(ROOT, "build")
F64 = torch.float64 if torch is not None else None

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
class ModelParity(NoiseMixin, unittest.TestCase):
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

    def labbook(self, case, x, y):
        self.assertTrue(os.access(self.driver, os.X_OK), "%s is not built (make build)" % self.driver)
        inp, outp = os.path.join(self.tmp, case + ".in"), os.path.join(self.tmp, case + ".out")
        write_blobs(inp, {"x": x.numpy(), "y": y.float().numpy(), "hyper": np.array(HYPER, dtype=np.float32)})
        r = subprocess.run([self.driver, SPECS[case], inp, outp], capture_output=True, text=True,
                           timeout=lbtest.limit(300))
        self.assertEqual(r.returncode, 0, r.stderr)
        core = [l for l in r.stderr.splitlines() if l.startswith("blas: ")]
        self.assertEqual(len(core), 1, r.stderr)
        print("\n  %s: %s" % (case, core[0]), flush=True)
        forced = os.environ.get("OPENBLAS_CORETYPE")
        if forced:
            self.assertIn("core %s " % forced.lower(), core[0].lower() + " ")
        return read_blobs(outp)

    def load(self, model, out, dtype):
        """Copies labbook's initial parameters and buffers into the torch model (names match:
        both are indices in one sequential), in dtype."""
        model.to(dtype)
        state = model.state_dict()
        names = {k[2:] for k in out if k.startswith("p:")}
        expected = {k for k in state if not k.endswith("num_batches_tracked")}
        self.assertEqual(names, expected)
        with torch.no_grad():
            for k in names:
                state[k].copy_(torch.from_numpy(out["p:" + k].copy()).to(state[k].dtype))
        return model

    def torch_side(self, case, out, x, y, dtype):
        """PyTorch in dtype from labbook's start: logits, loss, gradients, and the states after
        1 and `steps` steps of each optimizer."""
        x = x.to(dtype)
        model = self.load(torch_model(case), out, dtype)
        model.train()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        res = {"logits": logits.detach(), "loss": loss.detach()}
        for k, p in model.named_parameters():
            res["g:" + k] = p.grad.detach().clone()
        steps = int(HYPER[9])
        for prefix in ("sgd", "adam", "adamw"):
            m = self.load(torch_model(case), out, dtype)
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
                if s in (1, steps):
                    for k, v in m.state_dict().items():
                        if not k.endswith("num_batches_tracked"):
                            res["%s%d:%s" % (prefix, s, k)] = v.detach().clone()
        return res

    def check_case(self, case, seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(16, 1, 28, 28, generator=g)
        y = torch.randint(0, 10, (16,), generator=g)
        out = self.labbook(case, x, y)
        r32 = self.torch_side(case, out, x, y, torch.float32)
        r64 = self.torch_side(case, out, x, y, F64)
        for k in r64:
            self.assertIn(k, out, "labbook gave no %s" % k)
            self.assertAgrees("%s %s" % (case, k), out[k], r32[k], r64[k])
            if k[0] in "sa" and ":" in k:
                # the change itself agrees too: a difference of two nearby numbers, judged
                # against float32's noise on that difference
                before = out["p:" + k.split(":", 1)[1]].astype(np.float64)
                self.assertAgrees("%s update %s" % (case, k), out[k] - before, r32[k].double().numpy() - before,
                                  r64[k].numpy() - before)

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
