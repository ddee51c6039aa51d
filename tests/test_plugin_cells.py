"""%%plugin cells through the real kernel (jupyter_client): a cell of C compiled with the system
compiler, checked in a forked process (crash, hang, gradients against finite differences) and
loaded, replacing an earlier version; compiler errors at the cell's line numbers; a crashing,
a hanging and a wrongly differentiated plugin refused with the kernel alive and every variable
intact; and the documented example plugins/examples/rmsnorm.c built out of tree with its one
command (pkg-config against the build tree) and loaded with `use "path.so"`.

SANITIZE: the suite runs again against the ASan+UBSan kernel. The compiler is the system's
(not instrumented) and the check runs in a child forked from the ASan kernel, whose crash
signals are reset to the default action first (a plugin's segfault is reported by the parent,
not by a sanitizer). Only the check's host ops run instrumented; the whole suite stays within
a few seconds there too.

The hanging plugin loops for ever, so its `timeout=` can be generous (limit(5)) without making
the outcome any less certain: the check gives each stage (loading, building, forward and
backward) the whole timeout, so the stage named is the one that hangs, however slowly the
loading and building went."""

import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import lbtest
from lbtest import limit

SANITIZE = True      # tests/run.py runs this suite again against the ASan+UBSan kernel


def build_dir():
    d = os.path.dirname(os.path.abspath(lbtest.EXE))
    return os.path.dirname(d) if os.path.basename(d) == "asan" else d


PLUGINS = os.path.join(build_dir(), "plugins")
EXAMPLES = os.path.join(lbtest.ROOT, "plugins", "examples")

SWISH_V1 = r"""%%plugin swish
/* swish(x) = x * sigmoid(x), composed of host ops: the tape differentiates it */
static int build(const lbp_host *h, lbp_layer *L) { (void)h; (void)L; return 0; }

static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    (void)L;
    return h->mul(g, x, h->sigmoid(g, x));
}

static const lbp_type swish = {.size = sizeof(lbp_type), .name = "swish",
    .kind = LBP_KIND_LAYER, .summary = "swish version one", .build = build, .forward = forward};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err; (void)errlen;
    return h->register_type(p, &swish);
}
"""

SWISH_V2 = r"""%%plugin swish
/* version two: swish(x) = x * sigmoid(beta x) */
static const lbp_param params[] = {
    {"beta", LBP_T_NUM, "1", LBP_LO | LBP_LO_OPEN, 0, 0, NULL, "slope of the sigmoid"},
    {0}};

static int build(const lbp_host *h, lbp_layer *L) { (void)h; (void)L; return 0; }

static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    float beta = (float)h->arg_num(h->args(L), "beta");
    return h->mul(g, x, h->sigmoid(g, h->mul_scalar(g, x, beta)));
}

static const lbp_type swish = {.size = sizeof(lbp_type), .name = "swish",
    .kind = LBP_KIND_LAYER, .summary = "swish version two", .params = params,
    .build = build, .forward = forward};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err; (void)errlen;
    return h->register_type(p, &swish);
}
"""

# line 5 of the cell (the %%plugin line is line 1) uses an undeclared name
COMPILE_ERROR = r"""%%plugin broken
static int build(const lbp_host *h, lbp_layer *L)
{
    (void)h; (void)L;
    return no_such_variable;
}
int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)h; (void)p; (void)err; (void)errlen;
    return 0;
}
"""

CRASH = r"""%%plugin crashy
static int build(const lbp_host *h, lbp_layer *L) { (void)h; (void)L; return 0; }

static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    (void)g;
    if (h->training(L))          /* the build's dry run is in evaluation mode */
        *(volatile int *)0 = 1;  /* segfault */
    return x;
}

static const lbp_type t = {.size = sizeof(lbp_type), .name = "crashy", .kind = LBP_KIND_LAYER,
    .summary = "crashes in forward", .build = build, .forward = forward};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err; (void)errlen;
    return h->register_type(p, &t);
}
"""

# crashes only at batch 3: the build's dry run (batch 1) and the gradient check (batch 2) pass,
# as they did before the check ran other batch sizes (issue 11: such a plugin then took the
# kernel down in `train`)
CRASH_AT_3 = CRASH.replace("%%plugin crashy", "%%plugin oddcrash") \
                  .replace("if (h->training(L))          /* the build's dry run is in evaluation mode */",
                           "if (h->dim(x, 0) == 3)") \
                  .replace('"crashy"', '"oddcrash"')

# crashes only on an input that is not square: the check's odd, unequal shape finds it
CRASH_NOT_SQUARE = CRASH.replace("%%plugin crashy", "%%plugin notsquare") \
                        .replace("if (h->training(L))          /* the build's dry run is in evaluation mode */",
                                 "if (h->ndim(x) == 4 && h->dim(x, 2) != h->dim(x, 3))") \
                        .replace('"crashy"', '"notsquare"')

HANG_TIMEOUT = "%g" % limit(5)
HANG = CRASH.replace("%%plugin crashy", "%%plugin hangy timeout=" + HANG_TIMEOUT) \
            .replace("*(volatile int *)0 = 1;  /* segfault */", "for (volatile int i = 1; i;) {}") \
            .replace('"crashy"', '"hangy"')

# a custom op whose backward forgets the x * s * (1 - s) term of swish's derivative
WRONG_BACKWARD = r"""%%plugin badswish
#include <math.h>

static int64_t numel(const lbp_opcall *c)
{
    int64_t n = 1;
    for (int d = 0; d < c->in_ndim[0]; d++)
        n *= c->in_shape[0][d];
    return n;
}

static void fwd(const lbp_opcall *c)
{
    for (int64_t i = 0; i < numel(c); i++)
        c->out[i] = c->in[0][i] / (1.0f + expf(-c->in[0][i]));
}

static void bwd(const lbp_opcall *c, const float *gout, float *const *gin)
{
    if (!gin[0])
        return;
    for (int64_t i = 0; i < numel(c); i++)
        gin[0][i] += gout[i] / (1.0f + expf(-c->in[0][i]));   /* wrong: only sigmoid(x) */
}

static const lbp_op op = {sizeof(lbp_op), "badswish_op", "swish with a wrong backward", 1, fwd, bwd};

static int build(const lbp_host *h, lbp_layer *L) { (void)h; (void)L; return 0; }

static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    (void)L;
    int64_t shape[LBP_MAXDIM];
    for (int d = 0; d < h->ndim(x); d++)
        shape[d] = h->dim(x, d);
    return h->op(g, &op, &x, 1, h->ndim(x), shape, NULL, 0);
}

static const lbp_type t = {.size = sizeof(lbp_type), .name = "badswish", .kind = LBP_KIND_LAYER,
    .summary = "swish, wrongly differentiated", .build = build, .forward = forward};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err; (void)errlen;
    if (h->register_op(p, &op) < 0)
        return -1;
    return h->register_type(p, &t);
}
"""


def proc_stat(pid):
    """(command name, parent pid, state) of a process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    state, ppid = text[text.rindex(")") + 2:].split()[:2]
    return comm, int(ppid), state


def check_children(pid):
    """The live check processes of kernel pid: its children named "labbook-check" (a fork of
    the kernel that renames itself; the compiler's processes carry the kernel's name only for
    the moment between posix_spawn's clone and exec)."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[1] == pid and st[0] == "labbook-check" and st[2] not in ("Z", "X"):
                found.append(int(d))
    return found


def wait_for(probe, timeout, what):
    """probe()'s first true value, polled until timeout (a bound on a wait, not a timing)."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:g} s")
        time.sleep(0.05)


class PluginCellTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = dict(os.environ, LABBOOK_PLUGIN_PATH=PLUGINS)
        cls.km, cls.kc = lbtest.start_kernel(env=env)
        cls.timeout = limit(30)

    @classmethod
    def tearDownClass(cls):
        lbtest.stop_kernel(cls.km, cls.kc)

    def execute(self, code):
        return lbtest.execute(self.kc, code, timeout=self.timeout)

    def run_ok(self, code):
        reply, outputs = self.execute(code)
        c = reply["content"]
        self.assertEqual(c["status"], "ok", f"{code[:40]!r}: {c.get('ename')}: {c.get('evalue')}")
        return outputs

    def run_err(self, code, ename, *needles):
        reply, outputs = self.execute(code)
        c = reply["content"]
        self.assertEqual(c["status"], "error", f"{code[:40]!r} did not fail")
        self.assertEqual(c["ename"], ename, c.get("evalue"))
        for n in needles:
            self.assertIn(n, c["evalue"])
        errs = [m for m in outputs if m["msg_type"] == "error"]
        self.assertEqual(len(errs), 1)
        return c

    def num(self, code):
        return float(lbtest.value(self.kc, code))

    def ensure_swish(self):
        """swish loaded and `m` built from it (when a test runs alone, -k)."""
        if not re.search(r"\bswish\b", self.plugins_text()):
            self.run_ok(SWISH_V1)
        reply, _ = self.execute("m.params")
        if reply["content"]["status"] != "ok":
            self.run_ok("use layers\nmodel m = sequential(linear(4, 8), swish(), linear(8, 2)) seed=1")

    def plugins_text(self):
        outputs = self.run_ok("plugins")
        disp = [m for m in outputs if m["msg_type"] == "display_data"]
        return disp[0]["content"]["data"]["text/plain"] if disp else ""

    # ---- a cell that compiles, passes the check and is usable; then replaced ---------------

    def test_01_compile_check_load_use(self):
        self.run_ok("keep = 41")
        out = lbtest.stream_text(self.run_ok(SWISH_V1))
        self.assertIn("checked swish: gradients of 1 type match finite differences", out)
        self.assertIn("loaded swish cell-", out)
        self.run_ok("use layers\nmodel m = sequential(linear(4, 8), swish(), linear(8, 2)) seed=1")
        outputs = self.run_ok("params m")
        disp = [m for m in outputs if m["msg_type"] == "display_data"]
        self.assertEqual(len(disp), 1)
        plain = disp[0]["content"]["data"]["text/plain"]
        self.assertIn("swish()", plain)
        self.assertIn("58", plain)              # 4*8 + 8 + 8*2 + 2
        self.assertEqual(self.num("m.params"), 58)
        self.assertEqual(lbtest.value(self.kc, "m.output"), "[2]")
        self.assertIn("swish", self.plugins_text())
        self.assertEqual(self.num("keep + 1"), 42)

    def test_02_replaced_by_a_second_version(self):
        self.ensure_swish()
        self.run_err("s = swish(beta=2)", "TypeError", "unknown parameter 'beta' for swish")
        out = lbtest.stream_text(self.run_ok(SWISH_V2))
        self.assertIn("checked swish", out)
        self.assertIn("loaded swish cell-", out)
        self.run_ok("model m2 = sequential(linear(4, 8), swish(beta=2), linear(8, 2))")
        self.assertEqual(self.num("m2.params"), 58)
        reply, _ = self.execute("help swish")
        pages = [p for p in reply["content"].get("payload", []) if p.get("source") == "page"]
        self.assertIn("swish version two", pages[0]["data"]["text/plain"])
        # the model built from version one keeps working (it holds version one's library)
        self.assertEqual(self.num("m.params"), 58)
        self.assertEqual(lbtest.value(self.kc, "m.output"), "[2]")

    # ---- errors: the kernel survives with its state ---------------------------------------

    def test_03_compile_error_points_at_the_cell_line(self):
        self.run_ok("keep = 41")
        c = self.run_err(COMPILE_ERROR, "CompileError", "plugin broken does not compile",
                         "cell:5:", "no_such_variable")
        tb = lbtest.strip_ansi("\n".join(c["traceback"]))
        self.assertIn("at line 5, column 12", tb)
        self.assertIn("return no_such_variable;", tb)
        self.assertEqual(self.num("keep + 1"), 42)

    def test_04_segfault_in_forward(self):
        self.ensure_swish()
        self.run_ok("keep = 41\nkeep_list = [1, 2, 3]")
        self.run_err(CRASH, "PluginError", "plugin crashy: type crashy crashed (Segmentation fault)",
                     "forward and backward", "the plugin was not loaded")
        lbtest.check_alive(self.kc)
        self.assertEqual(self.num("keep + 1"), 42)
        self.assertEqual(self.num("len(keep_list)"), 3)
        self.assertEqual(self.num("m.params"), 58)
        self.run_err("c = crashy()", "NameError", "crashy")
        self.assertNotIn("crashy", self.plugins_text())

    def test_04b_crash_at_another_batch_size(self):
        """The check runs each type at batch 1, 3 and 64 too, in training and evaluation mode."""
        self.run_ok("keep = 41")
        self.run_err(CRASH_AT_3, "PluginError", "plugin oddcrash: type oddcrash crashed (Segmentation fault)",
                     "forward and backward at batch 3, input [1, 28, 28] (training mode)", "the plugin was not loaded")
        self.assertEqual(self.num("keep + 1"), 42)
        self.run_err("c = oddcrash()", "NameError", "oddcrash")

    def test_04c_crash_on_another_shape(self):
        """The check builds each type again on an input of odd, unequal sizes."""
        self.run_ok("keep = 41")
        self.run_err(CRASH_NOT_SQUARE, "PluginError", "plugin notsquare: type notsquare crashed (Segmentation fault)",
                     "building notsquare() seed=1 input=[1, 29, 31]", "the plugin was not loaded")
        self.assertEqual(self.num("keep + 1"), 42)

    def test_05_wrong_backward(self):
        self.run_ok("keep = 41")
        c = self.run_err(WRONG_BACKWARD, "GradientCheckError",
                         "plugin badswish: type badswish: the gradient of the input does not match "
                         "finite differences", "worst relative difference")
        m = re.search(r"worst relative difference ([0-9.e+-]+)", c["evalue"])
        self.assertTrue(m and float(m.group(1)) > 0.05, c["evalue"])
        self.run_err("b = badswish()", "NameError", "badswish")
        self.assertEqual(self.num("keep + 1"), 42)

    def test_06_hang_is_killed(self):
        self.run_ok("keep = 41")
        self.run_err(HANG, "PluginError", "plugin hangy: type hangy did not finish forward and "
                     f"backward at batch 2, input [1, 28, 28] (training mode) within {HANG_TIMEOUT} s")
        self.assertEqual(self.num("keep + 1"), 42)

    def test_06b_interrupt_during_the_check(self):
        self.run_ok("keep = 41")
        code = HANG.replace("timeout=" + HANG_TIMEOUT, "timeout=600").replace("hangy", "hangi")
        pid = lbtest.kernel_pid(self.km)
        msg_id = self.kc.execute(code)
        # the check runs in a child forked from the kernel (same command name, unlike the
        # compiler's processes): interrupt once it is there, looping for its 600 s
        child = wait_for(lambda: check_children(pid), limit(60), "the check process to start")
        self.km.interrupt_kernel()
        reply = lbtest.shell_reply(self.kc, msg_id, timeout=self.timeout)
        lbtest.iopub_until_idle(self.kc, msg_id, timeout=self.timeout)
        c = reply["content"]
        self.assertEqual(c["status"], "error")
        self.assertEqual(c["ename"], "Interrupted", c.get("evalue"))
        self.assertIn("while checking plugin hangi", c["evalue"])
        self.assertNotIn(child[0], check_children(pid), "the check process was left running")
        self.assertEqual(self.num("keep + 1"), 42)
        self.run_err("h = hangi()", "NameError", "hangi")

    def test_07_is_complete_and_no_labbook_completion(self):
        code = "%%plugin half\nstatic int f(void) {\n"      # unbalanced braces: still complete
        msg_id = self.kc.is_complete(code)
        self.assertEqual(lbtest.shell_reply(self.kc, msg_id)["content"]["status"], "complete")
        msg_id = self.kc.complete(code + "pri", len(code) + 3)
        self.assertEqual(lbtest.shell_reply(self.kc, msg_id)["content"]["matches"], [])
        self.run_err("%%plugin 3x\nint x;", "SyntaxError", "%%plugin needs the plugin's name")
        self.run_err("%%plugin p tiemout=3\nint x;", "SyntaxError", "unknown option 'tiemout'")

    # ---- the documented example, built out of tree --------------------------------------------

    def test_08_example_built_out_of_tree(self):
        with open(os.path.join(EXAMPLES, "README.md")) as f:
            readme = f.read()
        cmd = next(l for l in readme.splitlines() if l.startswith("cc -shared"))
        self.assertIn("$(pkg-config --cflags labbook)", cmd)
        tmp = tempfile.mkdtemp(prefix="labbook-example-")
        try:
            shutil.copy(os.path.join(EXAMPLES, "rmsnorm.c"), tmp)
            # the build tree's labbook-uninstalled.pc: the header of this source tree
            env = dict(os.environ, PKG_CONFIG_PATH=build_dir())
            flags = subprocess.run(["pkg-config", "--cflags", "labbook"], env=env, check=True,
                                   stdout=subprocess.PIPE, text=True).stdout
            self.assertIn(os.path.join(lbtest.ROOT, "plugins"), flags)
            p = subprocess.run(["sh", "-c", cmd], cwd=tmp, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=limit(120))
            self.assertEqual(p.returncode, 0, p.stdout)
            so = os.path.join(tmp, "rmsnorm.so")
            out = lbtest.stream_text(self.run_ok(f'use layers\nuse "{so}"'))
            self.assertIn("loaded rmsnorm 1.0.0: rmsnorm", out)
            self.run_ok("model r = sequential(linear(16, 32), rmsnorm(32), relu(), linear(32, 4))")
            self.assertEqual(self.num("r.params"), 16 * 32 + 32 + 32 + 32 * 4 + 4)
            outputs = self.run_ok("params r")
            disp = [m for m in outputs if m["msg_type"] == "display_data"]
            self.assertIn("rmsnorm(32)", disp[0]["content"]["data"]["text/plain"])
            self.run_err("model z = rmsnorm(8) input=[5]", "ModelError",
                         "expects a last dimension of 8, got 5")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
