"""test_blas.py — labbook chooses a good OpenBLAS kernel ("core") itself (ops/blas.c).

Debian's OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to its generic
"Prescott" core. This machine may not be such a Xeon, so the suite makes it look like one: the
LD_PRELOAD shim build/testshims/fake_blas_core.so (tests/shims/fake_blas_core.c) answers
"Prescott" to openblas_get_corename() while OPENBLAS_CORETYPE is unset. Then:

  * every entry point (the `labbook` binary: `version`, `labbook run`, the Jupyter kernel; a
    unit-test binary; the parity driver) switches to the best core this CPU supports (read from
    /proc/cpuinfo's flags here, from the CPU itself in labbook), and says so;
  * the kernel keeps its pid through the switch (it re-executes itself), so Jupyter's interrupts
    still reach it;
  * OPENBLAS_CORETYPE set by the user wins, and LABBOOK_BLAS_CORE=off keeps OpenBLAS's choice;
  * a run record holds the library, its version, the core, how it was chosen and the CPU.
Without the shim, `version` names the library, the core in use and the CPU, and the core in use
is as good as the CPU allows.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402

ROOT = lbtest.ROOT
EXE = os.path.abspath(lbtest.EXE)
BUILD = os.path.dirname(EXE) if os.path.basename(os.path.dirname(EXE)) != "asan" else \
    os.path.dirname(os.path.dirname(EXE))
SHIM = os.path.join(BUILD, "testshims", "fake_blas_core.so")
NO_SKIPS = True

LEVELS = {"SkylakeX": 3, "Cooperlake": 3, "SapphireRapids": 3, "Haswell": 2, "Zen": 2, "Excavator": 2,
          "Sandybridge": 1, "Bulldozer": 1, "Piledriver": 1, "Steamroller": 1}


def cpu():
    """(vendor, model name, flags) of the first processor in /proc/cpuinfo."""
    info = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if not line.strip():
                break
            k, _, v = line.partition(":")
            info[k.strip()] = v.strip()
    return info.get("vendor_id", ""), info.get("model name", ""), set(info.get("flags", "").split())


def cpu_level():
    _, _, flags = cpu()
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return 3
    if {"avx2", "fma"} <= flags:
        return 2
    return 1 if "avx" in flags else 0


def expected_core():
    """The core labbook must switch a "Prescott" fallback to on this CPU (None: keep it)."""
    vendor = cpu()[0]
    return {3: "SkylakeX", 2: "Zen" if vendor == "AuthenticAMD" else "Haswell", 1: "Sandybridge"}.get(cpu_level())


def env(**kw):
    e = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "LABBOOK_BLAS_CORE", "LABBOOK_BLAS_DETECTED", "LD_PRELOAD"):
        e.pop(k, None)
    e.update({k: v for k, v in kw.items() if v is not None})
    return e


def faked(**kw):
    return env(LD_PRELOAD=SHIM, **kw)


def blas_line(text):
    m = re.search(r"^blas\s+(core .*)$", text, re.M)
    return m.group(1) if m else None


def chosen():
    want = expected_core()
    if want is None:
        return "core Prescott (detected by OpenBLAS)"
    return "core %s (chosen by labbook: OpenBLAS detected Prescott)" % want


@unittest.skipIf(lbtest.ASAN, "LD_PRELOAD shims cannot come before the ASan runtime")
class BlasCore(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.access(EXE, os.X_OK), "%s is not built" % EXE)
        self.assertTrue(os.path.exists(SHIM), "%s is not built (make build)" % SHIM)

    def version(self, e):
        p = subprocess.run([EXE, "version"], env=e, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_version_names_library_core_and_cpu(self):
        out = self.version(env())
        m = re.search(r"^openblas (\d+\.\d+\.\d+) \((/\S+)\)$", out, re.M)
        self.assertTrue(m, out)
        self.assertTrue(os.path.exists(m.group(2)), out)
        line = blas_line(out)
        self.assertTrue(line and line.startswith("core "), out)
        core = line.split()[1]
        # whoever chose it, the core in use is as good as this CPU allows (when the library has one)
        self.assertGreaterEqual(LEVELS.get(core, 0), min(cpu_level(), 3), out)
        model = cpu()[1]
        self.assertIn("cpu %s" % model, out)

    def test_fallback_core_is_replaced(self):
        self.assertEqual(blas_line(self.version(faked())), chosen())

    def test_off_keeps_openblas_choice(self):
        self.assertEqual(blas_line(self.version(faked(LABBOOK_BLAS_CORE="off"))),
                         "core Prescott (detected by OpenBLAS)")

    def test_user_coretype_wins(self):
        self.assertEqual(blas_line(self.version(faked(OPENBLAS_CORETYPE="Haswell"))), "core Haswell (OPENBLAS_CORETYPE)")
        self.assertEqual(blas_line(self.version(env(OPENBLAS_CORETYPE="Prescott"))),
                         "core Prescott (OPENBLAS_CORETYPE)")

    def test_other_binaries_switch_too(self):
        """A unit-test binary and the parity driver link ops/ and switch like labbook."""
        unit = os.path.join(BUILD, "tests", "test_ops_core")
        p = subprocess.run([unit], env=faked(), capture_output=True, text=True, timeout=300, cwd=ROOT)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("blas: " + chosen() + "\n", p.stdout)
        driver = os.path.join(BUILD, "parity", "ops_parity_driver")
        p = subprocess.run([driver, "linear", "/nonexistent.in", "/nonexistent.out"], env=faked(),
                           capture_output=True, text=True, timeout=60)
        self.assertIn("blas: " + chosen() + "\n", p.stderr)

    def test_run_script_and_record(self):
        with tempfile.TemporaryDirectory(prefix="lb_blas_") as tmp:
            script = os.path.join(tmp, "s.lab")
            with open(script, "w") as f:
                f.write("version\nuse mlp\n"
                        "f = fashion_mnist(valid=200, train=300, test=100, seed=0)\n"
                        "model m = mlp(hidden=[16]) seed=1\n"
                        "r = train m on f epochs=1 batch=50 live=false curves=false\n"
                        'export r "%s/r.json"\n' % tmp)
            p = subprocess.run([EXE, "run", script, "--out", os.path.join(tmp, "out")], env=faked(), cwd=tmp,
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(blas_line(p.stdout), chosen())
            with open(os.path.join(tmp, "r.json")) as f:
                rec = json.load(f)["runs"][0]
        b = rec["blas"]
        want = expected_core() or "Prescott"
        self.assertEqual(b["core"], want)
        self.assertEqual(b["detected"], "Prescott")
        self.assertEqual(b["chosen_by"], "labbook" if expected_core() else "openblas")
        self.assertRegex(b["version"], r"^\d+\.\d+\.\d+$")
        self.assertTrue(os.path.exists(b["library"]))
        self.assertEqual(b["cpu"], cpu()[1])
        self.assertIn("core %s" % want, rec["reproducible"])

    def test_kernel_switches_and_keeps_its_pid(self):
        km, kc = lbtest.start_kernel(env=faked())
        try:
            reply, outputs = lbtest.execute(kc, "version")
            self.assertEqual(reply["content"]["status"], "ok")
            text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
            self.assertEqual(blas_line(text), chosen())
            # the process Jupyter started is the one that re-executed itself (same pid) ...
            pid = lbtest.kernel_pid(km)
            with open("/proc/%d/environ" % pid, "rb") as f:
                environ = f.read().split(b"\0")
            if expected_core():
                self.assertIn(b"LABBOOK_BLAS_DETECTED=Prescott", environ)
                self.assertIn(("OPENBLAS_CORETYPE=%s" % expected_core()).encode(), environ)
            # ... so an interrupt (SIGINT to that pid) stops a cell and the kernel keeps its values
            # (the cell prints "in" and then sleeps 600 s: a reply at all is the interrupt's)
            lbtest.execute(kc, "x = 41")
            msg_id = lbtest.start_blocking(kc)
            km.interrupt_kernel()
            reply = lbtest.shell_reply(kc, msg_id, timeout=lbtest.limit(30))
            self.assertEqual(reply["content"]["status"], "error")
            self.assertEqual(reply["content"]["ename"], "Interrupted")
            self.assertEqual(lbtest.value(kc, "x + 1"), "42")
        finally:
            lbtest.stop_kernel(km, kc)


if __name__ == "__main__":
    unittest.main()
