"""test_unchanged.py — the reference notebooks and training give the same results, bit for bit,
as labbook did before the architecture issue (commit lbrev.BEFORE_ARCHITECTURE: one kernel/ folder, a trainer tied to
image classification), on this machine, in this run.

The commit is built beside the current tree (tests/lbrev.py, cached in build/rev-*), and both
programs run the same script: the CNN lab's sweep (notebooks/cnn-lab.ipynb's models and
settings, on a smaller subset of Fashion-MNIST), an MLP, and a run that uses Adam, a cosine
schedule with warm-up, clipping, label smoothing, weight decay and early stopping. Every run's
history (all but the timings), final train/valid/test metrics (with the test split's per-class
accuracy and confusion matrix), stopping epochs, starting and final weight hashes and data
fingerprint must be identical. The same thread count and OpenBLAS core are used for both (the
record states them), which is what bit-identity is promised for.

The reference notebooks themselves (notebooks/cnn-lab.ipynb, quickstart.ipynb) are executed with
nbclient by both kernels (the earlier one through a kernelspec made for it here): the CNN lab's
exported runs (every run's settings and final metrics, written exactly) and every text output of
both notebooks must be the same, except what measures time.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbrev  # noqa: E402
import lbtest  # noqa: E402

SCRIPT = """use cnn
use mlp
seed 0
f = fashion_mnist(valid=1000, seed=0, train=3000, test=1000)
model pool = cnn(channels=[16, 32], pool="max")
model stride = cnn(channels=[16, 32], pool="stride")
model m = mlp(hidden=[64])
runs = train pool stride m on f epochs=2 opt="sgd" lr=[0.1, 0.01] batch=64 seed=1 live=false curves=false
export runs "{out}/sweep.json"
r2 = train pool on f epochs=4 opt="adam" lr=0.002 weight_decay=1e-4 schedule="cosine" warmup=20 clip=1 label_smoothing=0.1 patience=1 seed=3 live=false curves=false
export r2 "{out}/adam.json"
"""

TIMINGS = ("seconds", "samples_per_s")
KEYS = ("name", "status", "epochs_run", "best_epoch", "kept_epoch", "init_sha256", "weights_sha256", "final")


def results(path):
    with open(path) as f:
        runs = json.load(f)["runs"]
    out = []
    for r in runs:
        d = {k: r.get(k) for k in KEYS}
        d["history"] = [{k: v for k, v in ep.items() if k not in TIMINGS} for ep in r["history"]]
        d["data"] = r["data"]["fingerprint"]
        d["blas_core"] = r["blas"]["core"]
        d["threads"] = r["threads"]
        out.append(d)
    return out


class Unchanged(unittest.TestCase):
    def run_script(self, exe, plugins, out):
        os.makedirs(out)
        path = os.path.join(out, "lab.lab")
        with open(path, "w") as f:
            f.write(SCRIPT.format(out=out))
        env = dict(os.environ, LABBOOK_PLUGIN_PATH=plugins)
        r = subprocess.run([exe, "run", path, "--out", os.path.join(out, "html")], cwd=out, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=lbtest.limit(600))
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        return results(os.path.join(out, "sweep.json")) + results(os.path.join(out, "adam.json"))

    def test_training_bit_identical_to_before(self):
        try:
            old_exe, old_plugins = lbrev.build(lbrev.BEFORE_ARCHITECTURE)
        except lbrev.RevUnavailable as e:
            self.skipTest(str(e))
        tmp = tempfile.mkdtemp(prefix="lb_unchanged_")
        before = self.run_script(old_exe, old_plugins, os.path.join(tmp, "before"))
        now = self.run_script(os.path.join(lbrev.BUILD, "labbook"), os.path.join(lbrev.BUILD, "plugins"),
                              os.path.join(tmp, "now"))
        self.assertEqual(len(before), 7)
        self.assertEqual([r["name"] for r in now], [r["name"] for r in before])
        for b, n in zip(before, now):
            with self.subTest(run=b["name"]):
                self.assertEqual((n["blas_core"], n["threads"]), (b["blas_core"], b["threads"]))
                self.assertEqual(n, b)
        print("\n  %d runs bit-identical to %s (core %s, %d threads)"
              % (len(now), lbrev.BEFORE_ARCHITECTURE, now[0]["blas_core"], now[0]["threads"]), flush=True)


NOTEBOOKS = ("quickstart.ipynb", "cnn-lab.ipynb")
TIMED = ("samples/s", "s/epoch", "seconds", "samples_per_s", "epochs in", "started", "remaining", "elapsed")


def kernelspec(top, name, exe, plugins):
    """A kernelspec NAME under top/kernels for the labbook program exe."""
    d = os.path.join(top, "kernels", name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "kernel.json"), "w") as f:
        json.dump({"argv": [exe, "kernel", "-f", "{connection_file}"], "display_name": name, "language": "labbook",
                   "interrupt_mode": "signal", "env": {"LABBOOK_PLUGIN_PATH": plugins}}, f)


def texts(nb):
    """Every text output of the notebook's code cells (streams, results, displays' text/plain),
    without those that hold timings."""
    out = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        for o in c.outputs:
            t = o.get("text") if o.output_type == "stream" else o.get("data", {}).get("text/plain")
            if o.output_type == "error":
                t = o.ename + ": " + o.evalue
            if t is not None and not any(w in t for w in TIMED):
                out.append((i, t))
    return out


def metric_rows(path):
    """The exported runs' names, statuses and final metrics (train., valid., test. columns)."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in r.items() if k in ("name", "status", "epochs") or k.split(".")[0] in
             ("train", "valid", "test")} for r in rows]


class NotebooksUnchanged(unittest.TestCase):
    def execute(self, name, kernel, cwd):
        import nbformat
        from nbclient import NotebookClient
        nb = nbformat.read(os.path.join(lbtest.ROOT, "notebooks", name), as_version=4)
        os.makedirs(cwd)
        NotebookClient(nb, timeout=int(lbtest.limit(600)), kernel_name=kernel, allow_errors=False,
                       resources={"metadata": {"path": cwd}}, iopub_timeout=int(lbtest.limit(60)),
                       raise_on_iopub_timeout=True, startup_timeout=int(lbtest.limit(60))).execute()
        return nb

    def test_notebooks_as_before(self):
        try:
            old_exe, old_plugins = lbrev.build(lbrev.BEFORE_ARCHITECTURE)
        except lbrev.RevUnavailable as e:
            self.skipTest(str(e))
        tmp = tempfile.mkdtemp(prefix="lb_unchanged_nb_")
        kernelspec(tmp, "labbook-before", old_exe, old_plugins)
        kernelspec(tmp, "labbook-now", lbtest.EXE, os.path.join(os.path.dirname(lbtest.EXE), "plugins"))
        saved = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = tmp + (os.pathsep + saved if saved else "")
        try:
            for name in NOTEBOOKS:
                with self.subTest(notebook=name):
                    runs = {}
                    got = {}
                    for kernel in ("labbook-before", "labbook-now"):
                        cwd = os.path.join(tmp, kernel, name)
                        got[kernel] = texts(self.execute(name, kernel, cwd))
                        csv_path = os.path.join(cwd, "cnn-lab-runs.csv")
                        if os.path.exists(csv_path):
                            runs[kernel] = metric_rows(csv_path)
                    self.assertGreater(len(got["labbook-now"]), 5)
                    self.assertEqual(got["labbook-now"], got["labbook-before"])
                    print("\n  %s: %d text outputs the same" % (name, len(got["labbook-now"])), flush=True)
                    if name == "cnn-lab.ipynb":
                        self.assertEqual(len(runs["labbook-now"]), 6)
                        self.assertEqual(runs["labbook-now"], runs["labbook-before"])
        finally:
            if saved is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = saved
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
