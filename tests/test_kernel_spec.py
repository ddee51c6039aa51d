"""jupyter_kernel_test's conformance suite against the labbook kernel, every attribute filled:
not one of its tests may be skipped (a skip counts as a failure here, both under
tests/run.py and under plain `python3 -m unittest`).

jupyter_kernel_test waits on the clock in places (15 s for a reply, 1 s for the busy status
and 0.1 s for each further iopub message of a cell after its reply, 60 s for the start): the
start and execute_helper are replaced here by the same checks with lbtest.limit() bounds, and
its TIMEOUT is set to lbtest.TIMEOUT."""

import queue
import sys
import time
import unittest

import jupyter_kernel_test
from jupyter_client.manager import start_new_kernel
from jupyter_kernel_test.msgspec_v5 import validate_message

import lbtest

jupyter_kernel_test.TIMEOUT = lbtest.TIMEOUT     # read at call time by its tests' bodies

NO_SKIPS = True      # tests/run.py counts any skip of this suite as a failure
SANITIZE = True      # tests/run.py runs this suite again against the ASan+UBSan kernel


class _NoSkipResult:
    """Wraps a unittest result so that a skip (of a test or of a sub-test) is a failure."""

    def __init__(self, result):
        self._result = result

    def __getattr__(self, name):
        return getattr(self._result, name)

    def addSkip(self, test, reason):
        try:
            raise AssertionError(f"skipped ({reason or 'no reason'}): this suite forbids skips")
        except AssertionError:
            self._result.addFailure(test, sys.exc_info())


class LabbookKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = lbtest.KERNEL_NAME

    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name=cls.kernel_name,
                                          startup_timeout=lbtest.limit(60))
        cls.km.shutdown_wait_time = lbtest.limit(10)   # as lbtest.start_kernel's

    def get_non_kernel_info_reply(self, timeout=None):
        return super().get_non_kernel_info_reply(timeout=timeout or lbtest.TIMEOUT)

    def history_helper(self, execute_first, timeout=None, **histargs):
        return super().history_helper(execute_first, timeout=timeout or lbtest.TIMEOUT, **histargs)

    def iopub_of(self, msg_id, deadline):
        """The next iopub message of msg_id (others are leftovers of earlier requests)."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no status idle for {msg_id} within {lbtest.TIMEOUT:g} s")
            try:
                msg = self.kc.get_iopub_msg(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    def execute_helper(self, code, timeout=None, silent=False, store_history=True,
                       stop_on_error=True):
        """jupyter_kernel_test's execute_helper with the same checks, each wait bounded by
        lbtest.TIMEOUT: the reply validates; on iopub the cell's messages are busy, then
        execute_input with the code (unless silent), outputs (returned), then idle."""
        msg_id = self.kc.execute(code=code, silent=silent, store_history=store_history,
                                 stop_on_error=stop_on_error)
        reply = self.get_non_kernel_info_reply(timeout=timeout)
        validate_message(reply, "execute_reply", msg_id)
        deadline = time.monotonic() + lbtest.TIMEOUT
        busy_msg = self.iopub_of(msg_id, deadline)
        validate_message(busy_msg, "status", msg_id)
        self.assertEqual(busy_msg["content"]["execution_state"], "busy")
        output_msgs = []
        while True:
            msg = self.iopub_of(msg_id, deadline)
            validate_message(msg, msg["msg_type"], msg_id)
            if msg["msg_type"] == "status":
                self.assertEqual(msg["content"]["execution_state"], "idle")
                break
            elif msg["msg_type"] == "execute_input":
                self.assertEqual(msg["content"]["code"], code)
                continue
            output_msgs.append(msg)
        return reply, output_msgs

    language_name = "labbook"
    file_extension = ".lab"

    code_hello_world = 'print "hello, world"'
    code_stderr = 'warn "careful"'

    # Each set is the complete list of names with that prefix (commands and built-ins).
    completion_samples = [
        {"text": "pri", "matches": ["print"]},
        {"text": "help wa", "matches": ["warn"]},
        {"text": "x = 1\nver", "matches": ["version"]},
    ]

    complete_code_samples = [
        'print "hello"',
        "x = 1",
        "m = {\"a\": 1, \"b\": [1, 2]}",
        "xs = [1,\n  2]",
        "# only a comment",
        "",
    ]
    incomplete_code_samples = [
        "m = f(",
        'print "a" \\',
        "xs = [1, 2,",
        "m = {\"a\":",
    ]
    invalid_code_samples = [
        "x = = 1",
        "print )",
        "xs = [1, 2)",
    ]

    code_page_something = "help print"
    code_generate_error = 'fail "boom"'

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": "x = 6 * 7\nx", "result": "42"},
        {"code": "1 + 2 * 3", "result": "7"},
        {"code": "[1, 2, 3]", "result": "[1, 2, 3]"},
        {"code": "true", "result": "true"},
    ]
    code_display_data = [
        {"code": 'table [["lr", "acc"], [0.1, 0.77]]', "mime": "text/html"},
        {"code": 'table [["epoch", "loss"], [1, 0.52], [2, 0.31]]', "mime": "text/markdown"},
        {"code": 'table [["model"], ["mlp"]]', "mime": "text/plain"},
    ]

    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "6 ?*"      # matches "6 * 7" only among the cells above

    code_inspect_sample = "print"
    code_clear_output = "clear"

    def run(self, result=None):
        if result is None:
            return super().run(result)
        return super().run(_NoSkipResult(result))


if __name__ == "__main__":
    unittest.main()
