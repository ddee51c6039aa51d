"""Data sets through the real kernel: fashion_mnist() against what Python reads from the
Debian package's gz files with gzip + struct (sizes, labels, pixels), the documented seeded
split and subsets reproduced by a Python PCG32 + Fisher-Yates (tests/lbdata.py, from
spec/language.md §10), the normalisation statistics and the SHA-256 fingerprint recomputed
from the spec with numpy (so lbdata.fashion_mnist() is bit for bit the kernel's data), the
summary table, `samples` as display_data image/png, and idx() / csv() on small files with
their errors."""

import base64
import gzip
import json
import os
import re
import struct
import subprocess
import tempfile
import time
import unittest

import numpy as np

import lbdata
import lbtest

SANITIZE = True      # tests/run.py runs this suite again against the ASan+UBSan kernel

from lbdata import CLASSES, FASHION, shuffle, split_rows, read_idx, byte_stats

@unittest.skipUnless(os.path.exists(os.path.join(FASHION, "train-images-idx3-ubyte.gz")),
                     "the Debian package dataset-fashion-mnist is not installed")
class FashionMnistTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = lbtest.start_kernel()
        t0 = time.monotonic()
        reply, _ = lbtest.execute(cls.kc, "f = fashion_mnist()", timeout=lbtest.limit(120))
        cls.load_seconds = time.monotonic() - t0
        assert reply["content"]["status"] == "ok", reply["content"]
        print(f"\n    fashion_mnist() took {cls.load_seconds:.2f} s in the {lbtest.VARIANT} kernel "
              "(execute round trip)", flush=True)
        dims, cls.train_px = read_idx(os.path.join(FASHION, "train-images-idx3-ubyte.gz"))
        assert dims == (60000, 28, 28)
        _, cls.train_y = read_idx(os.path.join(FASHION, "train-labels-idx1-ubyte.gz"))
        _, cls.test_px = read_idx(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"))
        _, cls.test_y = read_idx(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz"))

    @classmethod
    def tearDownClass(cls):
        lbtest.stop_kernel(cls.km, cls.kc)

    def value(self, code):
        return lbtest.value(self.kc, code, timeout=lbtest.limit(120))

    def json_value(self, code):
        return json.loads(self.value(code))

    def run_ok(self, code):
        return lbtest.KernelCase.run_ok(self, code, timeout=lbtest.limit(120))

    def test_sizes_classes_shape(self):
        self.assertEqual(self.json_value("[f.train.size, f.valid.size, f.test.size]"),
                         [50000, 10000, 10000])
        self.assertEqual(self.json_value("f.train.shape"), [1, 28, 28])
        self.assertEqual(self.json_value("f.classes"), CLASSES)
        self.assertEqual(self.json_value("f.splits"), ["train", "valid", "test"])
        self.assertEqual(self.value("type(f)"), '"dataset"')
        self.assertEqual(self.value("type(f.test)"), '"split"')

    def test_labels_match_python(self):
        self.assertEqual(self.json_value("f.test.labels")[:100], list(self.test_y[:100]))
        self.assertEqual(self.json_value("f.test.labels"), list(self.test_y))
        # the documented split: valid = the first 10000 of Fisher-Yates(60000, seed 0), sorted
        train_rows, valid_rows = split_rows(60000, 10000, 0)
        self.assertEqual(self.json_value("f.valid.indices"), list(valid_rows))
        self.assertEqual(self.json_value("f.train.indices"), list(train_rows))
        self.assertEqual(self.json_value("f.train.labels"), [self.train_y[i] for i in train_rows])
        self.assertEqual(self.json_value("keys(f.valid.counts)"), CLASSES)
        counts = self.json_value("[" + ", ".join(f'f.valid.counts["{n}"]' for n in CLASSES) + "]")
        for c, name in enumerate(CLASSES):
            self.assertEqual(counts[c], sum(1 for i in valid_rows if self.train_y[i] == c))

    def test_pixels_match_python(self):
        """Samples 0 and 59999 of the training file and 0 and 9999 of the test file, wherever
        the split put them, hold the file's bytes / 255, standardised with f.mean and f.std."""
        train_rows, valid_rows = split_rows(60000, 10000, 0)
        m, sd = (np.float32(v) for v in self.json_value("[f.mean, f.std]"))
        where = {}
        for i in (0, 59999):
            where[("train", i)] = (("train", train_rows.index(i)) if i in train_rows
                                   else ("valid", valid_rows.index(i)))
        where[("test", 0)], where[("test", 9999)] = ("test", 0), ("test", 9999)
        for (file, i), (split, k) in where.items():
            with self.subTest(file=file, i=i):
                self.run_ok(f"s = sample(f.{split}, {k})")
                s = dict(zip(["shape", "source", "label", "class", "values"],
                             self.json_value("[s.shape, s.source, s.label, s.class, s.values]")))
                px = self.train_px if file == "train" else self.test_px
                raw = np.frombuffer(px[i * 784:(i + 1) * 784], np.uint8)
                want = (raw.astype(np.float32) / np.float32(255) - m) / sd
                self.assertEqual(s["shape"], [1, 28, 28])
                self.assertEqual(s["source"], i)
                self.assertEqual(np.float32(s["values"]).tolist(), want.tolist())
                # the pixel sum, back from the standardised values
                self.assertAlmostEqual(float(np.sum(np.float64(s["values"]) * sd + m)),
                                       int(raw.sum()) / 255, places=2)
                labels = self.train_y if file == "train" else self.test_y
                self.assertEqual(s["label"], labels[i])
                self.assertEqual(s["class"], CLASSES[labels[i]])
        self.run_ok("del s")

    def test_normalisation_and_fingerprint(self):
        """Recomputes the statistics and the fingerprint from the spec with numpy: the data of
        lbdata.fashion_mnist() are bit for bit the kernel's."""
        train_rows, _ = split_rows(60000, 10000, 0)
        px = np.frombuffer(self.train_px, np.uint8).reshape(60000, 784)
        mean, std = byte_stats(px[list(train_rows)])
        m, s = self.json_value("[f.mean, f.std]")
        self.assertEqual(np.float32(m), mean)
        self.assertEqual(np.float32(s), std)
        d = lbdata.fashion_mnist()
        self.assertEqual(d["mean"], mean)
        self.assertEqual(d["train"]["x"].shape, (50000, 1, 28, 28))
        self.assertEqual(d["test"]["y"][:5].tolist(), list(self.test_y[:5]))
        self.assertEqual(json.loads(self.value("f.fingerprint")), d["fingerprint"])

    def test_subsets_and_seeds(self):
        self.run_ok("a = fashion_mnist(train=12000, test=2000, seed=5)\n"
                    "c = fashion_mnist(train=12000, test=2000, seed=6)")
        try:
            self.assertEqual(self.json_value("[a.train.size, a.valid.size, a.test.size]"),
                             [12000, 10000, 2000])
            train_rows, valid_rows = split_rows(60000, 10000, 5, train=12000)
            self.assertEqual(self.json_value("a.train.indices"), list(train_rows))
            self.assertEqual(self.json_value("a.valid.indices"), list(valid_rows))
            self.assertEqual(self.json_value("a.test.indices"), sorted(shuffle(10000, 5)[:2000]))
            # the same seed gives the same split (the reference above is deterministic), another
            # seed another
            self.assertEqual(self.value("a.fingerprint == c.fingerprint"), "false")
            self.assertEqual(json.loads(self.value("a.fingerprint")),
                             lbdata.fashion_mnist(train=12000, test=2000, seed=5)["fingerprint"])
            self.assertEqual(self.value("a.train.indices == c.train.indices"), "false")
        finally:
            self.run_ok("del a c")

    def test_summary_table(self):
        outputs = self.run_ok("f")
        res = [m for m in outputs if m["msg_type"] == "execute_result"]
        self.assertEqual(len(res), 1)
        data = res[0]["content"]["data"]
        for mime in ("text/plain", "text/html", "text/markdown"):
            self.assertIn(mime, data)
        html, md, plain = data["text/html"], data["text/markdown"], data["text/plain"]
        self.assertIn("<table", html)
        self.assertIn("<th>train</th>", re.sub(r' style="[^"]*"', "", html))
        for name in CLASSES:
            self.assertIn(name.replace("/", "/"), plain)
        self.assertIn("| 9 | Ankle boot |", md)
        self.assertIn("50,000", plain)
        self.assertIn("fingerprint", plain)
        self.assertIn("(x / 255)", plain)
        # per-class counts: the test split has 1,000 of each class
        rows = [l for l in plain.splitlines() if l.strip().startswith("9 ")]
        self.assertTrue(rows and rows[0].split()[-1] == "1,000", plain)
        self.assertRegex(self.value("str(f)"), r"<dataset fashion_mnist: train 50,000, valid 10,000, "
                                          r"test 10,000; samples \[1, 28, 28\]; 10 classes>")

    def test_samples_image(self):
        outputs = self.run_ok("samples f.test 16")
        disp = [m for m in outputs if m["msg_type"] == "display_data"]
        self.assertEqual(len(disp), 1)
        c = disp[0]["content"]
        png = base64.b64decode(c["data"]["image/png"])
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(c["metadata"]["image/png"]["width"], 100)
        self.assertIn("16", c["data"]["text/plain"])
        outputs = self.run_ok("samples f 4 seed=3 cols=2")
        self.assertEqual(len([m for m in outputs if m["msg_type"] == "display_data"]), 1)

    def test_missing_package(self):
        reply, _ = lbtest.execute(self.kc, 'x = fashion_mnist(dir="/nonexistent/fashion")')
        c = reply["content"]
        self.assertEqual(c["status"], "error")
        self.assertEqual(c["ename"], "FileNotFoundError")
        self.assertIn("Fashion-MNIST not found at /nonexistent/fashion", c["evalue"])
        self.assertIn("install the Debian package dataset-fashion-mnist "
                      "(apt-get install dataset-fashion-mnist)", c["evalue"])

    def test_members_complete(self):
        msg_id = self.kc.complete("f.", 2)
        matches = lbtest.shell_reply(self.kc, msg_id)["content"]["matches"]
        for m in ("train", "valid", "test", "classes", "fingerprint"):
            self.assertIn(m, matches)
        reply, _ = lbtest.execute(self.kc, "f.nope")
        self.assertEqual(reply["content"]["ename"], "AttributeError")


class SmallFileTests(unittest.TestCase):
    """idx() and csv() on files written here; their errors name file, line and column."""

    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = lbtest.start_kernel()
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        lbtest.stop_kernel(cls.km, cls.kc)
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def value(self, code):
        return lbtest.value(self.kc, code)

    def run_err(self, code, ename, needle):
        reply, _ = lbtest.execute(self.kc, code)
        c = reply["content"]
        self.assertEqual(c["status"], "error", f"{code!r} did not fail")
        self.assertEqual(c["ename"], ename, c.get("evalue"))
        self.assertIn(needle, c["evalue"])

    def write_idx(self, name, fmt, dims, values, gz):
        code = {"B": 0x08, "b": 0x09, "h": 0x0B, "i": 0x0C, "f": 0x0D, "d": 0x0E}[fmt]
        data = struct.pack(">HBB", 0, code, len(dims)) + struct.pack(">" + "I" * len(dims), *dims)
        data += struct.pack(">" + fmt * len(values), *values)
        opener = gzip.open if gz else open
        with opener(self.path(name), "wb") as f:
            f.write(data)

    def test_only_regular_files_of_bounded_size(self):
        # a device, a pipe and a directory are refused before they are opened (a pipe with no
        # writer would block the kernel; /dev/zero would be read until memory runs out)
        self.run_err('d = csv("/dev/zero")', "DataError", "/dev/zero is not a regular file (a device or socket)")
        fifo = self.path("fifo")
        os.mkfifo(fifo)
        self.run_err(f'd = csv("{fifo}")', "DataError", "is not a regular file (a pipe)")
        self.run_err(f'd = idx("{self.tmp.name}", "{self.tmp.name}")', "DataError", "is not a regular file (a directory)")
        # the limit (LABBOOK_MAX_DATA) applies on disk and unpacked: a small gzip file that
        # unpacks to more than the limit is refused while it is read
        with gzip.open(self.path("big.csv.gz"), "wt") as f:
            f.write("a,label\n" + "1,x\n" * 20000)
        script = self.path("limit.lab")
        with open(script, "w") as f:
            f.write(f'd = csv("{self.path("big.csv.gz")}")\n')
        r = subprocess.run([lbtest.EXE, "run", script], capture_output=True, text=True, timeout=lbtest.limit(60),
                           env=dict(os.environ, LABBOOK_MAX_DATA="64K"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("more than 65,536 bytes of data, the limit (LABBOOK_MAX_DATA", r.stderr + r.stdout)
        self.assertEqual(self.value(f'csv("{self.path("big.csv.gz")}").train.size'), "20000")

    def test_idx_short_values(self):
        vals = [(i * 37) % 600 - 300 for i in range(5 * 2 * 2)]
        self.write_idx("x.idx.gz", "h", (5, 2, 2), vals, True)
        self.write_idx("y.idx", "B", (5,), [0, 1, 2, 1, 0], False)
        d = f'd = idx(images="{self.path("x.idx.gz")}", labels="{self.path("y.idx")}", ' \
            'normalize=false, classes=["a", "b", "c"])'
        lbtest.execute(self.kc, d)
        self.assertEqual(json.loads(self.value("d.train.labels")), [0, 1, 2, 1, 0])
        self.assertEqual(json.loads(self.value("d.classes")), ["a", "b", "c"])
        self.assertEqual(json.loads(self.value("d.train.shape")), [1, 2, 2])
        self.assertEqual(json.loads(self.value("sample(d, 3).values")), vals[12:16])
        self.assertEqual(self.value("d.mean == none"), "true")
        self.write_idx("bad.idx", "B", (5,), [0, 1, 2, 1, 7], False)
        self.run_err(f'idx("{self.path("x.idx.gz")}", "{self.path("bad.idx")}", classes=["a", "b"])',
                     "DataError", "label 2 of sample 2 is out of range for 2 classes")
        with open(self.path("cut.idx"), "wb") as f:
            f.write(struct.pack(">HBBI", 0, 8, 1, 10) + b"\0" * 4)
        self.run_err(f'idx("{self.path("x.idx.gz")}", "{self.path("cut.idx")}")', "DataError",
                     "truncated IDX file")
        self.run_err(f'idx("{self.path("nope")}", "{self.path("cut.idx")}")',
                     "FileNotFoundError", "no such file")
        self.run_err('idx(images="a")', "TypeError", "idx() needs images=")
        self.run_err('fashion_mnist(valdi=3)', "TypeError", "did you mean 'valid'?")

    def test_csv(self):
        with open(self.path("iris.csv"), "w") as f:
            f.write("sepal,petal,species\n1,10,virginica\n2,20,setosa\n3,30,versicolor\n"
                    "4,40,setosa\n5,50,setosa\n")
        lbtest.execute(self.kc, f'c = csv("{self.path("iris.csv")}", label="species", valid=0.4)')
        self.assertEqual(json.loads(self.value("c.classes")), ["setosa", "versicolor", "virginica"])
        self.assertEqual(json.loads(self.value("[c.train.size, c.valid.size]")), [3, 2])
        self.assertEqual(json.loads(self.value("c.train.shape")), [2])
        train_rows, valid_rows = split_rows(5, 2, 0)
        self.assertEqual(json.loads(self.value("c.valid.indices")), list(valid_rows))
        with open(self.path("bad.csv"), "w") as f:
            f.write("a,b,label\n1,2,x\n\n3,oops,y\n")
        self.run_err(f'csv("{self.path("bad.csv")}")', "DataError",
                     "bad.csv, line 4, column 2 ('b'): 'oops' is not a number")
        self.run_err(f'csv("{self.path("iris.csv")}", label="specie")', "DataError",
                     "no column 'specie' for the labels (did you mean 'species'?)")
        self.run_err(f'csv("{self.path("iris.csv")}", label="species", test=2)', "ValueError",
                     "has no test split")

    def test_csv_not_utf8(self):
        """A Latin-1 file (an "é" in a column name and in a label) is refused at its line: its
        names could be no class of a JSON reply (`d.classes` showed an empty result, the error
        that quoted a column name lost its first traceback line). The session goes on."""
        with open(self.path("latin1.csv"), "wb") as f:
            f.write(b"caf\xe9,label\n1,a\xe9\n2,b\n")
        self.run_err(f'd = csv("{self.path("latin1.csv")}")', "DataError",
                     "latin1.csv, line 1: not UTF-8 text (byte 0xE9, character 4 of the line): CSV "
                     "files are read as UTF-8")
        reply, _ = lbtest.execute(self.kc, f'd = csv("{self.path("latin1.csv")}")')
        self.assertTrue(reply["content"]["traceback"][0].startswith("DataError: "))
        self.assertEqual(self.value("1 + 1"), "2")


class InterruptLoadingTests(lbtest.KernelCase):
    """An interrupt while a large file is being read ends the cell within a second: the CSV
    reader and the IDX/gzip reader look at the interrupt flag as they go (every 4,096 rows, every
    16 MB). One load of this 300 MB file takes seconds (more under ASan), so only those polls,
    not the check between statements, can answer within limit(1); the cell would load it a
    hundred times."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="lbload-")
        cls.path = os.path.join(cls.dir, "big.csv")
        row = ",".join(["1"] + ["0.25"] * 50) + "\n"
        with open(cls.path, "w") as f:
            f.write(",".join(["label"] + [f"x{i}" for i in range(50)]) + "\n")
            block = row * 10000
            for _ in range(120):                      # 1,200,000 rows, 300 MB
                f.write(block)
        cls.SETUP = "kept = 42"
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        import shutil
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_interrupt_during_csv(self):
        code = 'print "in"\n' + "\n".join([f'd = csv("{self.path}")'] * 100)
        msg_id = lbtest.start_blocking(self.kc, code)
        t0 = time.monotonic()
        self.km.interrupt_kernel()
        reply = lbtest.shell_reply(self.kc, msg_id, timeout=lbtest.limit(120))
        took = time.monotonic() - t0
        c = reply["content"]
        self.assertEqual((c["status"], c.get("ename")), ("error", "Interrupted"), c.get("evalue"))
        self.assertLess(took, lbtest.limit(1), f"answered after {took:.2f} s")
        # it was a load that the interrupt ended ("in" may reach the client only once the first
        # load is over: output is let out at safe points)
        self.assertIn('d = csv(', "\n".join(c["traceback"]))
        lbtest.iopub_until_idle(self.kc, msg_id)
        self.assertEqual(lbtest.value(self.kc, "kept"), "42")


if __name__ == "__main__":
    unittest.main()
