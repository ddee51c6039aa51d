"""test_tasks.py — training beyond image classification, through the kernel over ZeroMQ: regression
with MSE on a CSV data set, per-pixel classification of the generated `shapes` data set with a
convolutional network, and a model with two named inputs on `pairs`. Each trains through the
same `train` command, shows live progress, makes run records whose task and metric directions
are declared, and ends in the runs table with the best values marked in the right direction.
The regression run's test metrics are checked against PyTorch (the saved weights, float32 and
float64) and scikit-learn.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbckpt  # noqa: E402
import lbtest  # noqa: E402
from lbtest import limit  # noqa: E402
from noise import NoiseMixin  # noqa: E402

try:
    import torch
    from sklearn import metrics as skm
except ImportError:  # pragma: no cover
    torch = None

SANITIZE = True  # tests/run.py runs this suite again against the ASan+UBSan kernel

TMP = tempfile.mkdtemp(prefix="lb_tasks_")
FEATURES = ["a", "b", "c", "d", "e"]


def write_regression(path, n, seed):
    """y = a linear function of 5 features plus a bend and noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    y = x @ np.array([1.5, -2, 0.5, 0, 3]) + 0.3 * np.sin(3 * x[:, 0]) + 0.1 * rng.normal(size=n) + 4
    with open(path, "w") as f:
        f.write(",".join(FEATURES) + ",price\n")
        for r, t in zip(x, y):
            f.write(",".join("%.6f" % v for v in r) + ",%.6f\n" % t)


def build_dir():
    """build/ (the ASan kernel lives in build/asan/, the test plugins in build/testplugins/)."""
    d = os.path.dirname(os.path.abspath(lbtest.EXE))
    return os.path.dirname(d) if os.path.basename(d) == "asan" else d


def read_csv(path):
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    return data[:, :5].astype(np.float32), data[:, 5].astype(np.float32)


class TaskTraining(NoiseMixin, lbtest.KernelCase):
    CELL_TIMEOUT = limit(120)

    @classmethod
    def setUpClass(cls):
        write_regression(os.path.join(TMP, "reg.csv"), 600, 0)
        write_regression(os.path.join(TMP, "reg_test.csv"), 200, 1)
        super().setUpClass()

    # ---- helpers ----------------------------------------------------------------------------

    def export(self, var):
        path = os.path.join(TMP, var + ".json")
        self.run_ok(f'export {var} "{path}"')
        with open(path) as f:
            return json.load(f)["runs"]

    def check_progress(self, out):
        """One live progress display, updated in place, ending finished."""
        created = [m for m in out if m["msg_type"] == "display_data"
                   and "labbook-progress" in m["content"]["data"].get("text/html", "")]
        self.assertEqual(len(created), 1)
        pid = created[0]["content"]["transient"]["display_id"]
        ups = [m for m in out if m["msg_type"] == "update_display_data"
               and m["content"]["transient"]["display_id"] == pid]
        self.assertGreaterEqual(len(ups), 1)
        self.assertIn("finished", ups[-1]["content"]["data"]["text/plain"])

    def runs_table(self, out):
        tabs = [m["content"]["data"] for m in out if m["msg_type"] == "display_data"
                and "<table" in m["content"]["data"].get("text/html", "")
                and "labbook-progress" not in m["content"]["data"]["text/html"]]
        self.assertEqual(len(tabs), 1)
        lines = tabs[0]["text/plain"].splitlines()
        hdr = lines[0].split()
        rows = [l.split() for l in lines[2:]]
        return hdr, rows

    def check_marked(self, hdr, rows, column, better):
        """The value marked best in the table's column is the best in the given direction."""
        right = len(hdr) - hdr.index(column)  # run names hold spaces: count from the right
        cells = [r[-right] for r in rows]
        vals = [float(c.rstrip("*")) for c in cells]
        marked = [v for v, c in zip(vals, cells) if c.endswith("*")]
        want = min(vals) if better == "lower" else max(vals)
        self.assertEqual(marked, [want], (column, cells))

    def check_record(self, rec, task, metrics):
        self.assertEqual(rec["task"]["name"], task)
        self.assertEqual(rec["task"]["metrics"], [m for m, _ in metrics])
        for m, better in metrics:
            self.assertEqual(rec["metrics"][m], better)
        self.assertEqual(rec["settings"]["task"], task)
        self.assertEqual(rec["data"]["task"], task)
        for ep in rec["history"]:
            for m, _ in metrics:
                self.assertIn("valid." + m, ep)
        self.assertEqual(set(rec["final"]["test"]) >= {m for m, _ in metrics}, True, rec["final"]["test"])

    # ---- regression -------------------------------------------------------------------------

    def test_regression_csv(self):
        out = self.run_ok(
            f'use layers\nr = csv("{TMP}/reg.csv", target="price", test_file="{TMP}/reg_test.csv", valid=100)\n'
            'print(r)\n'
            'model reg = sequential(linear(5, 32), relu(), linear(32, 1)) input=[5] seed=1\n'
            'rr = train reg on r epochs=[3, 8] opt="adam" lr=0.01 batch=32 seed=2')
        text = lbtest.stream_text(out)
        self.assertIn("x float [5] -> y float []; task regress", text)
        self.check_progress(out)
        hdr, rows = self.runs_table(out)
        for col, better in (("valid.loss", "lower"), ("valid.mae", "lower"), ("valid.r2", "higher"),
                            ("test.r2", "higher")):
            self.check_marked(hdr, rows, col, better)
        self.assertNotIn("valid.acc", hdr)
        recs = self.export("rr")
        for rec in recs:
            self.check_record(rec, "regress", [("loss", "lower"), ("mae", "lower"), ("r2", "higher")])
            self.assertEqual(rec["settings"]["monitor"], "valid.loss")
            self.assertEqual(rec["settings"]["loss"], "mse")
        best = min(recs, key=lambda r: r["final"]["valid"]["loss"])
        self.assertIn(f"reg holds the weights of run {best['id']}", text)
        self.assertGreater(best["final"]["test"]["r2"], 0.9, "a 5-feature near-linear target is learnt")
        if torch is not None:
            self.check_against_torch(best)

    def check_against_torch(self, rec):
        """The kept weights' test metrics from PyTorch (float32, float64) and scikit-learn."""
        path = os.path.join(TMP, "reg.lbc")
        self.run_ok(f'save reg "{path}"')
        _, w = lbckpt.read(path)
        x, y = read_csv(os.path.join(TMP, "reg_test.csv"))
        mean = np.array(rec["data"]["mean"], dtype=np.float32)
        std = np.array(rec["data"]["std"], dtype=np.float32)
        xn = (x - mean) / std  # float32, as labbook normalises
        preds = {}
        for dt in (torch.float32, torch.float64):
            t = lambda k: torch.from_numpy(w[k]).to(dt)  # noqa: E731
            h = torch.relu(torch.from_numpy(xn).to(dt) @ t("0.weight").T + t("0.bias"))
            preds[dt] = (h @ t("2.weight").T + t("2.bias"))[:, 0].numpy().astype(np.float64)
        got = rec["final"]["test"]
        yd = y.astype(np.float64)
        for name, fn in (("loss", skm.mean_squared_error), ("mae", skm.mean_absolute_error), ("r2", skm.r2_score)):
            self.assertAgrees("test." + name, got[name], fn(yd, preds[torch.float32]), fn(yd, preds[torch.float64]))

    # ---- segmentation -----------------------------------------------------------------------

    def test_segmentation_shapes(self):
        out = self.run_ok(
            'use layers\ng = shapes(n=300, test=60, size=16, valid=60, seed=0)\nprint(g)\n'
            'model seg = sequential(conv2d(1, 8, 3, pad=1), relu(), conv2d(8, 8, 3, pad=1), relu(), '
            'conv2d(8, 3, 1)) input=[1, 16, 16] seed=1\n'
            'rs = train seg on g epochs=2 opt="adam" lr=[0.01, 0.002] batch=20 seed=3')
        text = lbtest.stream_text(out)
        self.assertIn("x float [1, 16, 16] -> y int [16, 16]; 3 classes; task segment", text)
        self.check_progress(out)
        hdr, rows = self.runs_table(out)
        for col, better in (("valid.loss", "lower"), ("valid.pixel_acc", "higher"), ("valid.miou", "higher"),
                            ("test.miou", "higher")):
            self.check_marked(hdr, rows, col, better)
        recs = self.export("rs")
        for rec in recs:
            self.check_record(rec, "segment", [("loss", "lower"), ("pixel_acc", "higher"), ("miou", "higher")])
            self.assertEqual(rec["settings"]["monitor"], "valid.miou")
            iou = rec["final"]["test"]["iou"]
            self.assertEqual(list(iou), ["background", "square", "disc"])
            known = [v for v in iou.values() if v is not None]
            self.assertAlmostEqual(rec["final"]["test"]["miou"], sum(known) / len(known), places=12)
            self.assertEqual([f["name"] for f in rec["data"]["fields"]], ["x", "y"])
            self.assertEqual(rec["data"]["fields"][1]["pad"], 255)

    # ---- two named inputs -------------------------------------------------------------------

    def test_two_inputs(self):
        out = self.run_ok(
            'use fusion\np = pairs(n=2000, test=400, classes=4, valid=400, seed=0)\nprint(p)\n'
            'model fc = fuse(hidden=32, mode="concat", classes=4) input={a: [8], b: [4]} seed=1\n'
            'model fm = fuse(hidden=32, mode="mul", classes=4) input={a: [8], b: [4]} seed=1\n'
            'rf = train fc fm on p epochs=3 opt="adam" lr=0.01 batch=32 seed=2')
        text = lbtest.stream_text(out)
        self.assertIn("a float [8], b float [4] -> y int []; 4 classes; task classify", text)
        self.check_progress(out)
        hdr, rows = self.runs_table(out)
        for col, better in (("valid.loss", "lower"), ("valid.acc", "higher"), ("test.acc", "higher")):
            self.check_marked(hdr, rows, col, better)
        recs = self.export("rf")
        for rec in recs:
            self.check_record(rec, "classify", [("loss", "lower"), ("acc", "higher"), ("top5", "higher")])
            self.assertEqual([f["name"] for f in rec["data"]["fields"]], ["a", "b", "y"])
        # the label is (class of a + class of b) mod 4: either input alone gives 1 in 4 at best,
        # so a model above 0.8 on the test split reads both
        self.assertGreater(max(r["final"]["test"]["acc"] for r in recs), 0.8)
        ename, evalue = self.run_error('model fb = fuse(classes=4) input={a: [8], b: [5]}\ntrain fb on p epochs=1')
        self.assertEqual(ename, "ValueError")
        self.assertIn("model fb takes input b of shape [5], but field b of pairs is [4]", evalue)
        ename, evalue = self.run_error('use mlp\nmodel one = mlp(hidden=[8], classes=4) input=[12]\n'
                                       'train one on p epochs=1')
        self.assertIn("model one has an input x [12], but data set pairs has no input field x", evalue)

    # ---- a task and a data source from a plugin ---------------------------------------------

    def test_plugin_task_and_data_source(self):
        so = os.path.join(build_dir(), "testplugins", "hinge.so")
        out = self.run_ok(f'use "{so}"')
        self.assertIn("loaded hinge 1.0.0: task hinge, loss multi_margin, metric worst_err, data rings", lbtest.stream_text(out))
        out = self.run_ok('use layers\nrg = rings(n=600, test=200, valid=100, seed=1)\nprint(rg)\n'
                          'model mh = sequential(linear(2, 16), relu(), linear(16, 2)) input=[2] seed=1\n'
                          'rh = train mh on rg epochs=[2, 6] opt="adam" lr=0.01 batch=32 seed=2')
        self.assertIn("p float [2] -> y int []; 2 classes; task hinge", lbtest.stream_text(out))
        self.check_progress(out)
        hdr, rows = self.runs_table(out)
        for col, better in (("valid.loss", "lower"), ("valid.err", "lower"), ("valid.margin", "higher")):
            self.check_marked(hdr, rows, col, better)
        recs = self.export("rh")
        for rec in recs:
            self.check_record(rec, "hinge", [("loss", "lower"), ("err", "lower"), ("margin", "higher")])
            self.assertEqual(rec["settings"]["loss"], "multi_margin")
            self.assertIn("train.err", rec["history"][0])
            self.assertNotIn("train.margin", rec["history"][0])
        best = min(recs, key=lambda r: r["final"]["valid"]["err"])
        # the data source's samples are the plugin's formula, normalised with the training statistics
        mean, std = (np.array(best["data"][k], dtype=np.float32) for k in ("mean", "std"))
        i = np.arange(200)
        k, cls = (i + 100003 + 7919).astype(np.float64), (i % 2).astype(np.float64)
        rad = 1 + cls + 0.15 * np.sin(17.0 * i + 3.0 + 1)
        pts = np.stack([rad * np.cos(2.399963 * k), rad * np.sin(2.399963 * k)], 1).astype(np.float32)
        xn = (pts - mean) / std
        got = [float(v) for v in json.loads(lbtest.value(self.kc, "sample(rg.test, 7).values"))]
        # (to an ulp: numpy's and the C library's sin and cos may differ in their last bit)
        np.testing.assert_allclose(got, xn[7], rtol=2.0 ** -21, atol=2.0 ** -21)
        if torch is None:
            return
        # the plugin's loss and metrics of the kept weights, against PyTorch's MultiMarginLoss
        y = torch.from_numpy(cls.astype(np.int64))
        res = {}
        for dt, o in self.mlp_outputs("mh", xn).items():
            other = o.gather(1, (1 - y)[:, None])[:, 0]
            res[dt] = (torch.nn.MultiMarginLoss()(o, y).item(), (o.gather(1, y[:, None])[:, 0] - other).mean().item())
        fin = best["final"]["test"]
        self.assertAgrees("test.loss", fin["loss"], res[torch.float32][0], res[torch.float64][0])
        self.assertAgrees("test.margin", fin["margin"], res[torch.float32][1], res[torch.float64][1])
        self.check_loss_and_metric_of_a_plugin(xn, cls)
        c = self.run_fail('train mh on rg task="hing" epochs=1')
        self.assertIn('unknown task "hing" (did you mean "hinge"?)', c["evalue"])
        c = self.run_fail('model m3 = sequential(linear(2, 3)) input=[2]\ntrain m3 on rg epochs=1')
        self.assertIn("task hinge needs a score per class: [2]", c["evalue"])

    def mlp_outputs(self, model, x):
        """{dtype: outputs} of model (linear, relu, linear) on x in PyTorch float32 and float64,
        from its weights saved by the kernel."""
        path = os.path.join(TMP, model + ".lbc")
        self.run_ok(f'save {model} "{path}"')
        _, w = lbckpt.read(path)
        out = {}
        for dt in (torch.float32, torch.float64):
            t = lambda n: torch.from_numpy(w[n]).to(dt)  # noqa: E731
            out[dt] = torch.relu(torch.from_numpy(x).to(dt) @ t("0.weight").T + t("0.bias")) @ t("2.weight").T + t("2.bias")
        return out

    def check_loss_and_metric_of_a_plugin(self, xn, cls):
        """train ... loss= and metrics= with a plugin's loss and metric on the classification task."""
        self.run_ok('rc = train mh on rg task="classify" loss="multi_margin" metrics=["worst_err"] epochs=2 '
                    'opt="adam" lr=0.01 batch=32 seed=4 live=false')
        rec = self.export("rc")[0]
        self.assertEqual(rec["task"], {"name": "classify", "loss": "multi_margin",
                                       "metrics": ["loss", "acc", "top5", "worst_err"]})
        self.assertEqual(rec["metrics"]["worst_err"], "lower")
        self.assertEqual(rec["settings"]["loss"], "multi_margin")
        self.assertIn("valid.worst_err", rec["history"][-1])
        self.assertNotIn("train.worst_err", rec["history"][-1])
        y = torch.from_numpy(cls.astype(np.int64))
        res = {}
        for dt, o in self.mlp_outputs("mh", xn).items():
            pred = o.argmax(1).numpy()
            worst = max(float(np.mean(pred[cls == c] != c)) for c in (0, 1))
            res[dt] = (torch.nn.MultiMarginLoss()(o, y).item(), worst)
        fin = rec["final"]["test"]
        self.assertAgrees("test.loss (multi_margin)", fin["loss"], res[torch.float32][0], res[torch.float64][0])
        self.assertEqual(fin["worst_err"], res[torch.float64][1])
        c = self.run_fail('train mh on rg task="classify" loss="multi_margn" epochs=1')
        self.assertIn('unknown loss "multi_margn" (did you mean "multi_margin"?)', c["evalue"])
        c = self.run_fail('train mh on rg task="classify" metrics=["worst_eror"] epochs=1')
        self.assertIn('unknown metric "worst_eror" (did you mean "worst_err"?)', c["evalue"])

    def test_task_errors(self):
        self.run_ok('use layers\nrg = csv("%s/reg.csv", target="price", valid=50)\n'
                    'gg = shapes(n=40, test=0, valid=10)' % TMP)
        ename, evalue = self.run_error('model wrong = sequential(conv2d(1, 3, 3, pad=1), relu(), maxpool2d(2)) '
                                       'input=[1, 16, 16]\ntrain wrong on gg epochs=1')
        self.assertEqual(ename, "ValueError")
        self.assertIn("segmenting shapes needs [3, 16, 16]", evalue)
        c = self.run_fail('model lin = sequential(linear(5, 1)) input=[5]\ntrain lin on rg task="regres"')
        self.assertIn('unknown task "regres" (did you mean "regress"?)', c["evalue"])
        c = self.run_fail('train lin on rg monitor="valid.acc"')
        self.assertIn('unknown monitor "valid.acc"', c["evalue"])
        self.assertIn('"valid.r2"', c["evalue"])
        ename, evalue = self.run_error('train lin on gg epochs=1')
        self.assertIn("takes inputs of shape [5], but the train samples are [1, 16, 16]", evalue)
        ename, evalue = self.run_error('evaluate lin on rg')
        self.assertIn("regress data set", evalue)
        ename, evalue = self.run_error(f'x = csv("{TMP}/reg.csv", target="nope")')
        self.assertIn("nope", evalue)
        # data sets without a class per sample: shown, sampled and refused where classes are needed
        self.run_ok('samples gg.valid 2\nsg = sample(gg, 0)')
        self.assertEqual(lbtest.value(self.kc, "sg.label == none"), "true")
        self.assertEqual(lbtest.value(self.kc, "sg.shape"), "[1, 16, 16]")
        ename, evalue = self.run_error('gg.train.labels')
        self.assertIn("has no class labels", evalue)
        ename, evalue = self.run_error('model pix = sequential(conv2d(1, 3, 3, pad=1)) input=[1, 16, 16]\n'
                                       'samples gg.valid 2 model=pix')
        self.assertIn("no class per sample", evalue)
        ename, evalue = self.run_error('model flat = sequential(flatten(), linear(256, 3)) input=[1, 16, 16]\n'
                                       'train flat on gg task="classify" epochs=1')
        self.assertIn("task classify needs one class per sample; field y of shapes is [16, 16]", evalue)
        ename, evalue = self.run_error('evaluate flat on gg.valid')
        self.assertIn("segment data set", evalue)
        # generated sets: an explicit valid count replaces the default fraction; sizes are bounded
        self.assertEqual(lbtest.value(self.kc, 'shapes(n=30, test=0, valid=7).valid.size'), "7")
        self.assertEqual(lbtest.value(self.kc, 'shapes(n=30, test=0).valid.size'), "6")
        ename, evalue = self.run_error('pairs(classes=4294967298)')
        self.assertIn("at most 100", evalue)
        ename, evalue = self.run_error('shapes(n=70368744177664, size=256)')
        self.assertIn("more than labbook holds", evalue)
        # and held to the limit of data (LABBOOK_MAX_DATA, by default half of the memory), before
        # anything is drawn: pairs(n=100000000) drew 12 GB for minutes
        script = os.path.join(TMP, "limit.lab")
        with open(script, "w") as f:
            f.write("a = pairs(n=1000, test=0)\nprint a.train.size\nb = pairs(n=10000, test=0)\n"
                    "c = shapes(n=10, test=0, size=64)\n")
        r = subprocess.run([lbtest.EXE, "run", script], capture_output=True, text=True,
                           timeout=lbtest.limit(60), env=dict(os.environ, LABBOOK_MAX_DATA="1M"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("900\n", r.stdout)
        self.assertIn("ValueError: pairs(): 10000 samples take 1.2 MB, more than the 1.0 MB that data "
                      "may take (LABBOOK_MAX_DATA, by default half of this machine's memory)", r.stderr)
        with open(script, "w") as f:
            f.write("c = shapes(n=100, test=0, size=64)\n")
        r = subprocess.run([lbtest.EXE, "run", script], capture_output=True, text=True,
                           timeout=lbtest.limit(60), env=dict(os.environ, LABBOOK_MAX_DATA="1M"))
        self.assertIn("ValueError: shapes(): 100 samples take 7.8 MB, more than the 1.0 MB", r.stderr)


if __name__ == "__main__":
    unittest.main()
