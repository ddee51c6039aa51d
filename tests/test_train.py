"""Training through the real kernel (jupyter_client over ZeroMQ, real Fashion-MNIST, the cnn
and mlp plugins loaded with dlopen): sweeps expand to the cartesian product in order and end in
one comparison table sorted by the monitor with the best values marked; run records hold every
field the issue lists; runs are values (runs.best(...).test.acc); `runs`, `export` (CSV and
JSON, atomic), `evaluate` (metrics consistent with the confusion matrix), `confusion`,
`samples model=`; the live progress display is created once and updated in place at most
5 times a second (+ the final state), by the kernel's own time stamps; an interrupt during
training stops it, keeps the completed epochs (run marked interrupted) and the weights; a NaN loss is an error
naming the epoch and batch; bad settings are errors at the right column; the same seed gives
bit-identical metrics."""

import csv
import datetime
import json
import os
import queue
import re
import tempfile
import time
import unittest

import lbtest
from lbtest import limit

SANITIZE = True      # tests/run.py runs this suite again against the ASan+UBSan kernel

SETUP = ('use cnn\nuse mlp\n'
         'f = fashion_mnist(valid=300, train=900, test=400, seed=0)\n'
         'model a = cnn(channels=[4, 8], pool="max") seed=1\n'
         'model b = cnn(channels=[4, 8], pool="stride") seed=1\n'
         'model m = mlp(hidden=[32]) seed=2')


def when(msg):
    d = msg["header"]["date"]
    if isinstance(d, str):
        d = datetime.datetime.fromisoformat(d.replace("Z", "+00:00"))
    return d.timestamp()


class TrainTests(lbtest.KernelCase):
    SETUP = SETUP
    CELL_TIMEOUT = limit(60)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.tmp.cleanup()

    def val(self, expr):
        return lbtest.value(self.kc, expr)

    def tables(self, outputs):
        return [m["content"]["data"] for m in outputs
                if m["msg_type"] == "display_data" and "text/html" in m["content"]["data"]
                and "<table" in m["content"]["data"]["text/html"]
                and "labbook-progress" not in m["content"]["data"]["text/html"]]

    # ---- sweeps, the comparison table, run values --------------------------------------

    def test_sweep_order_table_and_values(self):
        out = self.run_ok('s = train a b on f epochs=2 lr=[0.1, 0.01] batch=[32, 64] seed=3 '
                          'curves=false')
        self.assertEqual(self.val("s.count"), "8")
        # models outermost, then the settings in the order written (lr, then batch)
        want = ["a lr=0.1 batch=32", "a lr=0.1 batch=64", "a lr=0.01 batch=32",
                "a lr=0.01 batch=64", "b lr=0.1 batch=32", "b lr=0.1 batch=64",
                "b lr=0.01 batch=32", "b lr=0.01 batch=64"]
        for i, name in enumerate(want):
            self.assertEqual(self.val(f"s.list[{i}].name"), repr(name).replace("'", '"'))
            self.assertEqual(self.val(f's.list[{i}].status'), '"finished"')
        # one comparison table, sorted by valid.acc (best first), best marked
        tabs = self.tables(out)
        self.assertEqual(len(tabs), 1, [list(t) for t in tabs])
        plain = tabs[0]["text/plain"]
        self.assertIn("valid.acc", plain)
        for mime in ("text/plain", "text/html", "text/markdown"):
            self.assertIn(mime, tabs[0])
        lines = plain.splitlines()
        hdr = lines[0].split()
        col = hdr.index("valid.acc")
        rows = [l.split() for l in lines[2:]]
        # the run names hold spaces: read valid.acc from the right end instead
        right = len(hdr) - col
        accs = [float(r[-right].rstrip("*")) for r in rows]
        self.assertEqual(accs, sorted(accs, reverse=True), plain)
        self.assertTrue(rows[0][-right].endswith("*"), plain)  # the best value is marked
        self.assertIn("<strong>", tabs[0]["text/html"])
        # runs.best agrees with the table and reaches into the record with `.`
        best = float(self.val('s.best("valid.acc").valid.acc'))
        self.assertAlmostEqual(best, accs[0], places=4)
        lossbest = float(self.val('s.best("valid.loss").valid.loss'))
        losses = [float(self.val(f"s.list[{i}].valid.loss")) for i in range(8)]
        self.assertAlmostEqual(lossbest, min(losses), places=12)
        t = float(self.val('s.best("valid.acc").test.acc'))
        self.assertTrue(0 <= t <= 1)
        # each model holds the weights of its best run
        stream = lbtest.stream_text(out)
        self.assertRegex(stream, r"a holds the weights of run \d+ \(a lr=")

    def test_record_fields(self):
        self.run_ok('r1 = train m on f epochs=2 lr=0.05 momentum=0.9 seed=4 live=false')
        rec = json.loads(self.export_json("r1"))["runs"][0]
        for key in ("id", "name", "model", "spec", "settings", "seed", "data", "plugins",
                    "labbook", "threads", "host", "started", "seconds", "history", "final",
                    "reproducible", "config_sha256", "init_sha256", "weights_sha256", "params",
                    "samples_per_s", "seconds_per_epoch", "status"):
            self.assertIn(key, rec)
        self.assertEqual(rec["spec"], "mlp(hidden=[32])")
        self.assertEqual(rec["settings"]["lr"], 0.05)
        self.assertEqual(rec["settings"]["momentum"], 0.9)
        self.assertEqual(rec["settings"]["opt"], "sgd")
        self.assertEqual(rec["seed"], 4)
        self.assertEqual(len(rec["data"]["fingerprint"]), 64)
        self.assertEqual(rec["data"]["splits"], {"train": 900, "valid": 300, "test": 400})
        self.assertEqual(sorted(p["name"] for p in rec["plugins"]), ["cnn", "layers", "mlp"])
        used = {p["name"]: p["used"] for p in rec["plugins"]}
        self.assertEqual(used, {"mlp": True, "layers": True, "cnn": False})
        for p in rec["plugins"]:
            self.assertRegex(p["sha256"], "^[0-9a-f]{64}$")
            self.assertTrue(p["version"])
        self.assertEqual(len(rec["history"]), 2)
        for e, ep in enumerate(rec["history"]):
            self.assertEqual(ep["epoch"], e + 1)
            for k in ("train.loss", "train.acc", "valid.loss", "valid.acc", "valid.top5", "lr",
                      "seconds", "samples_per_s"):
                self.assertIn(k, ep)
        t = rec["final"]["test"]
        self.assertEqual(t["samples"], 400)
        cm = t["confusion"]
        self.assertEqual(sum(map(sum, cm)), 400)
        self.assertAlmostEqual(t["acc"], sum(cm[i][i] for i in range(10)) / 400, places=12)
        for i, (cls, acc) in enumerate(t["per_class"].items()):
            n = sum(cm[i])
            if n:
                self.assertAlmostEqual(acc, cm[i][i] / n, places=12)
        self.assertIn("bit-identical", rec["reproducible"])
        # every metric the record holds says which way it is better (nothing is guessed from names)
        self.assertEqual(rec["metrics"], {"loss": "lower", "acc": "higher", "top5": "higher", "seconds": "lower",
                                          "seconds_per_epoch": "lower", "samples_per_s": "higher"})
        self.assertEqual(rec["params"], 784 * 32 + 32 + 32 * 10 + 10)
        self.assertEqual(self.val("r1.best().params"), str(rec["params"]))

    def export_json(self, var):
        path = os.path.join(self.tmp.name, f"{var}.json")
        out = self.run_ok(f'export {var} "{path}"')
        self.assertIn(f"wrote", lbtest.stream_text(out))
        with open(path) as f:
            return f.read()

    def test_bit_identical_and_seed_matters(self):
        self.run_ok('d1 = train a on f epochs=2 lr=0.05 seed=9 live=false curves=false\n'
                    'd2 = train a on f epochs=2 lr=0.05 seed=9 live=false curves=false\n'
                    'd3 = train a on f epochs=2 lr=0.05 seed=10 live=false curves=false')
        # a's weights changed between d1 and d2 (it holds d1's best), so train from the same
        # starting point explicitly: compare histories of runs started from equal weights
        r = [json.loads(self.export_json(v))["runs"][0] for v in ("d1", "d2", "d3")]
        self.assertNotEqual(r[0]["init_sha256"], r[1]["init_sha256"])
        self.run_ok('model c1 = cnn(channels=[4, 8]) seed=5\nmodel c2 = cnn(channels=[4, 8]) seed=5\n'
                    'e1 = train c1 on f epochs=2 lr=0.05 seed=9 live=false curves=false\n'
                    'e2 = train c2 on f epochs=2 lr=0.05 seed=9 live=false curves=false\n'
                    'model c3 = cnn(channels=[4, 8]) seed=5\n'
                    'e3 = train c3 on f epochs=2 lr=0.05 seed=10 live=false curves=false')
        e = [json.loads(self.export_json(v))["runs"][0] for v in ("e1", "e2", "e3")]
        self.assertEqual(e[0]["init_sha256"], e[1]["init_sha256"])
        strip = lambda h: [{k: v for k, v in ep.items() if k not in ("seconds", "samples_per_s")}
                           for ep in h]
        self.assertEqual(strip(e[0]["history"]), strip(e[1]["history"]))
        self.assertEqual(e[0]["weights_sha256"], e[1]["weights_sha256"])
        self.assertEqual(e[0]["final"]["test"], e[1]["final"]["test"])
        self.assertEqual(e[0]["config_sha256"], e[1]["config_sha256"])
        self.assertNotEqual(e[0]["history"][0]["train.loss"], e[2]["history"][0]["train.loss"])
        self.assertNotEqual(e[0]["config_sha256"], e[2]["config_sha256"])

    def test_early_stopping_and_schedule(self):
        # min_delta=1 makes every epoch after the first a non-improvement
        self.run_ok('model es = cnn(channels=[4, 8]) seed=1\n'
                    'st = train es on f epochs=5 lr=0.05 patience=1 min_delta=1 live=false curves=false')
        rec = json.loads(self.export_json("st"))["runs"][0]
        self.assertEqual(rec["status"], "stopped early")
        self.assertEqual(rec["epochs_run"], 2)
        self.assertEqual(rec["best_epoch"], 1)
        self.assertEqual(rec["kept_epoch"], 1)
        self.assertEqual(rec["final"]["valid"]["acc"], rec["history"][0]["valid.acc"])
        # the model holds the best epoch's weights: evaluating it gives that epoch's numbers
        self.run_ok('ee = evaluate es on f.valid')
        self.assertAlmostEqual(float(self.val("ee.acc")), rec["history"][0]["valid.acc"], places=12)
        self.assertAlmostEqual(float(self.val("ee.loss")), rec["history"][0]["valid.loss"], places=6)
        # a step schedule halves the rate every epoch (the history keeps each epoch's last rate)
        self.run_ok('sc = train es on f epochs=3 lr=0.1 schedule="step" step_size=1 gamma=0.5 '
                    'live=false curves=false')
        rec = json.loads(self.export_json("sc"))["runs"][0]
        self.assertEqual([ep["lr"] for ep in rec["history"]], [0.1, 0.05, 0.025])
        # warm-up: the first batch runs at lr / warmup
        self.run_ok('wu = train es on f epochs=1 lr=0.1 warmup=1000 batch=900 live=false curves=false')
        rec = json.loads(self.export_json("wu"))["runs"][0]
        self.assertAlmostEqual(rec["history"][0]["lr"], 0.1 / 1000, places=9)

    def test_no_valid_split_ranks_by_train_loss(self):
        # a bare split has no valid part: runs are ranked by train.loss, and best() uses it
        self.run_ok('tv = train m on f.test epochs=1 lr=[0.05, 0.001] live=false curves=false')
        self.assertEqual(self.val("tv.best().settings.monitor"), '"train.loss"')
        losses = [float(self.val(f"tv.list[{i}].train.loss")) for i in range(2)]
        self.assertEqual(float(self.val("tv.best().train.loss")), min(losses))
        c = self.run_fail('tv.best("valid.acc")')
        self.assertEqual(c["ename"], "ValueError")
        self.assertIn('"valid.acc"', c["evalue"])

    # ---- export, runs, evaluate, confusion, samples --------------------------------------

    def test_export_csv_and_runs(self):
        self.run_ok('x = train a on f epochs=2 lr=[0.05, 0.02] live=false curves=false')
        p1 = os.path.join(self.tmp.name, "x.csv")
        p2 = os.path.join(self.tmp.name, "x_epochs.csv")
        self.run_ok(f'export x "{p1}"\nexport x "{p2}" epochs=true')
        with open(p1) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([r["name"] for r in rows], ["a lr=0.05", "a lr=0.02"])
        self.assertEqual([float(r["lr"]) for r in rows], [0.05, 0.02])
        for r in rows:
            self.assertTrue(0 <= float(r["test.acc"]) <= 1)
            self.assertEqual(r["status"], "finished")
            self.assertEqual(len(r["data_fingerprint"]), 64)
        ids = [int(r["id"]) for r in rows]
        self.assertEqual(float(rows[0]["valid.acc"]), float(self.val(f"x.get({ids[0]}).valid.acc")))
        with open(p2) as f:
            rows2 = list(csv.DictReader(f))
        self.assertEqual([(r["name"], r["epoch"]) for r in rows2],
                         [("a lr=0.05", "1"), ("a lr=0.05", "2"), ("a lr=0.02", "1"), ("a lr=0.02", "2")])
        self.assertEqual([f for f in os.listdir(self.tmp.name) if ".tmp" in f], [])
        c = self.run_fail(f'export x "{self.tmp.name}/x.txt"')
        self.assertEqual(c["ename"], "ValueError")
        c = self.run_fail('export x "/nonexistent-dir/x.csv"')
        self.assertEqual(c["ename"], "IOError")
        self.assertIn("/nonexistent-dir/x.csv", c["evalue"])
        # `runs` lists the whole session
        out = self.run_ok('runs sort="valid.acc"')
        tabs = self.tables(out)
        self.assertEqual(len(tabs), 1)
        self.assertIn("a lr=0.02", tabs[0]["text/plain"])

    def test_evaluate_confusion_samples(self):
        out = self.run_ok('ev = evaluate m on f.valid')
        acc = float(self.val("ev.acc"))
        cm = json.loads(self.val("ev.confusion"))
        self.assertEqual(sum(map(sum, cm)), 300)
        self.assertAlmostEqual(acc, sum(cm[i][i] for i in range(10)) / 300, places=12)
        self.assertEqual(len(self.tables(out)), 2)  # metrics and per-class accuracy
        out = self.run_ok('confusion m on f.test')
        imgs = [o for o in out if o["msg_type"] == "display_data" and "image/png" in o["content"]["data"]]
        self.assertEqual(len(imgs), 1)
        self.assertIn("heatmap", imgs[0]["content"]["data"]["text/plain"])
        self.assertIn("image/png", imgs[0]["content"]["metadata"])
        out = self.run_ok('samples f.test 8 model=m')
        imgs = [o for o in out if o["msg_type"] == "display_data"]
        self.assertEqual(len(imgs), 1)
        self.assertIn("predicted (true)", imgs[0]["content"]["data"]["text/plain"])
        c = self.run_fail('evaluate f on f.test')
        self.assertEqual(c["ename"], "TypeError")

    def test_plot_runs(self):
        self.run_ok('pr = train a on f epochs=2 lr=[0.05, 0.01] live=false curves=false')
        out = self.run_ok('plot pr loss valid.acc')
        imgs = [o for o in out if o["msg_type"] == "display_data"]
        self.assertEqual(len(imgs), 1)
        text = imgs[0]["content"]["data"]["text/plain"]
        self.assertIn("line chart 1280x400", text)
        self.assertIn("a lr=0.05", text)
        c = self.run_fail('plot pr nosuchmetric')
        self.assertEqual(c["ename"], "ValueError")

    # ---- errors --------------------------------------------------------------------------

    def test_setting_errors(self):
        c = self.run_fail('train a on f lrr=0.1')
        self.assertEqual(c["ename"], "TypeError")
        self.assertIn("did you mean 'lr'", c["evalue"])
        c = self.run_fail('train a on f opt="adm"')
        self.assertEqual(c["ename"], "ValueError")
        self.assertIn('did you mean "adam"', c["evalue"])
        c = self.run_fail('train a on f lr=[0.1, -1]')
        self.assertEqual(c["ename"], "ValueError")
        self.assertIn("lr must be", c["evalue"])
        c = self.run_fail('train a f')
        self.assertEqual(c["ename"], "TypeError")
        self.assertIn("usage: train MODEL... on DATA", c["evalue"])
        c = self.run_fail('train a b f')
        self.assertEqual(c["ename"], "SyntaxError")
        self.assertIn("usage: train MODEL... on DATA", c["evalue"])
        c = self.run_fail('model w = mlp(hidden=[8]) input=[100]\ntrain w on f')
        self.assertEqual(c["ename"], "ValueError")
        self.assertIn("[100]", c["evalue"])
        tb = "\n".join(c["traceback"])
        self.assertIn("line 2", lbtest.strip_ansi(tb))
        self.assertEqual(self.val("1 + 1"), "2")  # the kernel keeps serving

    def test_monitor_and_directions_come_from_the_task(self):
        # monitor must name a metric the epochs record, with a direction: a typo gets "did you mean"
        c = self.run_fail('train m on f epochs=1 monitor="valid.accc" live=false')
        self.assertEqual(c["ename"], "ValueError")
        self.assertIn('unknown monitor "valid.accc" (did you mean "valid.acc"?)', c["evalue"])
        self.assertIn("column 31", lbtest.strip_ansi("\n".join(c["traceback"])))
        # the top-k metric follows topk= (it used to be valid.top5 whatever k was)
        self.run_ok('rk = train m on f epochs=2 topk=3 monitor="valid.top3" lr=0.05 seed=2 live=false curves=false')
        rec = json.loads(self.export_json("rk"))["runs"][0]
        self.assertEqual(rec["metrics"]["top3"], "higher")
        self.assertEqual(rec["settings"]["monitor"], "valid.top3")
        # ranking by a lower-is-better metric picks the lowest, by a higher one the highest
        self.run_ok('rl = train m on f epochs=1 lr=[0.1, 0.001] seed=2 live=false curves=false')
        losses = json.loads(self.export_json("rl"))["runs"]
        lowest = min(losses, key=lambda r: r["final"]["valid"]["loss"])["id"]
        highest = max(losses, key=lambda r: r["final"]["valid"]["acc"])["id"]
        self.assertEqual(self.val('rl.best("valid.loss").id'), str(lowest))
        self.assertEqual(self.val('rl.best("valid.acc").id'), str(highest))
        # a count has no better direction: not ranked
        c = self.run_fail('rl.best("params")')
        self.assertEqual(c["ename"], "ValueError")
        self.assertIn('no run has a ranked metric "params"', c["evalue"])

    def test_nan_loss(self):
        self.run_ok('model n = cnn(channels=[4, 8]) seed=1')
        c = self.run_fail('nr = train n on f epochs=3 lr=1e6 live=false curves=false')
        self.assertEqual(c["ename"], "TrainingError")
        self.assertRegex(c["evalue"], r"the loss is (NaN|infinite) at epoch 1, batch \d+")
        self.assertEqual(self.val("nr.list[0].status"), '"failed"')
        self.assertEqual(self.val("len(nr.list[0].history)"), "0")
        # the model can still be evaluated (its loss may be NaN now) and the kernel serves on
        self.run_ok('en = evaluate n on f.valid')
        self.assertEqual(self.val("en.samples"), "300")

    # ---- live progress ------------------------------------------------------------------

    def test_progress_updates_bounded(self):
        # a model big enough for the run to last a few seconds (many throttled redraws); the
        # ASan kernel is several times slower, so fewer epochs give it as many
        epochs = 3 if lbtest.ASAN else 10
        self.run_ok('model big = cnn(channels=[16, 32]) seed=1')
        msg_id = self.kc.execute(f'pg = train big on f epochs={epochs} lr=0.05 batch=16')
        reply = lbtest.shell_reply(self.kc, msg_id, timeout=limit(180))
        msgs = lbtest.iopub_until_idle(self.kc, msg_id, timeout=limit(60))
        self.assertEqual(reply["content"]["status"], "ok", reply["content"])
        created = [m for m in msgs if m["msg_type"] == "display_data"
                   and "labbook-progress" in m["content"]["data"].get("text/html", "")]
        self.assertEqual(len(created), 1)
        pid = created[0]["content"]["transient"]["display_id"]
        ups = [m for m in msgs if m["msg_type"] == "update_display_data"
               and m["content"]["transient"]["display_id"] == pid]
        self.assertGreater(len(ups), 1)
        times = [when(created[0])] + [when(m) for m in ups]
        # every update but the final one at least 0.2 s after the one before, by the kernel's
        # stamps (its throttle counts from when the previous one went out, so a slow machine
        # only makes the gaps longer; 0.19: room for the microsecond stamps)
        gaps = [b - a for a, b in zip(times[:-1], times[1:-1])]
        self.assertTrue(all(g >= 0.19 for g in gaps), gaps)
        # so no second holds more than 5 (+1: the final state)
        for t in times:
            self.assertLessEqual(sum(1 for u in times if t <= u < t + 1), 6)
        final = ups[-1]["content"]["data"]
        self.assertIn("finished", final["text/plain"])
        # the live curves: one display, updated in place
        curves = [m for m in msgs if m["msg_type"] == "display_data"
                  and "image/png" in m["content"]["data"]]
        self.assertEqual(len(curves), 1)
        cid = curves[0]["content"]["transient"]["display_id"]
        self.assertNotEqual(cid, pid)
        cups = [m for m in msgs if m["msg_type"] == "update_display_data"
                and m["content"]["transient"]["display_id"] == cid]
        self.assertGreaterEqual(len(cups), 1)
        self.assertIn("image/png", cups[-1]["content"]["data"])
        self.assertIn("width", cups[-1]["content"]["metadata"]["image/png"])

    def test_interrupt_during_evaluate(self):
        """Evaluation polls after every batch too: answered within a second, variables kept."""
        lbtest.drain(self.kc)
        code = 'kept_ev = 42\nprint "in"\n' + "\n".join(["ev = evaluate a on f.train"] * 5000)
        msg_id = lbtest.start_blocking(self.kc, code)
        t0 = time.monotonic()
        self.km.interrupt_kernel()
        reply = lbtest.shell_reply(self.kc, msg_id, timeout=limit(120))
        self.assertLess(time.monotonic() - t0, limit(1))
        c = reply["content"]
        self.assertEqual((c["status"], c.get("ename")), ("error", "Interrupted"), c.get("evalue"))
        lbtest.iopub_until_idle(self.kc, msg_id)
        self.assertEqual(self.val("kept_ev"), "42")
        self.run_ok("ev2 = evaluate a on f.valid")

    def test_interrupt_during_training(self):
        self.run_ok('model q = cnn(channels=[4, 8]) seed=1\nq0 = evaluate q on f.valid')
        msg_id = self.kc.execute('qi = train q on f epochs=400 lr=0.05 batch=16 curves=false')
        deadline = time.monotonic() + limit(120)
        # wait until the progress says epoch 3 is under way (two epochs complete)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f"training never reached epoch 3 within {limit(120):g} s")
            try:
                m = self.kc.get_iopub_msg(timeout=min(left, 0.5))
            except queue.Empty:
                lbtest.check_alive(self.kc)
                continue
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            self.assertFalse(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle",
                             "the training ended before epoch 3")
            if m["msg_type"] in ("display_data", "update_display_data") and \
                    re.search(r"epoch ([3-9]|\d\d+)/400", m["content"]["data"].get("text/plain", "")):
                break
        self.km.interrupt_kernel()
        t0 = time.monotonic()
        # the reply comes long before 400 epochs could end (the status below says why it came),
        # within a second: the loop polls after every batch
        reply = lbtest.shell_reply(self.kc, msg_id, timeout=limit(30))
        self.assertLess(time.monotonic() - t0, limit(1))
        msgs = lbtest.iopub_until_idle(self.kc, msg_id)
        c = reply["content"]
        self.assertEqual(c["status"], "error")
        self.assertEqual(c["ename"], "Interrupted")
        self.assertIn("kept", c["evalue"])
        finals = [m for m in msgs if m["msg_type"] == "update_display_data"]
        self.assertIn("interrupted", finals[-1]["content"]["data"]["text/plain"])
        # the runs value was assigned with the interrupted run and its completed epochs
        self.assertEqual(self.val("qi.list[0].status"), '"interrupted"')
        epochs = int(self.val("qi.list[0].epochs"))
        self.assertGreaterEqual(epochs, 2)
        self.assertLess(epochs, 400)
        self.assertEqual(self.val("len(qi.list[0].history)"), str(epochs))
        # and the model kept its trained weights: better than at initialisation
        self.run_ok('q1 = evaluate q on f.valid')
        self.assertLess(float(self.val("q1.loss")), float(self.val("q0.loss")))
        self.assertEqual(self.val("1 + 2"), "3")


if __name__ == "__main__":
    unittest.main()
