"""ABI compatibility through the real kernel (jupyter_client): a layer plugin compiled against
the frozen ABI-1 header (tests/plugins/abi1/labbook_plugin.h, before the named inputs were
appended to lbp_type and lbp_host; built by the Makefile into build/testplugins/abi1_layer.so)
loads into today's kernel, builds, forwards and trains; a plugin whose lbp_type is larger than
the kernel's (built for a newer labbook) is still refused."""

import os
import random
import tempfile
import unittest

import lbckpt
import lbtest

SANITIZE = True


def build_dir():
    d = os.path.dirname(os.path.abspath(lbtest.EXE))
    return os.path.dirname(d) if os.path.basename(d) == "asan" else d


TEST_PLUGINS = os.path.join(build_dir(), "testplugins")
PLUGINS = os.path.join(build_dir(), "plugins")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class AbiCompatTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        env = dict(os.environ, LABBOOK_PLUGIN_PATH=PLUGINS)
        cls.km, cls.kc = lbtest.start_kernel(env=env)

    @classmethod
    def tearDownClass(cls):
        lbtest.stop_kernel(cls.km, cls.kc)
        cls.tmp.cleanup()

    def run_ok(self, code):
        reply, outputs = lbtest.execute(self.kc, code)
        c = reply["content"]
        self.assertEqual(c["status"], "ok", f"{code!r}: {c.get('ename')}: {c.get('evalue')}")
        return outputs

    def test_frozen_header_is_abi1(self):
        with open(os.path.join(ROOT, "tests", "plugins", "abi1", "labbook_plugin.h")) as f:
            old = f.read()
        self.assertIn("#define LBP_ABI_VERSION 1", old)
        self.assertNotIn("forward_inputs", old)     # the copy from before the named inputs
        with open(os.path.join(ROOT, "plugins", "labbook_plugin.h")) as f:
            self.assertIn("#define LBP_ABI_VERSION 1", f.read())

    def test_abi1_plugin_loads_forwards_and_trains(self):
        path = os.path.join(TEST_PLUGINS, "abi1_layer.so")
        self.assertTrue(os.path.isfile(path), path)
        out = lbtest.stream_text(self.run_ok(f'use layers\nuse "{path}"'))
        self.assertIn("loaded abi1_layer 1.0.0: oldaffine", out)
        out = lbtest.stream_text(self.run_ok("model m = sequential(oldaffine(4), linear(4, 3)) seed=1"))
        self.assertIn("m = sequential(oldaffine(4), linear(4, 3)): 2 layers, 23 parameters, [4] -> [3]", out)
        self.assertEqual(lbtest.value(self.kc, "m.inputs"), "{x: [4]}")
        self.assertEqual(lbtest.value(self.kc, "m.outputs"), "{y: [3]}")
        # a small 3-class CSV; training runs the old plugin's forward and backward
        rng = random.Random(0)
        csv = os.path.join(self.tmp.name, "d.csv")
        with open(csv, "w") as f:
            f.write("f0,f1,f2,f3,label\n")
            for i in range(24):
                f.write(",".join(str(round(rng.gauss(i % 3, 0.5), 3)) for _ in range(4)) + ",c%d\n" % (i % 3))
        ckpt = os.path.join(self.tmp.name, "r.lbc")
        self.run_ok(f'c = csv("{csv}", valid=0.25, seed=0)\n'
                    'r = train m on c epochs=2 lr=0.1 batch=4 seed=1 live=false curves=false\n'
                    f'save r.first.model "{ckpt}"')
        _, t = lbckpt.read(ckpt)
        self.assertEqual(t["0.weight"].shape, (4,))
        self.assertTrue((t["0.weight"] != 1).any(), "the ABI-1 layer's weight did not train")
        self.assertTrue((t["0.bias"] != 0).any(), "the ABI-1 layer's bias did not train")

    def test_newer_plugin_refused(self):
        path = os.path.join(TEST_PLUGINS, "bad_sizeof.so")
        reply, _ = lbtest.execute(self.kc, f'use "{path}"')
        c = reply["content"]
        self.assertEqual(c["status"], "error")
        self.assertEqual(c["ename"], "PluginError")
        self.assertIn("field 'sizeof_type'", c["evalue"])
        self.assertIn("the plugin was built for a newer labbook", c["evalue"])


if __name__ == "__main__":
    unittest.main()
