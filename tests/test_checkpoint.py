"""Model checkpoints through the real kernel (jupyter_client): `save MODEL "file"` writes a file
that tests/lbckpt.py reads with numpy from the format in spec/language.md §12 (signature,
version, SHA-256, header, float32 tensors); saving twice, loading into a model of another seed
and rebuilding into an unbound name all give bit-identical tensors; a corrupted, truncated or
missing file is refused with its own error and the kernel keeps its variables and the model its
weights; a header that claims more than the file or the memory holds is refused before the body is
read; an unwritable folder is an IOError."""

import json
import os
import re
import shutil
import tempfile
import unittest

import numpy as np

import lbckpt
import lbtest

SANITIZE = True      # tests/run.py runs this suite again against the ASan+UBSan kernel


def bits(tensors):
    """The tensors' exact bits (NaN-safe comparison)."""
    return {k: v.view(np.uint32).copy() for k, v in tensors.items()}


class CheckpointKernelTests(lbtest.KernelCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="lbckpt-py-")
        cls.path = os.path.join(cls.dir, "a.lbc")
        cls.SETUP = f'use cnn\nmodel a = cnn(channels=[4, 8]) seed=1\nsave a "{cls.path}"\nx = 41'
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def file(self, name):
        return os.path.join(self.dir, name)

    def assert_same_tensors(self, t1, t2):
        self.assertEqual(list(t1), list(t2))
        b1, b2 = bits(t1), bits(t2)
        for k in b1:
            self.assertEqual(t1[k].shape, t2[k].shape, k)
            self.assertTrue(np.array_equal(b1[k], b2[k]), k)

    def test_file_read_by_numpy(self):
        h, ts = lbckpt.read(self.path)
        self.assertEqual(h["format"], "labbook-checkpoint")
        self.assertEqual(h["version"], 1)
        self.assertEqual(h["model"], "a")
        self.assertEqual(h["spec"], "cnn(channels=[4, 8])")
        self.assertEqual(h["input"], [1, 28, 28])
        self.assertEqual(h["output"], [10])
        self.assertEqual(h["seed"], 1)
        self.assertEqual(h["dtype"], "float32")
        self.assertEqual((h["plugins"][0]["name"], h["plugins"][0]["version"]), ("cnn", "0.1.0"))
        self.assertRegex(h["plugins"][0]["sha256"], r"^[0-9a-f]{64}$")
        msg_id = self.kc.kernel_info()
        info = lbtest.shell_reply(self.kc, msg_id)
        lbtest.iopub_until_idle(self.kc, msg_id)
        self.assertEqual(h["labbook"], info["content"]["implementation_version"])
        self.assertRegex(h["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        shapes = {k: list(v.shape) for k, v in ts.items()}
        self.assertEqual(shapes, {"0.weight": [4, 1, 3, 3], "0.bias": [4],
                                  "3.weight": [8, 4, 3, 3], "3.bias": [8],
                                  "7.weight": [10, 392], "7.bias": [10]})
        for v in ts.values():
            self.assertEqual(v.dtype, np.float32)
        # what the kernel counts, and PyTorch's default init bound for conv weights
        params = int(lbtest.value(self.kc, "a.params"))
        self.assertEqual(sum(v.size for v in ts.values()), params)
        bound = 1 / np.sqrt(1 * 3 * 3)
        self.assertLessEqual(float(np.abs(ts["0.weight"]).max()), bound)
        self.assertGreater(float(np.abs(ts["0.weight"]).std()), 0)

    def test_round_trips_are_bit_identical(self):
        _, t1 = lbckpt.read(self.path)
        h1, _ = lbckpt.read(self.path)
        self.run_ok(f'save a "{self.file("again.lbc")}"')
        h2, t2 = lbckpt.read(self.file("again.lbc"))
        self.assert_same_tensors(t1, t2)
        h1.pop("created"), h2.pop("created")
        self.assertEqual(h1, h2)
        # into a model of another seed, then saved again
        out = self.run_ok(f'model b = cnn(channels=[4, 8]) seed=2\nsave b "{self.file("b0.lbc")}"\n'
                          f'load b "{self.path}"\nsave b "{self.file("b.lbc")}"')
        self.assertIn("b = cnn(channels=[4, 8]): 8 layers, 4,266 parameters, [1, 28, 28] -> [10], "
                      f"loaded from {self.path}", lbtest.stream_text(out))
        _, t0 = lbckpt.read(self.file("b0.lbc"))
        self.assertFalse(np.array_equal(t0["0.weight"], t1["0.weight"]))
        _, tb = lbckpt.read(self.file("b.lbc"))
        self.assert_same_tensors(t1, tb)
        # rebuilt into an unbound name
        self.run_ok(f'load c "{self.path}"\nsave c "{self.file("c.lbc")}"')
        hc, tc = lbckpt.read(self.file("c.lbc"))
        self.assert_same_tensors(t1, tc)
        self.assertEqual((hc["model"], hc["spec"], hc["seed"]), ("c", "cnn(channels=[4, 8])", 1))
        self.assertEqual(lbtest.value(self.kc, "c.params"), "4266")

    def test_corrupted_file_refused_and_state_kept(self):
        data = bytearray(open(self.path, "rb").read())
        hlen = int.from_bytes(data[12:16], "little")
        _, before = lbckpt.read(self.path)
        for where in (16 + hlen // 2, 16 + hlen + 1000, len(data) - 5):
            bad = bytearray(data)
            bad[where] ^= 0x10
            with open(self.file("bad.lbc"), "wb") as f:
                f.write(bad)
            ename, evalue = self.run_error(f'load a "{self.file("bad.lbc")}"')
            self.assertEqual(ename, "CheckpointError")
            self.assertEqual(evalue, f"{self.file('bad.lbc')} is corrupted: its SHA-256 does not "
                                     "match (the file was changed or damaged after it was written)")
            with self.assertRaisesRegex(lbckpt.CheckpointError, "SHA-256 does not match"):
                lbckpt.read(self.file("bad.lbc"))
            ename, _ = self.run_error(f'load fresh "{self.file("bad.lbc")}"')
            self.assertEqual(ename, "CheckpointError")
        # the kernel kept its state, the model its weights, nothing was bound
        self.assertEqual(lbtest.value(self.kc, "x + 1"), "42")
        self.run_ok(f'save a "{self.file("after.lbc")}"')
        _, after = lbckpt.read(self.file("after.lbc"))
        self.assert_same_tensors(before, after)
        ename, evalue = self.run_error("fresh")
        self.assertEqual(ename, "NameError")

    def test_truncated_missing_foreign(self):
        data = open(self.path, "rb").read()
        with open(self.file("cut.lbc"), "wb") as f:
            f.write(data[:-100])
        ename, evalue = self.run_error(f'load a "{self.file("cut.lbc")}"')
        self.assertEqual(ename, "CheckpointError")
        self.assertIn("cut.lbc is truncated (", evalue)
        with self.assertRaises(lbckpt.CheckpointError):
            lbckpt.read(self.file("cut.lbc"))
        ename, evalue = self.run_error(f'load a "{self.file("nothing.lbc")}"')
        self.assertEqual((ename, evalue),
                         ("FileNotFoundError", f"cannot load {self.file('nothing.lbc')}: no such file"))
        with open(self.file("notes.txt"), "w") as f:
            f.write("not a checkpoint at all, just some words in a file\n")
        ename, evalue = self.run_error(f'load a "{self.file("notes.txt")}"')
        self.assertEqual(ename, "CheckpointError")
        self.assertIn("notes.txt is not a labbook checkpoint", evalue)
        self.assertEqual(lbtest.value(self.kc, "x + 1"), "42")

    def test_hostile_headers_refused_before_the_body(self):
        """Files whose first bytes claim more than the file or the memory holds: a valid header
        over a 1 TB (sparse) body, a 1 TB file that is not a checkpoint, a header length past the
        end. Each is refused at once with a message naming the file, nothing of the claimed size
        is allocated or read, and the kernel keeps its variables and the model its weights."""
        data = open(self.path, "rb").read()
        hlen = int.from_bytes(data[12:16], "little")
        header = json.loads(data[16:16 + hlen])
        _, before = lbckpt.read(self.path)
        floats = 1 << 38                      # 1 TB of float32
        header["tensors"] = [{"name": "w", "shape": [1 << 18, 1 << 20], "trainable": True,
                              "offset": 0, "numel": floats}]
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * ((8 - (16 + len(text)) % 8) % 8)
        prefix = data[:8] + (1).to_bytes(4, "little") + len(text).to_bytes(4, "little")
        huge = self.file("huge.lbc")

        def sparse(head, size):
            with open(huge, "wb") as f:
                f.write(head)
                f.truncate(size)

        sparse(prefix + text, 16 + len(text) + 4 * floats + 32)
        for name in ("a", "fresh"):
            ename, evalue = self.run_error(f'load {name} "{huge}"')
            self.assertEqual(ename, "CheckpointError")
            self.assertRegex(evalue, "^" + re.escape(huge) + r" is too big to load: its weights "
                             r"take 1\.0 TB, more than the .* of memory this machine has available$")
        sparse(b"PK\x03\x04 a disk image", 1 << 40)
        ename, evalue = self.run_error(f'load a "{huge}"')
        self.assertEqual((ename, evalue.split(" (")[0]),
                         ("CheckpointError", f"{huge} is not a labbook checkpoint"))
        sparse(data[:12] + (0xFFFFFFF0).to_bytes(4, "little") + data[16:], len(data))
        ename, evalue = self.run_error(f'load a "{huge}"')
        self.assertEqual(evalue, f"{huge} is truncated ({len(data)} bytes where its header "
                                 f"announces at least {16 + 0xFFFFFFF0 + 32})")
        os.unlink(huge)
        self.assertEqual(lbtest.value(self.kc, "x + 1"), "42")
        self.run_ok(f'save a "{self.file("after-huge.lbc")}"')
        _, after = lbckpt.read(self.file("after-huge.lbc"))
        self.assert_same_tensors(before, after)
        ename, _ = self.run_error("fresh")
        self.assertEqual(ename, "NameError")

    def test_mismatch_and_unwritable(self):
        ename, evalue = self.run_error(f'model w = cnn(channels=[8, 8]) seed=3\nload w "{self.path}"')
        self.assertEqual(ename, "CheckpointError")
        self.assertEqual(evalue, f"{self.path} does not fit model w: tensor 0.weight is "
                                 "[4, 1, 3, 3] in the file but [8, 1, 3, 3] in the model")
        target = os.path.join(self.dir, "missing-folder", "a.lbc")
        ename, evalue = self.run_error(f'save a "{target}"')
        self.assertEqual(ename, "IOError")
        self.assertIn(f"cannot write {target}", evalue)
        self.assertFalse(os.path.exists(os.path.dirname(target)))
        leftovers = [n for n in os.listdir(self.dir) if ".tmp" in n]
        self.assertEqual(leftovers, [])

    def test_stale_temporary_files_removed(self):
        """A save killed before its rename leaves PATH.tmpPID; the next write of PATH removes those
        whose process is gone, and keeps one a live process may still be writing."""
        target = self.file("stale.lbc")
        with open("/proc/sys/kernel/pid_max") as f:
            gone = int(f.read()) + 7  # no process can have this id
        stale, live = f"{target}.tmp{gone}", f"{target}.tmp{os.getpid()}"
        other = self.file("other.lbc") + f".tmp{gone}"
        for p in (stale, live, other):
            with open(p, "wb") as f:
                f.write(b"x" * 1000)
        self.run_ok(f'save a "{target}"')
        self.assertFalse(os.path.exists(stale))
        self.assertTrue(os.path.exists(live))      # this test's own process: alive
        self.assertTrue(os.path.exists(other))     # another file's: not this save's business
        self.assertTrue(os.path.exists(target))
        os.unlink(live)
        os.unlink(other)

    def test_help(self):
        reply, out = lbtest.execute(self.kc, "help load")
        self.assertEqual(reply["content"]["status"], "ok")
        text = "".join(p.get("data", {}).get("text/plain", "")
                       for p in reply["content"].get("payload", [])) + lbtest.stream_text(out)
        self.assertIn('load NAME "file"', text)
        self.assertIn("CheckpointError", text)

if __name__ == "__main__":
    unittest.main()
