"""Plugins through the real kernel (jupyter_client): `use`, `plugins`, `model`, `params`,
help / inspect / completion of plugin types, clear errors from deliberately broken plugins
(tests/plugins/*.c) with the kernel still serving and its variables intact, and the output
shapes and parameter counts of every layer and of cnn / mlp checked against PyTorch's
torch.nn equivalents."""

import hashlib
import os
import subprocess
import tempfile
import unittest

import lbtest

SANITIZE = True      # tests/run.py runs this suite again against the ASan+UBSan kernel


def build_dir():
    d = os.path.dirname(os.path.abspath(lbtest.EXE))
    return os.path.dirname(d) if os.path.basename(d) == "asan" else d


TEST_PLUGINS = os.path.join(build_dir(), "testplugins")
PLUGINS = os.path.join(build_dir(), "plugins")


class PluginTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # this tree's plugins first, not whatever an earlier `make install` left in PREFIX
        env = dict(os.environ, LABBOOK_PLUGIN_PATH=PLUGINS)
        cls.km, cls.kc = lbtest.start_kernel(env=env)

    @classmethod
    def tearDownClass(cls):
        lbtest.stop_kernel(cls.km, cls.kc)

    def run_ok(self, code):
        reply, outputs = lbtest.execute(self.kc, code)
        c = reply["content"]
        self.assertEqual(c["status"], "ok", f"{code!r}: {c.get('ename')}: {c.get('evalue')}")
        return reply, outputs

    def run_err(self, code, ename, needle):
        reply, outputs = lbtest.execute(self.kc, code)
        c = reply["content"]
        self.assertEqual(c["status"], "error", f"{code!r} did not fail")
        self.assertEqual(c["ename"], ename, c.get("evalue"))
        self.assertIn(needle, c["evalue"])
        errs = [m for m in outputs if m["msg_type"] == "error"]
        self.assertTrue(errs and needle in lbtest.strip_ansi("\n".join(errs[0]["content"]["traceback"])))
        return c

    def value(self, code):
        return lbtest.value(self.kc, code)

    def num(self, code):
        return float(self.value(code))

    def complete(self, code, cursor=None):
        msg_id = self.kc.complete(code, len(code) if cursor is None else cursor)
        return lbtest.shell_reply(self.kc, msg_id)["content"]

    # ---- use, model, params ------------------------------------------------------------

    def test_01_use_cnn_model_params(self):
        _, outputs = self.run_ok("use cnn")
        out = lbtest.stream_text(outputs)
        self.assertIn("loaded layers 0.1.0: linear, conv2d", out)
        self.assertIn("loaded cnn 0.1.0: cnn", out)
        _, outputs = self.run_ok("use cnn")          # already loaded: nothing happens
        self.assertEqual(lbtest.stream_text(outputs), "")
        _, outputs = self.run_ok('seed 1\nmodel a = cnn(channels=[16, 32], pool="max")')
        self.assertIn('a = cnn(channels=[16, 32], pool="max"): 8 layers, 20,490 parameters, '
                      '[1, 28, 28] -> [10]', lbtest.stream_text(outputs))
        self.run_ok("model b = sequential(conv2d(1, 16, 3, pad=1), relu(), maxpool2d(2), flatten(), "
                    "linear(3136, 10))")
        self.assertEqual(self.num("b.params"), 31530)
        _, outputs = self.run_ok("params a")
        disp = [m for m in outputs if m["msg_type"] == "display_data"]
        self.assertEqual(len(disp), 1)
        data = disp[0]["content"]["data"]
        self.assertIn("<table", data["text/html"])
        self.assertIn("conv2d(16, 32, 3, pad=1)", data["text/plain"])
        self.assertIn("[32, 7, 7]", data["text/plain"])
        self.assertIn("20,490", data["text/plain"])
        self.assertIn("| total |", data["text/markdown"])
        # the model as a value: a summary repr and a rich table
        r = self.value("a")
        self.assertTrue(r.startswith("<model a = cnn("), r)
        self.assertIn("[1, 28, 28] -> [10]", r)
        self.assertEqual(self.value("a.layers[0].layer"), '"conv2d(1, 16, 3, pad=1)"')
        self.assertEqual(self.value('type(a)'), '"model"')

    def test_02_plugins_table(self):
        self.run_ok("use cnn")
        _, outputs = self.run_ok("plugins")
        disp = [m for m in outputs if m["msg_type"] == "display_data"]
        self.assertEqual(len(disp), 1)
        plain = disp[0]["content"]["data"]["text/plain"]
        for col in ("name", "version", "types", "file", "sha256"):
            self.assertIn(col, plain)
        with open(os.path.join(PLUGINS, "layers.so"), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        self.assertIn(digest, plain)
        self.assertIn("maxpool2d", plain)

    def test_02c_models_too_big_refused_before_allocating(self):
        """A model whose input sample or parameters cannot fit in this machine's available memory
        is refused before anything is allocated (at once: no spike, no OOM killer), and the
        session's values stay."""
        self.run_ok("use layers\nkeep = 41")
        # sizes no machine of any class has: 400 GB for one input sample, 256 TB of parameters
        for code, needle in (("model big = linear(100000000000, 1)", "one sample of its input takes 372.5 GB"),
                             ("model big = linear(4000000, 4000000)",
                              "(16000000000000 values) would bring the model to 232.8 TB with its gradients")):
            reply, _ = lbtest.execute(self.kc, code, timeout=lbtest.limit(30))
            c = reply["content"]
            self.assertEqual(c["status"], "error", code)
            self.assertEqual(c["ename"], "ModelError")
            self.assertIn(needle, c["evalue"])
            self.assertIn("this machine has available", c["evalue"])
        self.assertEqual(self.num("keep + 1"), 42)

    def test_02b_build_tree_first(self):
        """A program run from the build tree loads the build's plugins, not those an earlier
        `make install` left in the install directory (LABBOOK_PLUGIN_PATH unset: the test
        runner sets it for the kernels it starts)."""
        with tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(tmp, "p.lab")
            with open(script, "w") as f:
                f.write("use cnn\nplugins\n")
            env = {k: v for k, v in os.environ.items() if k != "LABBOOK_PLUGIN_PATH"}
            r = subprocess.run([lbtest.EXE, "run", script, "--out", os.path.join(tmp, "out")], env=env,
                               capture_output=True, text=True, timeout=lbtest.limit(60))
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in ("layers", "cnn"):
            self.assertIn(os.path.join(PLUGINS, name + ".so"), r.stdout)

    def test_03_help_inspect_complete(self):
        self.run_ok("use cnn")
        reply, _ = self.run_ok("help conv2d")
        pages = [p for p in reply["content"].get("payload", []) if p.get("source") == "page"]
        self.assertEqual(len(pages), 1)
        text = pages[0]["data"]["text/plain"]
        self.assertIn("conv2d(in_channels, channels, kernel, stride=1, pad=0, dilation=1, bias=true)", text)
        self.assertIn("layer type from plugin layers 0.1.0", text)
        self.assertIn("zero padding on each side", text)
        c = self.complete("model b = sequential(conv2d(")
        for p in ("in_channels=", "channels=", "kernel=", "stride=", "pad=", "bias="):
            self.assertIn(p, c["matches"])
        c = self.complete("x = conv2d(1, 16, 3, pa")
        self.assertIn("pad=", c["matches"])
        self.assertNotIn("stride=", c["matches"])
        c = self.complete('model a = cnn(channels=[16], ')
        self.assertIn("pool=", c["matches"])
        c = self.complete("use ")
        for p in ("cnn", "layers", "mlp"):
            self.assertIn(p, c["matches"])
        msg_id = self.kc.inspect("x = conv2d(", len("x = conv2d("))
        r = lbtest.shell_reply(self.kc, msg_id)["content"]
        self.assertTrue(r["found"])
        self.assertIn("channels", r["data"]["text/plain"])

    def test_04_argument_errors(self):
        self.run_ok("use cnn")
        self.run_err("c = conv2d(1, 16, 3, chanels=2)", "TypeError",
                     "unknown parameter 'chanels' for conv2d (did you mean 'channels'?)")
        self.run_err('model z = cnn(pool="maxx")', "ValueError",
                     "parameter 'pool' of cnn must be one of \"max\", \"stride\", \"avg\" "
                     "(got \"maxx\"; did you mean \"max\"?)")
        self.run_err("model z = sequential(conv2d(1, 16, 3, pad=1), flatten(), linear(3137, 10))",
                     "ModelError", "expects 3137 input features (the last dimension) but gets 12544")
        self.run_err("model z = dropout(1.5)", "ValueError", "parameter 'p' of dropout must be in [0, 1) (got 1.5)")

    # ---- broken plugins --------------------------------------------------------------------

    def test_05_broken_plugins_keep_the_kernel_serving(self):
        self.run_ok("use cnn\nkeep = 41\nseed 2\nmodel kept = cnn()")
        cases = [
            ("bad_abi", "ABI magic block mismatch: field 'abi_version' is 99 in the plugin, 1 in labbook"),
            ("bad_sizeof", "ABI magic block mismatch: field 'sizeof_type'"),
            ("no_magic", "it has no ABI magic block"),
            ("no_init", "it exports no init function lbp_init"),
            ("failing_init", "failed to initialise: cannot open /dev/gpu0: this plugin needs a GPU"),
            ("dup_type", "cannot register type 'conv2d': a type named 'conv2d' is already registered "
                         "by plugin layers"),
            ("dup_self", "cannot register type 'twin': dup_self registers it twice"),
            ("bad_schema", "the default of parameter 'p' (2) is invalid"),
            ("crash_init", "cannot load crash_init.so: it crashed while loading"),
        ]
        for name, needle in cases:
            with self.subTest(plugin=name):
                path = os.path.join(TEST_PLUGINS, name + ".so")
                self.assertTrue(os.path.isfile(path), path)
                self.run_err(f'use "{path}"', "PluginError", needle)
                self.assertEqual(self.num("keep + 1"), 42)
        self.run_err("g = ghost()", "NameError", "ghost")
        self.run_err("use not_a_plugin_anywhere", "PluginError", "no plugin named 'not_a_plugin_anywhere'")
        self.assertEqual(self.num("kept.params"), 20490)
        self.assertEqual(self.num("c = conv2d(1, 2, 3)\nlen(c.args)"), 7)

    def test_06_plugin_command_next_cell(self):
        path = os.path.join(TEST_PLUGINS, "schematest.so")
        self.run_ok(f'use "{path}"')
        _, outputs = self.run_ok('hello "lab" times=2')
        self.assertEqual(lbtest.stream_text(outputs), "hello, lab\nhello, lab\n")
        self.run_err('hello "lab" tmes=2', "TypeError", "unknown parameter 'tmes' for hello (did you mean 'times'?)")

    # ---- shapes and parameter counts against PyTorch ----------------------------------------

    def test_07_shapes_and_counts_match_pytorch(self):
        import torch
        import torch.nn as nn

        self.run_ok("use cnn mlp")

        def flat():
            return nn.Flatten()

        cases = [
            ("linear(20, 5)", [20], nn.Linear(20, 5)),
            ("linear(20, 5, bias=false)", [3, 20], nn.Linear(20, 5, bias=False)),
            ("conv2d(3, 8, 3)", [3, 10, 12], nn.Conv2d(3, 8, 3)),
            ("conv2d(3, 8, 3, stride=2, pad=1)", [3, 10, 12], nn.Conv2d(3, 8, 3, stride=2, padding=1)),
            ("conv2d(3, 8, 5, dilation=2, bias=false)", [3, 16, 13],
             nn.Conv2d(3, 8, 5, dilation=2, bias=False)),
            ("maxpool2d(2)", [4, 9, 9], nn.MaxPool2d(2)),
            ("maxpool2d(3, stride=2, pad=1)", [4, 9, 9], nn.MaxPool2d(3, stride=2, padding=1)),
            ("avgpool2d(2)", [4, 8, 7], nn.AvgPool2d(2)),
            ("avgpool2d(3, stride=1, pad=1)", [4, 8, 7], nn.AvgPool2d(3, stride=1, padding=1)),
            ("flatten()", [4, 3, 2], flat()),
            ("relu()", [7], nn.ReLU()),
            ("tanh()", [7], nn.Tanh()),
            ("sigmoid()", [7], nn.Sigmoid()),
            ("gelu()", [7], nn.GELU()),
            ("leaky_relu(slope=0.2)", [7], nn.LeakyReLU(0.2)),
            ("dropout(0.3)", [7], nn.Dropout(0.3)),
            ("batchnorm2d(4)", [4, 5, 5], nn.BatchNorm2d(4)),
            ("layernorm(6)", [3, 6], nn.LayerNorm(6)),
            ("embedding(100, 8)", [12], nn.Embedding(100, 8)),
            ("sequential(conv2d(1, 16, 3, pad=1), relu(), maxpool2d(2), flatten(), linear(3136, 10))",
             [1, 28, 28],
             nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), flat(),
                           nn.Linear(3136, 10))),
            ('cnn(channels=[16, 32], pool="max")', [1, 28, 28],
             nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), flat(),
                           nn.Linear(32 * 7 * 7, 10))),
            ('cnn(channels=[16, 32], pool="stride")', [1, 28, 28],
             nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
                           nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(), flat(),
                           nn.Linear(32 * 7 * 7, 10))),
            ('cnn(channels=[8, 16, 32], kernel=5, batchnorm=true, hidden=[64], dropout=0.25)',
             [1, 28, 28],
             nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Conv2d(8, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Conv2d(16, 32, 5, padding=2), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                           flat(), nn.Dropout(0.25), nn.Linear(32 * 3 * 3, 64), nn.ReLU(),
                           nn.Dropout(0.25), nn.Linear(64, 10))),
            ("cnn(channels=[6, 16], kernel=5, pool=\"avg\", hidden=[120, 84], activation=\"tanh\") "
             "input=[3, 32, 32]", [3, 32, 32],
             nn.Sequential(nn.Conv2d(3, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
                           nn.Conv2d(6, 16, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2), flat(),
                           nn.Linear(16 * 8 * 8, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
                           nn.Linear(84, 10))),
            ("mlp(hidden=[256, 128])", [1, 28, 28],
             nn.Sequential(flat(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                           nn.Linear(128, 10))),
            ('mlp(hidden=[64], activation="gelu", dropout=0.1, classes=3) input=[20]', [20],
             nn.Sequential(nn.Linear(20, 64), nn.GELU(), nn.Dropout(0.1), nn.Linear(64, 3))),
        ]
        for i, (src, shape, module) in enumerate(cases):
            with self.subTest(layer=src):
                if " input=" not in src:
                    src = f"{src} input={shape}"
                self.run_ok(f"model t{i} = {src}")
                module.eval()
                if isinstance(module, nn.Embedding):
                    x = torch.zeros([2] + shape, dtype=torch.long)
                else:
                    x = torch.zeros([2] + shape)
                with torch.no_grad():
                    y = module(x)
                want_params = sum(p.numel() for p in module.parameters())
                self.assertEqual(self.value(f"t{i}.output"), str(list(y.shape[1:])))
                self.assertEqual(self.num(f"t{i}.params"), want_params)


if __name__ == "__main__":
    unittest.main()
