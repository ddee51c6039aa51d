"""The fusion plugin's model type fuse, a model of two named inputs a and b:

  * through the real kernel (jupyter_client): `model f = fuse(...) input={a: [...], b: [...]}`,
    `f.inputs` / `f.outputs`, the params table's input rows, the defaults (parameters a and b),
    clear errors (a missing or unknown input, a plain shape, fuse inside sequential), and the
    checkpoint round trip (saved, rebuilt from the file with both inputs, the same tensors);
  * through labbook's model path in tests/parity/fusion_parity_driver.c (an interpreter, `use
    fusion`, `model`, lb_model_forward_inputs): for every mode the output shape, and the logits,
    cross-entropy loss and every parameter gradient against the same model in PyTorch from
    labbook's initial weights, judged against float32-vs-float64 noise (tests/noise.py); inputs of
    the wrong shape give a clear error.
"""

import os
import subprocess
import tempfile
import unittest

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None

import lbckpt
import lbtest
from noise import NoiseMixin
from test_ops_parity import read_blobs, write_blobs

SANITIZE = True

ROOT = os.environ.get("LABBOOK_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LABBOOK_BUILD_DIR") or os.path.join(ROOT, "build")
DRIVER = os.path.join(BUILD, "parity", "fusion_parity_driver")
MODES = ["concat", "add", "mul", "diff"]


def plugin_dir():
    d = os.path.dirname(os.path.abspath(lbtest.EXE))
    return os.path.join(os.path.dirname(d) if os.path.basename(d) == "asan" else d, "plugins")


class FusionKernelTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.km, cls.kc = lbtest.start_kernel(env=dict(os.environ, LABBOOK_PLUGIN_PATH=plugin_dir()))
        reply, _ = lbtest.execute(cls.kc, "use fusion")
        assert reply["content"]["status"] == "ok", reply["content"]

    @classmethod
    def tearDownClass(cls):
        lbtest.stop_kernel(cls.km, cls.kc)
        cls.tmp.cleanup()

    def run_ok(self, code):
        reply, outputs = lbtest.execute(self.kc, code)
        c = reply["content"]
        self.assertEqual(c["status"], "ok", f"{code!r}: {c.get('ename')}: {c.get('evalue')}")
        return outputs

    def run_err(self, code, ename, needle):
        reply, outputs = lbtest.execute(self.kc, code)
        c = reply["content"]
        self.assertEqual(c["status"], "error", f"{code!r} did not fail")
        self.assertEqual(c["ename"], ename, c.get("evalue"))
        self.assertIn(needle, c["evalue"])
        return c

    def value(self, code):
        return lbtest.value(self.kc, code)

    def test_inputs_and_display(self):
        out = lbtest.stream_text(self.run_ok('model f = fuse(hidden=32, mode="concat") input={a: [8], b: [4]} seed=1'))
        self.assertIn('f = fuse(hidden=32, mode="concat"): 1 layer, 1,098 parameters, {a: [8], b: [4]} -> [10]', out)
        self.assertEqual(self.value("f.inputs"), "{a: [8], b: [4]}")
        self.assertEqual(self.value("f.outputs"), "{y: [10]}")
        self.assertEqual(self.value("keys(f.inputs)"), '["a", "b"]')
        self.assertEqual(self.value("f.params"), "1098")   # 8*32+32 + 4*32+32 + 64*10+10
        outputs = self.run_ok("params f")
        html = [m for m in outputs if m["msg_type"] == "display_data"][0]["content"]["data"]["text/html"]
        self.assertIn("input a", html)
        self.assertIn("input b", html)
        # the defaults: the parameters a and b; other modes fuse hidden features, not 2 x hidden
        self.run_ok('model g = fuse(mode="mul", hidden=16, a=[16], b=[1, 6, 6]) seed=1')
        self.assertEqual(self.value("g.inputs"), "{a: [16], b: [1, 6, 6]}")
        self.assertEqual(self.value("g.params"), str(16 * 16 + 16 + 36 * 16 + 16 + 16 * 10 + 10))

    def test_errors(self):
        self.run_err("model z = fuse() input={a: [8]}", "TypeError",
                     "input gives no shape for 'b': fuse needs input={a: [...], b: [...]}")
        self.run_err("model z = fuse() input={a: [8], c: [4]}", "TypeError",
                     "input has no 'c': the inputs of fuse are a, b")
        self.run_err("model z = fuse() input=[8]", "TypeError",
                     "fuse has 2 named inputs (a, b): input must give the shape of each")
        self.run_err('model z = fuse() input={a: [8], b: "x"}', "TypeError",
                     "input b must be the shape of one example")
        self.run_err("model z = sequential(fuse())", "ModelError",
                     "a type with several inputs can only be a model's root")
        self.run_err('model z = fuse(mode="sum")', "ValueError",
                     "parameter 'mode' of fuse must be one of \"concat\", \"add\", \"mul\", \"diff\"")

    def test_checkpoint_round_trip(self):
        a, b = os.path.join(self.tmp.name, "f.lbc"), os.path.join(self.tmp.name, "g.lbc")
        self.run_ok('model f2 = fuse(hidden=8, mode="diff") input={a: [6], b: [2, 3]} seed=3\n'
                    f'save f2 "{a}"\nload g2 "{a}"\nsave g2 "{b}"')
        self.assertEqual(self.value("g2.inputs"), "{a: [6], b: [2, 3]}")
        self.assertEqual(self.value("g2.spec"), 'fuse(hidden=8, mode="diff")')
        ha, ta = lbckpt.read(a)
        hb, tb = lbckpt.read(b)
        self.assertEqual(ha["inputs"], [{"name": "a", "shape": [6]}, {"name": "b", "shape": [2, 3]}])
        self.assertEqual(ha["input"], [6])            # readers of the one-input header still work
        self.assertEqual(hb["inputs"], ha["inputs"])
        self.assertEqual(sorted(ta), ["a.bias", "a.weight", "b.bias", "b.weight", "head.bias", "head.weight"])
        for k in ta:
            np.testing.assert_array_equal(ta[k], tb[k])
        self.run_ok(f'load f2 "{a}"')                   # into the model that holds it
        self.run_err(f'model w = fuse(hidden=9) input={{a: [6], b: [2, 3]}}\nload w "{a}"',
                     "CheckpointError", "does not fit model w")


@unittest.skipIf(torch is None, "PyTorch is not installed")
class FusionParityTests(NoiseMixin, unittest.TestCase):
    def driver(self, spec, inputs, blobs):
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "in.bin"), os.path.join(d, "out.bin")
            write_blobs(src, blobs)
            p = subprocess.run([DRIVER, spec, inputs, src, dst], capture_output=True, text=True,
                               timeout=lbtest.limit(120))
            return p, (read_blobs(dst) if p.returncode == 0 else None)

    @staticmethod
    def torch_side(out, mode, a, b, y, dtype):
        p = {k[2:]: torch.tensor(np.array(v), dtype=dtype, requires_grad=True)
             for k, v in out.items() if k.startswith("p:")}
        a, b = a.to(dtype).flatten(1), b.to(dtype).flatten(1)
        ha = F.relu(F.linear(a, p["a.weight"], p["a.bias"]))
        hb = F.relu(F.linear(b, p["b.weight"], p["b.bias"]))
        f = {"concat": lambda: torch.cat([ha, hb], 1), "add": lambda: ha + hb,
             "mul": lambda: ha * hb, "diff": lambda: ha - hb}[mode]()
        logits = F.linear(f, p["head.weight"], p["head.bias"])
        loss = F.cross_entropy(logits, y)
        loss.backward()
        r = {"logits": logits.detach(), "loss": loss.detach()}
        r.update({"g:" + k: t.grad for k, t in p.items()})
        return r

    def test_modes_against_pytorch(self):
        self.assertTrue(os.path.isfile(DRIVER), DRIVER + " (make build)")
        g = torch.Generator().manual_seed(5)
        a, b = torch.randn(7, 6, generator=g), torch.randn(7, 2, 3, generator=g)
        y = torch.randint(0, 5, (7,), generator=g)
        for mode in MODES:
            with self.subTest(mode=mode):
                spec = f'fuse(hidden=12, mode="{mode}", classes=5)'
                p, out = self.driver(spec, "{a: [6], b: [2, 3]}", {"a": a, "b": b, "y": y.float()})
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(out["logits"].shape, (7, 5))
                self.assertEqual(out["p:head.weight"].shape, (5, 24 if mode == "concat" else 12))
                r32 = self.torch_side(out, mode, a, b, y, torch.float32)
                r64 = self.torch_side(out, mode, a, b, y, torch.float64)
                for k in r64:
                    self.assertAgrees(f"{mode} {k}", out[k], r32[k], r64[k])

    def test_wrong_input_shape(self):
        a, b = np.zeros((3, 6), np.float32), np.zeros((3, 5), np.float32)
        p, _ = self.driver("fuse()", "{a: [6], b: [2, 3]}", {"a": a, "b": b, "y": np.zeros(3, np.float32)})
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("model m expects input b [N, 2, 3], got [3, 5]", p.stderr)

    def test_weights_match_the_kernels(self):
        # the driver's model and a kernel's `model` of the same spec and seed hold the same weights
        p, out = self.driver("fuse(hidden=4)", "{a: [3], b: [2]}",
                             {"a": np.ones((2, 3), np.float32), "b": np.ones((2, 2), np.float32),
                              "y": np.zeros(2, np.float32)})
        self.assertEqual(p.returncode, 0, p.stderr)
        km, kc = lbtest.start_kernel(env=dict(os.environ, LABBOOK_PLUGIN_PATH=plugin_dir()))
        try:
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "k.lbc")
                reply, _ = lbtest.execute(kc, f'use fusion\nmodel k = fuse(hidden=4) input={{a: [3], b: [2]}} seed=1\nsave k "{path}"')
                self.assertEqual(reply["content"]["status"], "ok", reply["content"])
                _, t = lbckpt.read(path)
        finally:
            lbtest.stop_kernel(km, kc)
        for k, v in t.items():
            np.testing.assert_array_equal(out["p:" + k], v)


if __name__ == "__main__":
    unittest.main()
