"""jupyter_kernel_test's conformance suite against the labbook kernel, every attribute filled:
not one of its tests may be skipped (a skip counts as a failure here, both under
tests/run.py and under plain `python3 -m unittest`)."""

import sys
import unittest

import jupyter_kernel_test

import lbtest

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
