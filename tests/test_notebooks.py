"""Executes every notebooks/*.ipynb headless with nbclient and the labbook kernel: no cell may
error unless it is tagged raises-exception (and those must raise), and the quickstart's and the
CNN lab's outputs are what their text promises."""

import base64
import csv
import glob
import math
import os
import struct
import tempfile
import unittest

import nbformat
from nbclient import NotebookClient

import lbtest


def limit(s):
    """lbtest.limit (scaled for ASan and for the suites run side by side) in whole seconds, as
    nbclient's timeouts take them."""
    return math.ceil(lbtest.limit(s))


# Bounds on waits, never timings. tests/run.py's limit for the whole suite (SUITE_TIMEOUT,
# scaled alike) exceeds them.
CELL_TIMEOUT = limit(60)
# Per-cell bounds of notebooks that train: cnn-lab.ipynb trains six CNNs in one cell (a
# minute or two on 2 idle cores).
NOTEBOOK_CELL_TIMEOUT = {"cnn-lab.ipynb": limit(480)}
# After a cell's reply, nbclient waits this long for the rest of its output (status idle);
# by default only 4 s, and then it goes on silently without that output.
IOPUB_TIMEOUT = limit(60)
STARTUP_TIMEOUT = limit(60)
NOTEBOOKS = sorted(glob.glob(os.path.join(lbtest.ROOT, "notebooks", "*.ipynb")))


class RecordingClient(NotebookClient):
    """An nbclient that also keeps every display_data / update_display_data message it
    receives (nbclient applies the updates to the outputs and keeps no trace of them)."""

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] in ("display_data", "update_display_data"):
            content = msg["content"]
            self.displays.append({"cell": cell_index, "msg_type": msg["msg_type"],
                                  "display_id": content.get("transient", {}).get("display_id"),
                                  "data": content.get("data", {}),
                                  "metadata": content.get("metadata", {})})
        return super().process_message(msg, cell, cell_index)


def execute_notebook(path, cwd):
    """Executes the notebook with `cwd` as the kernel's working directory; returns the executed
    notebook and the display messages received, in order."""
    nb = nbformat.read(path, as_version=4)
    timeout = NOTEBOOK_CELL_TIMEOUT.get(os.path.basename(path), CELL_TIMEOUT)
    client = RecordingClient(nb, timeout=timeout, kernel_name=lbtest.KERNEL_NAME,
                             allow_errors=False, resources={"metadata": {"path": cwd}},
                             iopub_timeout=IOPUB_TIMEOUT, raise_on_iopub_timeout=True,
                             startup_timeout=STARTUP_TIMEOUT)
    client.displays = []
    client.execute()
    return nb, client.displays


def cell_index(nb, source_start):
    found = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and c.source.startswith(source_start)]
    if len(found) != 1:
        raise AssertionError(f"expected one code cell starting with {source_start!r}, "
                             f"found {len(found)}")
    return found[0]


def outputs_of(nb, source_start):
    return nb.cells[cell_index(nb, source_start)].outputs


def stdout_of(outs):
    return "".join(o.text for o in outs if o.output_type == "stream" and o.name == "stdout")


def png_size(b64):
    """(width, height) from the IHDR chunk of a base64 PNG."""
    raw = base64.b64decode(b64)
    if raw[:8] != b"\x89PNG\r\n\x1a\n" or raw[12:16] != b"IHDR":
        raise AssertionError("not a PNG")
    return struct.unpack(">II", raw[16:24])


class NotebookTests(unittest.TestCase):
    executed = {}       # path -> (executed notebook, display messages, working directory)

    @classmethod
    def setUpClass(cls):
        if not NOTEBOOKS:
            raise AssertionError("no notebooks/*.ipynb found")
        # Each notebook runs in a working directory of its own, so that files it writes (the
        # CNN lab's CSV export) land there and not in the source tree.
        cls.workdir = tempfile.TemporaryDirectory(prefix="labbook-notebooks-")

    @classmethod
    def tearDownClass(cls):
        cls.workdir.cleanup()

    def run_notebook(self, name):
        path = os.path.join(lbtest.ROOT, "notebooks", name)
        if path not in self.executed:
            cwd = os.path.join(self.workdir.name, os.path.splitext(name)[0])
            os.makedirs(cwd, exist_ok=True)
            nb, displays = execute_notebook(path, cwd)
            type(self).executed[path] = (nb, displays, cwd)
        return self.executed[path]

    def get(self, name):
        return self.run_notebook(name)[0]

    def assert_png(self, out, kind):
        """A display_data holding a PNG whose metadata gives its true size, described as `kind`."""
        self.assertEqual(out.output_type, "display_data")
        self.assertIn("image/png", out.data)
        w, h = png_size(out.data["image/png"])
        self.assertEqual(out.metadata["image/png"], {"width": w, "height": h})
        self.assertTrue(out.data["text/plain"].startswith(kind), out.data["text/plain"])

    def test_every_notebook_runs(self):
        for path in NOTEBOOKS:
            with self.subTest(notebook=os.path.basename(path)):
                src = nbformat.read(path, as_version=4)
                nbformat.validate(src)
                self.assertEqual(src.metadata.kernelspec.name, "labbook")
                self.assertEqual(src.metadata.language_info.name, "labbook")
                for c in src.cells:   # committed stripped: `make demo` and tests execute them
                    if c.cell_type == "code":
                        self.assertEqual(c.outputs, [], f"stored outputs in {path}")
                        self.assertIsNone(c.execution_count)
                nb = self.get(os.path.basename(path))   # raises CellExecutionError on an error
                nbformat.validate(nb)
                for c in nb.cells:
                    if c.cell_type != "code":
                        continue
                    errors = [o for o in c.outputs if o.output_type == "error"]
                    if "raises-exception" in c.metadata.get("tags", []):
                        self.assertTrue(errors, f"cell tagged raises-exception did not raise:\n{c.source}")
                    else:
                        self.assertFalse(errors, f"cell errored:\n{c.source}")
                    self.assertIsNotNone(c.execution_count)

    def test_quickstart_outputs(self):
        nb = self.get("quickstart.ipynb")

        outs = outputs_of(nb, 'print "hello, world"')
        streams = {o.name: o.text for o in outs if o.output_type == "stream"}
        self.assertEqual(streams.get("stdout"), "hello, world\n")
        self.assertIn("this line goes to stderr", streams.get("stderr", ""))

        outs = outputs_of(nb, "# hyper-parameters")
        self.assertEqual([o.output_type for o in outs], ["execute_result"])
        self.assertEqual(outs[0].data["text/plain"], "500")

        outs = outputs_of(nb, "decayed = lr / 4")
        self.assertEqual(outs[0].data["text/plain"], "1.05")

        outs = outputs_of(nb, "sizes = ")
        self.assertEqual(outs[0].data["text/plain"],
                         '{lr: 0.1, epochs: 5, layers: [784, 256, 10], "batch size": 64}')

        outs = outputs_of(nb, "[len(sizes)")
        self.assertEqual(outs[0].data["text/plain"], '[3, 784, 0.0333, 784, "map"]')

        outs = outputs_of(nb, "table ")
        (disp,) = [o for o in outs if o.output_type == "display_data"]
        self.assertIn("<table", disp.data["text/html"])
        self.assertIn("test acc", disp.data["text/html"])
        self.assertIn("0.912", disp.data["text/html"])
        self.assertIn("|", disp.data["text/markdown"])
        self.assertIn("cnn", disp.data["text/plain"])

        outs = outputs_of(nb, "help table")
        self.assertEqual([o for o in outs if o.output_type == "error"], [])

        outs = outputs_of(nb, "scale = 2")
        (err,) = [o for o in outs if o.output_type == "error"]
        self.assertEqual(err.ename, "NameError")
        tb = [lbtest.strip_ansi(l) for l in "\n".join(err.traceback).split("\n")]
        src = "loss = scale * undefined_loss"
        (i,) = [i for i, l in enumerate(tb) if src in l][:1]
        self.assertEqual(tb[i + 1].index("^") - tb[i].index(src), src.index("undefined_loss"))

        outs = outputs_of(nb, "# `scale` was set")
        self.assertEqual(outs[0].data["text/plain"], "2")

        outs = outputs_of(nb, "del decayed")
        text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outs)
        for name in ("lr", "epochs", "config", "sizes", "scale"):
            self.assertIn(name, text)
        self.assertNotIn("decayed", text)

    def test_cnn_lab_outputs(self):
        nb, displays, cwd = self.run_notebook("cnn-lab.ipynb")
        self.assertTrue(nb.cells[0].source.startswith(
            "# CNN with max-pooling vs strided convolution across learning rates on Fashion-MNIST"))
        for c in nb.cells:
            if c.cell_type == "code":
                self.assertEqual([o for o in c.outputs if o.output_type == "error"], [], c.source)

        # the data set: its summary (a seeded training subset) as the cell's result
        outs = outputs_of(nb, "use cnn")
        (res,) = [o for o in outs if o.output_type == "execute_result"]
        self.assertIn("seeded subset", res.data["text/plain"])
        self.assertIn("<table", res.data["text/html"])
        self.assertIn("Ankle boot", res.data["text/html"])

        # the two models' parameter tables: the same total, different layers
        outs = outputs_of(nb, "model pool = cnn(")
        tables = [o for o in outs if o.output_type == "display_data"]
        self.assertEqual(len(tables), 2)
        for t in tables:
            self.assertIn("<table", t.data["text/html"])
            self.assertIn("<strong>20,490</strong>", t.data["text/html"])
        self.assertIn("maxpool2d(2)", tables[0].data["text/html"])
        self.assertIn("stride=2", tables[1].data["text/html"])
        self.assertNotIn("maxpool2d", tables[1].data["text/html"])

        # the sweep: a live progress display and live curves, both updated in place, then
        # the comparison table of the six runs
        i = cell_index(nb, "runs = train pool stride on f")
        outs = nb.cells[i].outputs
        shown = [d for d in displays if d["cell"] == i]
        progress_ids = {d["display_id"] for d in shown if d["msg_type"] == "display_data"
                        and "labbook-progress" in d["data"].get("text/html", "")}
        self.assertEqual(len(progress_ids), 1, "one progress display with a display_id")
        (progress_id,) = progress_ids
        self.assertIsNotNone(progress_id)
        updates = [d for d in shown if d["msg_type"] == "update_display_data"
                   and d["display_id"] == progress_id]
        self.assertGreaterEqual(len(updates), 6, "the progress display is updated during training")
        self.assertTrue(any("epoch" in d["data"]["text/plain"] for d in updates))
        curve_ids = {d["display_id"] for d in shown if "image/png" in d["data"]}
        self.assertEqual(len(curve_ids - {None}), 1, "one live curves display with a display_id")
        self.assertTrue(any(d["msg_type"] == "update_display_data" for d in shown
                            if d["display_id"] in curve_ids))
        # nbclient applied the updates: the outputs hold the final states
        progress = [o for o in outs if o.output_type == "display_data"
                    and "labbook-progress" in o.data.get("text/html", "")]
        self.assertEqual(len(progress), 1)
        final = progress[0].data["text/plain"].strip().splitlines()
        self.assertEqual(final[-1], "finished")
        self.assertEqual(sum(": finished, 3 epochs" in l for l in final), 6, final)
        curves = [o for o in outs if "image/png" in o.get("data", {})]
        self.assertEqual(len(curves), 1)
        self.assert_png(curves[0], "line chart")
        tables = [o for o in outs if "text/html" in o.get("data", {})
                  and "<table" in o.data["text/html"]]
        self.assertEqual(len(tables), 1)
        html = tables[0].data["text/html"]
        self.assertEqual(html.count("<tr>") - 1, 6, "one row per run")
        for col in ("valid.acc", "test.acc", "lr", "params", "s/epoch"):
            self.assertIn(f">{col}</th>", html)
        self.assertIn("pool holds the weights of run", stdout_of(outs))

        # the compact grid: learning rate against model
        outs = outputs_of(nb, "r = runs.list")
        (grid,) = [o for o in outs if o.output_type == "display_data"]
        self.assertEqual(grid.data["text/html"].count("<tr>"), 4)
        self.assertIn("stride test.acc", grid.data["text/html"])

        (curves,) = outputs_of(nb, "plot runs loss valid.acc")
        self.assert_png(curves, "line chart")

        outs = outputs_of(nb, 'best = runs.best("valid.acc")')
        self.assertIn("best run:", stdout_of(outs))
        (cm,) = [o for o in outs if o.output_type == "display_data"]
        self.assert_png(cm, "heatmap")
        self.assertIn("on fashion_mnist.test", cm.data["text/plain"])

        outs = outputs_of(nb, "samples f.test 16 model=best")
        self.assertEqual(len(outs), 2)
        for o in outs:
            self.assert_png(o, "image grid")
        self.assertIn("16 marked wrong", outs[1].data["text/plain"])

        # the CSV export, written into the notebook's working directory
        outs = outputs_of(nb, "export runs")
        self.assertEqual(stdout_of(outs), "wrote 6 runs to cnn-lab-runs.csv\n")
        with open(os.path.join(cwd, "cnn-lab-runs.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 6)
        self.assertEqual([r["status"] for r in rows], ["finished"] * 6)
        self.assertEqual(sorted(float(r["lr"]) for r in rows), [0.001, 0.001, 0.01, 0.01, 0.1, 0.1])
        for r in rows:
            self.assertGreater(float(r["test.acc"]), 0.5)

        # the checks at the end ran and passed (a failing expect is an ExpectationFailed error)
        i = cell_index(nb, "expect ")
        self.assertGreaterEqual(sum(l.startswith("expect ") for l in nb.cells[i].source.splitlines()), 5)
        self.assertEqual(stdout_of(nb.cells[i].outputs), "all checks passed\n")
        self.assertEqual(i, max(j for j, c in enumerate(nb.cells) if c.cell_type == "code"),
                         "the expect checks are the last code cell")


if __name__ == "__main__":
    unittest.main()
