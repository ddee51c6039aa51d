"""Executes every notebooks/*.ipynb headless with nbclient and the labbook kernel: no cell may
error unless it is tagged raises-exception (and those must raise), and the quickstart's
outputs are what its text promises."""

import glob
import os
import unittest

import nbformat
from nbclient import NotebookClient

import lbtest

CELL_TIMEOUT = 120 if lbtest.ASAN else 60
NOTEBOOKS = sorted(glob.glob(os.path.join(lbtest.ROOT, "notebooks", "*.ipynb")))


def execute_notebook(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=lbtest.KERNEL_NAME,
                            allow_errors=False, resources={"metadata": {"path": os.path.dirname(path)}})
    client.execute()
    return nb


def outputs_of(nb, source_start):
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(source_start)]
    if len(cells) != 1:
        raise AssertionError(f"expected one code cell starting with {source_start!r}, "
                             f"found {len(cells)}")
    return cells[0].outputs


class NotebookTests(unittest.TestCase):
    executed = {}

    @classmethod
    def setUpClass(cls):
        if not NOTEBOOKS:
            raise AssertionError("no notebooks/*.ipynb found")

    def get(self, name):
        path = os.path.join(lbtest.ROOT, "notebooks", name)
        if path not in self.executed:
            type(self).executed[path] = execute_notebook(path)
        return self.executed[path]

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


if __name__ == "__main__":
    unittest.main()
