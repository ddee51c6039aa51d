"""A crashing plugin costs the cell, not the session (spec/plugin-abi.md "When a plugin
crashes"): the test plugin tests/plugins/faulty.c crashes for real in the kernel's own process
(SIGSEGV, SIGBUS, SIGFPE, SIGILL, abort(), a stack overflow) while a model is built, trained
(forward, and backward through its custom op), evaluated, and in a command. Each time the cell
ends with a PluginError naming the plugin, the layer type or command and the signal; the plugin
is disabled until `use faulty` enables it again; the kernel keeps answering with every variable
intact; a model whose training step the crash interrupted keeps its weights (and batch-norm
buffers) from before that step."""

import os
import tempfile
import unittest

import lbckpt
import lbtest

SANITIZE = True      # tests/run.py runs this suite again against the ASan+UBSan kernel


def build_dir():
    d = os.path.dirname(os.path.abspath(lbtest.EXE))
    return os.path.dirname(d) if os.path.basename(d) == "asan" else d


FAULTY = os.path.join(build_dir(), "testplugins", "faulty.so")
SIGNALS = {"segv": "SIGSEGV", "bus": "SIGBUS", "fpe": "SIGFPE", "ill": "SIGILL", "abort": "SIGABRT",
           "stack": "SIGSEGV"}


class PluginFaultTests(lbtest.KernelCase):
    SETUP = (f'use layers\nuse "{FAULTY}"\n'
             'x = 42\nnames = ["a", "b"]\n'
             'f = fashion_mnist(valid=64, train=256, test=64, seed=0)\n'
             'model keep = sequential(flatten(), linear(784, 10)) seed=1')

    def crash(self, code, sig, where):
        """Runs a cell that must end with the crash of faulty (sig) in `where`."""
        c = self.run_fail(code)
        self.assertEqual(c["ename"], "PluginError", c["evalue"])
        self.assertIn("plugin faulty crashed with", c["evalue"])
        self.assertIn(SIGNALS[sig], c["evalue"])
        self.assertIn(where, c["evalue"])
        self.assertIn("disabled until `use faulty`", c["evalue"])
        return c

    def intact(self):
        """The kernel answers and the variables made before are there."""
        self.assertEqual(lbtest.value(self.kc, "x"), "42")
        self.assertEqual(lbtest.value(self.kc, "names"), '["a", "b"]')
        self.assertEqual(lbtest.value(self.kc, "keep.params"), "7850")

    def disabled_then_enabled(self):
        """faulty's layers refuse to run until `use faulty`, which enables it again."""
        e, v = self.run_error('model z = sequential(linear(4, 3), faulty(sig="segv", batch=5))')
        self.assertEqual(e, "PluginError", v)
        self.assertIn("plugin faulty is disabled", v)
        e, v = self.run_error('faulty_run sig="segv"')
        self.assertIn("plugin faulty is disabled", v)
        out = lbtest.stream_text(self.run_ok("use faulty"))
        self.assertIn("plugin faulty enabled again", out)

    def test_01_every_signal_while_building(self):
        """Each kind of fault in a layer's forward during `model` (its dry run)."""
        for sig in SIGNALS:
            with self.subTest(sig=sig):
                c = self.crash(f'y = 1\nmodel m = sequential(linear(4, 3), faulty(sig="{sig}"))', sig,
                               "in forward of layer type faulty")
                self.assertIn("line 2", lbtest.strip_ansi("\n".join(c["traceback"])))
                self.intact()
                self.assertEqual(lbtest.value(self.kc, "y"), "1")  # the statements before it ran
                self.disabled_then_enabled()

    def test_02_build_and_command(self):
        """A fault in a type's build and in a plugin command."""
        self.crash('model m = sequential(linear(4, 3), faulty(sig="abort", at="build"))', "abort",
                   "in build of layer type faulty")
        self.intact()
        self.disabled_then_enabled()
        self.crash('faulty_run sig="fpe"', "fpe", "in run of command faulty_run")
        self.intact()
        self.disabled_then_enabled()

    def weights(self, model):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "w.lbc")
            self.run_ok(f'save {model} "{path}"')
            return lbckpt.read(path)[1]

    def assert_same_weights(self, a, b):
        self.assertEqual(sorted(a), sorted(b))
        for k in a:
            self.assertTrue((a[k] == b[k]).all(), f"{k} changed")

    def test_03_training_forward_and_backward(self):
        """Every signal in the forward and in the backward pass. The crash happens only at batch 16 (the dry run at batch 1 passes, as a plugin that
        fails on other sizes would): in `train`, in the forward pass and, through the custom op,
        in the backward pass. The model keeps its weights and batch-norm buffers from before the
        step; the run is recorded as failed; the session goes on."""
        for at, sig in [(at, sig) for sig in SIGNALS for at in ("forward", "backward")]:
            with self.subTest(at=at, sig=sig):
                self.run_ok(f'model t = sequential(conv2d(1, 4, 3, pad=1), batchnorm2d(4), relu(), faulty(sig="{sig}", '
                            f'at="{at}", batch=16), flatten(), linear(3136, 10)) seed=3')
                # one good run first (batch 32: no crash), so that the weights are not the initial ones
                self.run_ok("r1 = train t on f epochs=1 batch=32 lr=0.05")
                before = self.weights("t")
                self.run_ok("ev = evaluate t on f.valid")
                ev = lbtest.value(self.kc, "ev.loss")
                self.crash("r2 = train t on f epochs=1 batch=16 lr=0.05", sig, f"in {at} of ")
                self.intact()
                self.assert_same_weights(before, self.weights("t"))
                self.disabled_then_enabled()
                self.run_ok("ev = evaluate t on f.valid")
                self.assertEqual(lbtest.value(self.kc, "ev.loss"), ev)

    def test_04_evaluate(self):
        """A crash while evaluating (batch 64 of the valid split)."""
        self.run_ok('model e = sequential(flatten(), linear(784, 10), faulty(sig="ill", batch=64)) seed=4')
        self.crash("m = evaluate e on f.valid", "ill", "in forward of layer type faulty")
        self.intact()
        self.disabled_then_enabled()


if __name__ == "__main__":
    unittest.main()
