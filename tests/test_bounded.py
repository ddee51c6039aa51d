"""Bounded work for every value (issue 11, item 2), through the real kernel over ZeroMQ.

`c = [[[0] * 1000] * 1000] * 1000` takes a few thousand list slots but stands for 10^9
numbers; `[[0] * 10000] * 10005` for 10^8. Every command that shows, compares or converts such
a value must do work bounded by what it shows (spec/language.md §7, Limits), not by what the
value stands for: each of vars, the bare value, print, str(), expect, help, table,
user_expressions, inspection and completion here must answer within a limit far below the
minutes the whole walk would take, with output of a bounded size.

And an interrupt ends any command within a second, its variables kept: cells that run for
minutes when left alone (a long run of statements, each a walk over 10^6 to 10^7 items that
polls for interrupts inside) are interrupted, and the time from the interrupt to the
execute_reply is held to limit(1) — the work is long enough that only the interrupt can end
the cell, and limit() scales the bound with the machine's load and the ASan build.
"""

import json
import time
import unittest

import lbtest
from lbtest import (KernelCase, control_reply, execute, iopub_until_idle, limit, result_text,
                    shell_reply, start_blocking, stream_text, value)

SANITIZE = True      # tests/run.py runs this suite again against the ASan+UBSan kernel

SHOW_MAX = 1_000_000          # characters of one value that print and a result show
SHARED = "a = [0] * 1000\nb = [a] * 1000\nc = [b] * 1000\nw = [[0] * 10000] * 10005"
PROMPT = 10                   # s (scaled): each command here takes well under a second


def size_of(msgs):
    """Bytes of the JSON content of messages: what the kernel had to build and send."""
    return sum(len(json.dumps(m["content"])) for m in msgs)


class BoundedValueTests(KernelCase):
    SETUP = SHARED

    def run_bounded(self, code, max_bytes):
        """Runs a cell that must end within limit(PROMPT) with at most max_bytes of output
        (every iopub message of the cell and the reply); returns (reply content, outputs)."""
        t0 = time.monotonic()
        reply, outputs = execute(self.kc, code, timeout=limit(PROMPT))
        took = time.monotonic() - t0
        self.assertLess(took, limit(PROMPT), f"{code!r} took {took:.1f} s")
        size = size_of(outputs) + len(json.dumps(reply["content"]))
        self.assertLessEqual(size, max_bytes, f"{code!r} gave {size} bytes of output")
        return reply["content"], outputs

    def test_vars(self):
        c, outs = self.run_bounded("vars", 20_000)
        self.assertEqual(c["status"], "ok")
        plain = outs[0]["content"]["data"]["text/plain"]
        self.assertRegex(plain, r"\nc +list +\[\[\[0, 0, 0, .*\.\.\.\n")

    def test_bare_value_is_cut_with_a_note(self):
        for name, what in (("c", "a list of 1,000 items"), ("w", "a list of 10,005 items")):
            c, outs = self.run_bounded(name, 2 * SHOW_MAX)
            self.assertEqual(c["status"], "ok")
            text = result_text(outs)
            self.assertTrue(text.endswith(f"\u2026 (cut at 1,000,000 characters: {what})"),
                            text[-120:])
            self.assertEqual(len(text), SHOW_MAX + len(f"\u2026 (cut at 1,000,000 characters: "
                                                       f"{what})"))

    def test_print_is_cut_with_a_note(self):
        c, outs = self.run_bounded("print w", 2 * SHOW_MAX)
        self.assertEqual(c["status"], "ok")
        text = stream_text(outs)
        self.assertTrue(text.startswith("[[0, 0, 0"))
        self.assertTrue(text.endswith("(cut at 1,000,000 characters: a list of 10,005 items)\n"))

    def test_str_refuses_with_the_limit(self):
        c, _ = self.run_bounded("s = str(c)", 20_000)
        self.assertEqual(c["ename"], "ValueError")
        self.assertIn("str(): the text of a list of 1,000 items is longer than 10,000,000 bytes, "
                      "the limit of a string", c["evalue"])
        # a text within the limit is whole
        self.assertEqual(value(self.kc, "len(str(b))"), str(2 + 1000 * 3000 + 999 * 2))

    def test_expect(self):
        for code, label in (("expect c == 0", "left:  [[[0, 0, 0"), ("expect not c", "operand: [[[0")):
            c, _ = self.run_bounded(code, 20_000)
            self.assertEqual(c["ename"], "ExpectationFailed")
            self.assertIn(label, c["evalue"])
            self.assertIn("...", c["evalue"])
        # a copy built apart is equal, at once (shared sublists are compared once)
        c, _ = self.run_bounded("expect c == [[[0] * 1000] * 1000] * 1000\nexpect c != w", 1000)
        self.assertEqual(c["status"], "ok")

    def test_help(self):
        c, _ = self.run_bounded("help c", 20_000)
        self.assertEqual(c["status"], "ok")
        page = c["payload"][0]["data"]["text/plain"]
        self.assertTrue(page.startswith("c: list\n\n[[[0, 0"))
        self.assertTrue(page.rstrip().endswith("..."))

    def test_table(self):
        c, outs = self.run_bounded("table c", 4 * SHOW_MAX)
        self.assertEqual(c["status"], "ok")
        data = outs[0]["content"]["data"]
        for mime in ("text/plain", "text/markdown", "text/html"):
            self.assertIn("rows and 100 of 1,000 columns (a table shows at most 1,000 rows, 100 "
                          "columns and 1,000,000 characters)", data[mime], mime)
        self.assertLessEqual(len(data["text/plain"]), SHOW_MAX + 200)

    def test_user_expressions(self):
        reply, _ = execute(self.kc, "1", user_expressions={"c": "c", "w": "w"},
                           timeout=limit(PROMPT))
        ue = reply["content"]["user_expressions"]
        for name in ("c", "w"):
            self.assertEqual(ue[name]["status"], "ok")
            self.assertLess(len(ue[name]["data"]["text/plain"]), SHOW_MAX + 100)

    def test_inspection(self):
        for code, detail, max_chars in (("c", 0, 2100), ("w", 0, 2100), ("c", 1, SHOW_MAX + 200)):
            t0 = time.monotonic()
            msg_id = self.kc.inspect(code, len(code), detail_level=detail)
            reply = shell_reply(self.kc, msg_id, timeout=limit(PROMPT))
            self.assertLess(time.monotonic() - t0, limit(PROMPT))
            self.assertTrue(reply["content"]["found"])
            plain = reply["content"]["data"]["text/plain"]
            self.assertTrue(plain.startswith(f"{code}: list\n\n[["), plain[:40])
            self.assertLessEqual(len(plain), max_chars, (code, detail))

    def test_completion(self):
        for code in ("c", "x = c", "c.", "print c", "table c"):
            t0 = time.monotonic()
            msg_id = self.kc.complete(code, len(code))
            reply = shell_reply(self.kc, msg_id, timeout=limit(PROMPT))
            self.assertLess(time.monotonic() - t0, limit(PROMPT))
            self.assertEqual(reply["content"]["status"], "ok")
            self.assertLess(len(json.dumps(reply["content"])), 20_000)
            if not code.endswith("."):
                self.assertIn("c", reply["content"]["matches"], code)

    def test_joins_are_limited(self):
        c, _ = self.run_bounded("big = [0] * 6000000\nj = big + big", 20_000)
        self.assertEqual(c["ename"], "ValueError")
        self.assertIn("the list would have 12,000,000 items, more than the limit of 10,000,000",
                      c["evalue"])
        self.assertEqual(value(self.kc, "len(c) + len(big)"), "6001000")


class InterruptValueWorkTests(KernelCase):
    """Interrupts during cells of long value work: each cell, left alone, would run for
    minutes (hundreds or thousands of statements, each a walk of 10^6 to 10^7 items). The
    interrupt must end it with Interrupted within limit(1), every variable kept.

    `str(t)` builds nearly 10,000,000 bytes of text from numbers that need all 17 digits:
    seconds for one statement, so only the polls inside the walk (not the check between
    statements) can answer within limit(1)."""

    SETUP = SHARED + "\nx = [0] * 5000000\ny = [0] * 5000000\nt = [0.1 + 0.2] * 476190"

    def setUp(self):
        lbtest.drain(self.kc)

    def interrupt_during(self, line, by_message=False, lines=3000):
        code = 'kept = 42\nprint "in"\n' + "\n".join([line] * lines)
        msg_id = start_blocking(self.kc, code)
        t0 = time.monotonic()
        if by_message:
            req = self.kc.session.msg("interrupt_request", {})
            self.kc.control_channel.send(req)
        else:
            self.km.interrupt_kernel()   # SIGINT: the kernelspec's interrupt_mode is "signal"
        reply = shell_reply(self.kc, msg_id, timeout=limit(60))
        took = time.monotonic() - t0
        c = reply["content"]
        self.assertEqual(c["status"], "error", f"{line!r} was not interrupted")
        self.assertEqual(c["ename"], "Interrupted", c.get("evalue"))
        self.assertLess(took, limit(1), f"the interrupt during {line!r} was answered after "
                                        f"{took:.2f} s")
        if by_message:
            control_reply(self.kc, req["header"]["msg_id"])
        msgs = iopub_until_idle(self.kc, msg_id)
        self.assertEqual([m["content"]["ename"] for m in msgs if m["msg_type"] == "error"],
                         ["Interrupted"])
        # the variables are all there, and the next cell runs normally
        self.assertEqual(value(self.kc, "[kept, len(a), len(b), len(c), len(x), len(w)]"),
                         "[42, 1000, 1000, 1000, 5000000, 10005]")
        self.assertEqual(value(self.kc, "c == [[[0] * 1000] * 1000] * 1000"), "true")

    def test_text(self):
        self.interrupt_during("s = str(t)", lines=300)  # 9,999,990 characters each
        self.assertEqual(value(self.kc, "len(str(t))"), "9999990")

    def test_compare(self):
        self.interrupt_during("e = x == y")            # 5,000,000 numbers each

    def test_repeat_and_join(self):
        self.interrupt_during("r = [a] * 5000000 + x")

    def test_min(self):
        self.interrupt_during("m = max(x)")

    def test_by_message(self):
        self.interrupt_during("s = str(t)", by_message=True, lines=300)


if __name__ == "__main__":
    unittest.main()
