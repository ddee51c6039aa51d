"""Plots through the real kernel (jupyter_client) and `labbook run`: display_data carries
image/png (base64 without a data: prefix, decoding to a PNG of the size the metadata states)
and a one-line text/plain; a plot value shows as its image; `save` writes the file or fails
with IOError; parameter errors and completion come from the schemas; `labbook run` writes
NNN.png files. (Pixel colours are checked by the C unit tests, tests/unit/test_plot.c.)"""

import base64
import os
import struct
import subprocess
import tempfile
import unittest

import lbtest

SANITIZE = True      # tests/run.py runs this suite again against the ASan+UBSan kernel

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png_size(data):
    """(width, height) from a PNG's IHDR (asserting the signature and chunk order)."""
    assert data[:8] == PNG_SIG, data[:8]
    assert data[12:16] == b"IHDR", data[12:16]
    return struct.unpack(">II", data[16:24])


class PlotKernelTests(lbtest.KernelCase):
    def check_image(self, msg, width=None, height=None):
        data, meta = msg["content"]["data"], msg["content"]["metadata"]
        b64 = data["image/png"]
        self.assertFalse(b64.startswith("data:"))
        png = base64.b64decode(b64, validate=True)
        w, h = png_size(png)
        self.assertEqual(meta["image/png"], {"width": w, "height": h})
        if width is not None:
            self.assertEqual((w, h), (width, height))
        text = data["text/plain"]
        self.assertTrue(text and "\n" not in text, text)
        return text

    def test_plot_display(self):
        outputs = self.run_ok('plot [2.3, 1.1, 0.7] x="epoch" y="loss"')
        shown = [m for m in outputs if m["msg_type"] == "display_data"]
        self.assertEqual(len(shown), 1, [m["msg_type"] for m in outputs])
        text = self.check_image(shown[0], 640, 400)
        self.assertIn("line chart 640x400", text)

    def test_panels_heatmap_bars_images(self):
        outputs = self.run_ok(
            'plot {name: "train", y: [1, 0.6], panel: "loss"} '
            '{name: "valid", y: [0.5, 0.7], style: "dashed", panel: "valid.acc"}\n'
            'heatmap [[50, 2], [5, 43]] rows=["Coat", "Shirt"] cols=["Coat", "Shirt"] '
            'y="True label" x="Predicted label"\n'
            'bars {a: 0.91, b: 0.87} y="valid.acc"\n'
            'images [[[0, 1], [1, 0]]] captions=["true: Coat / pred: Shirt"] wrong=[true]')
        shown = [m for m in outputs if m["msg_type"] == "display_data"]
        self.assertEqual(len(shown), 4)
        self.check_image(shown[0], 1280, 400)
        for m in shown[1:]:
            self.check_image(m)

    def test_value_shows_and_saves(self):
        outputs = self.run_ok('p = plot([1, 0.1, 0.01], logy=true, title="loss")\np')
        (res,) = [m for m in outputs if m["msg_type"] == "execute_result"]
        self.assertTrue(self.check_image(res, 640, 434).startswith("<plot: line chart"))
        self.assertEqual(lbtest.value(self.kc, "type(p)"), '"plot"')
        self.assertEqual(lbtest.value(self.kc, "p.width"), "640")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "loss.png")
            self.run_ok(f'save p "{path}"')
            with open(path, "rb") as f:
                self.assertEqual(png_size(f.read()), (640, 434))
            self.assertEqual(os.listdir(d), ["loss.png"])    # no temporary file left
        ename, evalue = self.run_error('save p "/nonexistent-dir/loss.png"')
        self.assertEqual(ename, "IOError")
        self.assertIn("/nonexistent-dir/loss.png", evalue)
        ename, _ = self.run_error('save 3 "x.png"')
        self.assertEqual(ename, "TypeError")

    def test_schema_errors_and_completion(self):
        ename, evalue = self.run_error('plot [1, 2] titel="x"')
        self.assertEqual(ename, "TypeError")
        self.assertIn("title", evalue)
        ename, evalue = self.run_error('heatmap [[1, 2]] normalise=true')
        self.assertIn("normalize", evalue)
        ename, _ = self.run_error("plot [1, 2] logy=3")
        self.assertEqual(ename, "TypeError")
        code = "plot [1, 2] lo"
        msg_id = self.kc.complete(code, len(code))
        reply = lbtest.shell_reply(self.kc, msg_id)
        matches = reply["content"]["matches"]
        self.assertTrue(any(m.startswith("logy") for m in matches), matches)

    def test_help(self):
        msg_id = self.kc.execute("help heatmap")
        reply = lbtest.shell_reply(self.kc, msg_id)
        lbtest.iopub_until_idle(self.kc, msg_id)
        pages = [p for p in reply["content"].get("payload", []) if p.get("source") == "page"]
        self.assertTrue(pages)
        self.assertIn("True label", pages[0]["data"]["text/plain"])


class PlotRunScriptTests(unittest.TestCase):
    def test_run_writes_png(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "plots.lab")
            with open(path, "w") as f:
                f.write('plot [3, 2, 1.5] x="epoch" y="loss"\n'
                        'h = heatmap([[1, 2], [3, 4]])\nh\n')
            p = subprocess.run([lbtest.EXE, "run", path], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=lbtest.limit(60),
                               cwd=d)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            out = os.path.join(d, "plots_out")
            self.assertEqual(sorted(os.listdir(out)), ["001.png", "002.png"])
            with open(os.path.join(out, "001.png"), "rb") as f:
                self.assertEqual(png_size(f.read()), (640, 400))
            with open(os.path.join(out, "002.png"), "rb") as f:
                png_size(f.read())
            self.assertIn("line chart 640x400", p.stdout.decode())


if __name__ == "__main__":
    unittest.main()
