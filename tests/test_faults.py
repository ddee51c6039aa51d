"""What a full disk and a killed process cost (spec/language.md "What labbook promises"): a
save that cannot be written ends the cell with an IOError and leaves the earlier file whole,
no temporary file and every variable; a kernel killed with SIGKILL in the middle of saves leaves
the file either as it was or as the new save wrote it, never half written, and the temporary
file it was writing is removed by the next save of that path.

The full disk is a file size limit (RLIMIT_FSIZE, as `ulimit -f` or a quota would set): a write
past it fails with EFBIG as one past the end of a disk fails with ENOSPC, at whatever point of
the file, and needs no root or mount."""

import os
import resource
import shutil
import signal
import tempfile
import time
import unittest

import lbckpt
import lbtest
from lbtest import limit

SANITIZE = True      # tests/run.py runs this suite again against the ASan+UBSan kernel

LIMIT = 128 * 1024   # bytes a file may have in the "full disk" kernel


def same(t1, t2):
    return list(t1) == list(t2) and all((t1[k].view("u4") == t2[k].view("u4")).all() for k in t1)


class FullDiskTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="lbfaults-")
        cls.km, cls.kc = lbtest.start_kernel()
        # the limit is set on the running kernel (prlimit), as a quota would hit it
        pid = lbtest.kernel_pid(cls.km)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (LIMIT, resource.prlimit(pid, resource.RLIMIT_FSIZE)[1]))

    @classmethod
    def tearDownClass(cls):
        lbtest.stop_kernel(cls.km, cls.kc)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_ok(self, code):
        reply, outputs = lbtest.execute(self.kc, code, timeout=limit(120))
        c = reply["content"]
        self.assertEqual(c["status"], "ok", f"{code!r}: {c.get('ename')}: {c.get('evalue')}")
        return outputs

    def run_error(self, code):
        reply, _ = lbtest.execute(self.kc, code, timeout=limit(120))
        c = reply["content"]
        self.assertEqual(c["status"], "error", f"{code!r} did not fail")
        return c["ename"], c["evalue"]

    def test_save_past_the_limit(self):
        path = os.path.join(self.dir, "m.lbc")
        # 20,490 parameters (80 KB) fit; big's do not
        self.run_ok(f'use cnn\nx = 41\nmodel small = cnn(channels=[4, 8]) seed=1\nsave small "{path}"\n'
                    'model big = cnn(channels=[32, 64]) seed=2')
        before = lbckpt.read(path)[1]
        ename, evalue = self.run_error(f'save big "{path}"')
        self.assertEqual(ename, "IOError", evalue)
        self.assertIn(f"cannot write {path}", evalue)
        self.assertIn("too large", evalue.lower())
        self.assertTrue(same(before, lbckpt.read(path)[1]), "the earlier file changed")
        other = os.path.join(self.dir, "new.lbc")
        self.assertEqual(self.run_error(f'save big "{other}"')[0], "IOError")
        self.assertFalse(os.path.exists(other))
        self.assertEqual([n for n in os.listdir(self.dir) if ".tmp" in n], [])
        # the session goes on: variables, models, a save that fits
        self.assertEqual(lbtest.value(self.kc, "x + 1"), "42")
        self.assertGreater(int(lbtest.value(self.kc, "big.params")), LIMIT // 4)
        self.run_ok(f'save small "{other}"')
        self.assertTrue(same(before, lbckpt.read(other)[1]))


class KilledDuringSaveTests(unittest.TestCase):
    def test_kill_during_saves(self):
        d = tempfile.mkdtemp(prefix="lbkill-")
        try:
            path = os.path.join(d, "m.lbc")
            km, kc = lbtest.start_kernel()
            try:
                reply, _ = lbtest.execute(kc, f'use cnn\nmodel m = cnn(channels=[32, 64]) seed=1\nsave m "{path}"',
                                          timeout=limit(120))
                self.assertEqual(reply["content"]["status"], "ok", reply["content"])
                first = lbckpt.read(path)[1]
                # saves one after the other; killed as soon as one is half way (its temporary
                # file exists): an event, whatever the machine's speed
                kc.execute("\n".join([f'save m "{path}"'] * 200))
                deadline = time.monotonic() + limit(60)
                while not any(".tmp" in n for n in os.listdir(d)):
                    self.assertLess(time.monotonic(), deadline, "no save started")
                    time.sleep(0.001)
                pid = lbtest.kernel_pid(km)
                os.kill(pid, signal.SIGKILL)
                self.assertTrue(lbtest.wait_exit(pid, limit(10)))
            finally:
                try:
                    lbtest.stop_kernel(km, kc)
                except Exception:
                    pass
            # the file is whole: the earlier save's bytes (every save writes the same model)
            self.assertTrue(same(first, lbckpt.read(path)[1]))
            # a new kernel's save of that path removes what the killed one left behind
            km, kc = lbtest.start_kernel()
            try:
                reply, _ = lbtest.execute(kc, f'use cnn\nmodel m = cnn(channels=[4, 8]) seed=1\nsave m "{path}"',
                                          timeout=limit(120))
                self.assertEqual(reply["content"]["status"], "ok", reply["content"])
            finally:
                lbtest.stop_kernel(km, kc)
            self.assertEqual(sorted(os.listdir(d)), ["m.lbc"])
        finally:
            shutil.rmtree(d, ignore_errors=True)


class InterruptDuringSaveTests(unittest.TestCase):
    """An interrupt while a large checkpoint is written ends the save (the bytes go out 8 MB at a
    time, the interrupt looked at between them): the cell ends Interrupted, the file is whole
    (the earlier save's), no temporary file stays, the model is still there."""

    def test_interrupt_during_saves(self):
        d = tempfile.mkdtemp(prefix="lbintsave-")
        km, kc = lbtest.start_kernel()
        try:
            path = os.path.join(d, "big.lbc")
            # 26 million parameters: a 104 MB file
            reply, _ = lbtest.execute(kc, 'use layers\nmodel big = sequential(flatten(), linear(784, 32768), '
                                          f'linear(32768, 10)) seed=1\nsave big "{path}"', timeout=limit(300))
            self.assertEqual(reply["content"]["status"], "ok", reply["content"])
            msg_id = lbtest.start_blocking(kc, 'print "in"\n' + "\n".join([f'save big "{path}"'] * 100))
            t0 = time.monotonic()
            km.interrupt_kernel()
            reply = lbtest.shell_reply(kc, msg_id, timeout=limit(300))
            took = time.monotonic() - t0
            c = reply["content"]
            self.assertEqual((c["status"], c.get("ename")), ("error", "Interrupted"), c.get("evalue"))
            self.assertLess(took, limit(1), f"answered after {took:.2f} s")
            self.assertIn("save big", "\n".join(c["traceback"]))
            lbtest.iopub_until_idle(kc, msg_id)
            self.assertEqual(sorted(os.listdir(d)), ["big.lbc"])
            lbckpt.read(path)          # whole: its SHA-256 holds
            self.assertEqual(lbtest.value(kc, "big.params"), str(784 * 32768 + 32768 + 32768 * 10 + 10))
        finally:
            lbtest.stop_kernel(km, kc)
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
