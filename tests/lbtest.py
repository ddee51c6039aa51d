"""lbtest.py — helpers shared by the Python test suites (not a suite itself: only
tests/test_*.py are discovered).

The suites read their target from the environment that tests/run.py sets up:
  LABBOOK_KERNEL_NAME  kernelspec name (default "labbook"), resolved through JUPYTER_PATH
  LABBOOK_EXE          the labbook binary behind that kernelspec (default build/labbook)
  LABBOOK_VARIANT      "release" or "asan"
  LABBOOK_TEST_LOAD    how loaded the machine is (tests/run.py: its -j, the number of suites
                       run side by side); scales every limit (default 1)
Run alone (e.g. `/usr/bin/python3 -m unittest tests/test_protocol.py`), they use the
kernelspec "labbook" that Jupyter finds and build/labbook.

Time in the tests: no test fails because the machine is slower. Tests wait on events (a reply,
an output, a process exit), each wait bounded by limit(s): s seconds scaled by FACTOR (x3 for
the ASan kernel, times LABBOOK_TEST_LOAD). A limit only turns a hang into a failure; it is
never the thing a test checks. Latency is measured in bench/ (bench/kernel_latency), not here.
A cell that must still be running when the test looks (to interrupt it, or to show that
something is served meanwhile) blocks for good: `print "in"` then `sleep 600`, or `ask`.
"""

import os
import queue
import re
import time
import unittest

from jupyter_client.manager import KernelManager
from jupyter_client.utils import run_sync

ROOT = os.environ.get("LABBOOK_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL_NAME = os.environ.get("LABBOOK_KERNEL_NAME", "labbook")
EXE = os.environ.get("LABBOOK_EXE") or os.path.join(ROOT, "build", "labbook")
VARIANT = os.environ.get("LABBOOK_VARIANT", "release")
ASAN = VARIANT == "asan"

FACTOR = (3 if ASAN else 1) * float(os.environ.get("LABBOOK_TEST_LOAD", "1"))


def limit(s):
    """The bound for a wait of about s seconds on an idle machine: s * FACTOR (never a timing
    assertion)."""
    return s * FACTOR


TIMEOUT = limit(30)                 # bound for any single reply
BLOCKING_CELL = 'print "in"\nsleep 600'   # runs until interrupted; "in" says it got there
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(s):
    return ANSI_RE.sub("", s)


def start_kernel(**kw):
    """A running labbook kernel and a ready blocking client."""
    km = KernelManager(kernel_name=KERNEL_NAME)
    # shutdown_kernel() waits this long for the kernel to exit by itself (the ASan kernel's
    # leak check runs at exit) before it kills it
    km.shutdown_wait_time = limit(10)
    km.start_kernel(**kw)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=limit(60))
    except RuntimeError:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        raise
    drain(kc)
    return km, kc


def stop_kernel(km, kc):
    try:
        kc.stop_channels()
    finally:
        if km.has_kernel:
            km.shutdown_kernel()


def kernel_pid(km):
    return km.provisioner.process.pid


def drain(kc, channels=("shell", "iopub", "stdin", "control"), timeout=0.05):
    """Discards whatever is queued (leftovers of an earlier test). Not a bound on anything:
    a leftover that comes later is skipped by the waits below, which match msg_ids."""
    for name in channels:
        get = getattr(kc, f"get_{name}_msg")
        while True:
            try:
                get(timeout=timeout)
            except queue.Empty:
                break


def msg_ready(kc, name):
    """Whether a message is waiting on channel `name` ("shell", "stdin", ...)."""
    return bool(run_sync(getattr(kc, name + "_channel").msg_ready)())


def check_alive(kc):
    """Fails at once (instead of at a timeout) when the client's kernel process has died."""
    km = getattr(kc, "parent", None)
    if isinstance(km, KernelManager) and km.has_kernel and not km.is_alive():
        rc = km.provisioner.process.poll() if km.provisioner and km.provisioner.process else None
        raise AssertionError(f"the kernel process died (exit status {rc})")


def _wait(kc, get, what, msg_id, timeout, match=None):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            check_alive(kc)
            raise AssertionError(f"no {what} for {msg_id} within {timeout} s")
        try:
            msg = get(timeout=min(left, 0.5))
        except queue.Empty:
            check_alive(kc)
            continue
        if msg["parent_header"].get("msg_id") == msg_id and (match is None or match(msg)):
            return msg


def shell_reply(kc, msg_id, timeout=TIMEOUT):
    """The shell reply to msg_id (other replies are skipped)."""
    return _wait(kc, kc.get_shell_msg, "shell reply", msg_id, timeout)


def control_reply(kc, msg_id, timeout=TIMEOUT):
    return _wait(kc, kc.get_control_msg, "control reply", msg_id, timeout)


def iopub_until_idle(kc, msg_id, timeout=TIMEOUT):
    """All iopub messages whose parent is msg_id, up to and including its status idle."""
    deadline = time.monotonic() + timeout
    msgs = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            check_alive(kc)
            raise AssertionError(f"no status idle for {msg_id} within {timeout} s; got "
                                 f"{[m['msg_type'] for m in msgs]}")
        try:
            msg = kc.get_iopub_msg(timeout=min(left, 0.5))
        except queue.Empty:
            check_alive(kc)
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        msgs.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return msgs


def wait_started(kc, msg_id, timeout=TIMEOUT):
    """Waits for the execute_input of msg_id: the cell is then running (not just queued)."""
    return _wait(kc, kc.get_iopub_msg, "execute_input (the cell never started)", msg_id, timeout,
                 lambda m: m["msg_type"] == "execute_input")


def wait_output(kc, msg_id, text, timeout=TIMEOUT, name="stdout"):
    """Waits until the cell msg_id has printed `text` (on stream `name`): it is then running
    past that print. Returns the iopub messages of the cell received so far. Fails when the
    cell ends (status idle) without printing it."""
    deadline = time.monotonic() + timeout
    msgs, got = [], ""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            check_alive(kc)
            raise AssertionError(f"{msg_id} did not print {text!r} within {timeout} s; "
                                 f"{name} so far {got!r}")
        try:
            msg = kc.get_iopub_msg(timeout=min(left, 0.5))
        except queue.Empty:
            check_alive(kc)
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        msgs.append(msg)
        if msg["msg_type"] == "stream" and msg["content"]["name"] == name:
            got += msg["content"]["text"]
            if text in got:
                return msgs
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            raise AssertionError(f"{msg_id} ended without printing {text!r}; {name} {got!r}")


def start_blocking(kc, code=BLOCKING_CELL, marker="in\n", **kw):
    """Sends a cell that prints `marker` and then blocks (BLOCKING_CELL by default) and
    returns its msg_id once the marker has arrived: the cell is running, and an interrupt now
    is never lost (the kernel clears its interrupt flag before the cell starts)."""
    msg_id = kc.execute(code, **kw)
    wait_output(kc, msg_id, marker)
    return msg_id


def execute(kc, code, timeout=TIMEOUT, **kw):
    """Runs one cell; returns (reply, outputs) where outputs are the iopub messages of the cell
    other than status and execute_input."""
    msg_id = kc.execute(code, **kw)
    reply = shell_reply(kc, msg_id, timeout)
    msgs = iopub_until_idle(kc, msg_id, timeout)
    outputs = [m for m in msgs if m["msg_type"] not in ("status", "execute_input")]
    return reply, outputs


def result_text(outputs):
    """text/plain of the execute_result among outputs (None when there is none)."""
    for m in outputs:
        if m["msg_type"] == "execute_result":
            return m["content"]["data"]["text/plain"]
    return None


def stream_text(outputs, name="stdout"):
    return "".join(m["content"]["text"] for m in outputs
                   if m["msg_type"] == "stream" and m["content"]["name"] == name)


def value(kc, code, timeout=TIMEOUT):
    """text/plain of the value of `code` (asserting it ran without error)."""
    reply, outputs = execute(kc, code, timeout)
    c = reply["content"]
    if c["status"] != "ok":
        raise AssertionError(f"{code!r} failed: {c.get('ename')}: {c.get('evalue')}")
    r = result_text(outputs)
    if r is None:
        raise AssertionError(f"{code!r} gave no execute_result; outputs "
                             f"{[m['msg_type'] for m in outputs]}")
    return r


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def wait_exit(pid, timeout):
    """True when process pid is gone (or a zombie) within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


class KernelCase(unittest.TestCase):
    """A test case with one kernel for the whole class (started in setUpClass, stopped in
    tearDownClass) and the helpers every kernel suite uses. SETUP (optional) is a cell run
    once after the start; CELL_TIMEOUT bounds each cell."""

    SETUP = None
    CELL_TIMEOUT = TIMEOUT

    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_kernel()
        if cls.SETUP:
            reply, _ = execute(cls.kc, cls.SETUP, timeout=max(cls.CELL_TIMEOUT, limit(120)))
            if reply["content"]["status"] != "ok":
                stop_kernel(cls.km, cls.kc)
                raise AssertionError(f"set-up cell failed: {reply['content'].get('ename')}: "
                                     f"{reply['content'].get('evalue')}")

    @classmethod
    def tearDownClass(cls):
        stop_kernel(cls.km, cls.kc)

    def run_ok(self, code, timeout=None):
        """Runs a cell that must succeed; returns its outputs."""
        reply, outputs = execute(self.kc, code, timeout=timeout or self.CELL_TIMEOUT)
        c = reply["content"]
        self.assertEqual(c["status"], "ok", f"{code!r}: {c.get('ename')}: {c.get('evalue')}")
        return outputs

    def run_fail(self, code, timeout=None):
        """Runs a cell that must fail; returns the error reply's content (ename, evalue,
        traceback)."""
        reply, _ = execute(self.kc, code, timeout=timeout or self.CELL_TIMEOUT)
        c = reply["content"]
        self.assertEqual(c["status"], "error", f"{code!r} did not fail")
        return c

    def run_error(self, code, timeout=None):
        """(ename, evalue) of a cell that must fail."""
        c = self.run_fail(code, timeout)
        return c["ename"], c["evalue"]
