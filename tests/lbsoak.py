"""lbsoak.py — the memory soak shared by tests/test_memory.py (a short cycle in `make test`) and
bench/memory_soak/run.py (10,000 cells, prints the curve). Not a suite itself.

A lean client (pyzmq sockets; jupyter_client's Session only builds and signs the messages with
HMAC-SHA256, as the connection file's key requires) starts a labbook kernel and sends cells back
to back: the next execute_request goes out as soon as the previous cell's execute_reply and its
`status: idle` have arrived, as a script or a fast front end does (about 10 ms a cell). Every
iopub message is read as it comes. Every `every` cells it samples the kernel's memory from
/proc/PID/status (VmRSS) and /proc/PID/smaps_rollup.

The cycle covers every kind of cell: model definitions (mlp, cnn), plots of every kind (line,
heatmap, bars, image grids, learning curves, confusion), checkpoints saved and loaded in a
temporary folder, data sets (csv, idx, generated shapes() and pairs(), a Fashion-MNIST subset
when the Debian package is there), tables, a short training run, deleting variables and
failing cells of several kinds. Each cell's outcome (ok, or the error name) is checked, so a
cycle that silently stopped doing its work would fail instead of looking flat.
"""

import gzip
import json
import os
import random
import struct
import subprocess
import time

import zmq
from jupyter_client.connect import write_connection_file
from jupyter_client.session import Session

ROOT = os.environ.get("LABBOOK_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DELIM = b"<IDS|MSG>"
FASHION = "/usr/share/datasets/fashion-mnist"


def have_fashion():
    return os.path.exists(os.path.join(FASHION, "train-images-idx3-ubyte.gz"))


# ---- the cells ---------------------------------------------------------------------------------

# Run once before the cycle. @D@ is the temporary folder. `fm` is a Fashion-MNIST subset (or,
# without the package, images of the same shape from an IDX file), kept for the whole soak:
# the training and evaluation cells use it.
def setup_cells(fashion):
    data = ('fm = fashion_mnist(train=500, valid=100, test=100, seed=3)' if fashion else
            'fm = idx("@D@/fm-x.idx.gz", "@D@/fm-y.idx.gz", "@D@/fm-x.idx.gz", "@D@/fm-y.idx.gz", valid=100)')
    return [("ok", "use mlp\nuse cnn\nuse fusion\nseed 1"), ("ok", data)]


# (expected outcome, code): "ok" or the error's name. @N@ is the cycle's number (different
# seeds and values from cycle to cycle, so nothing can be served from a cache of equal input).
# The training cell: a small model, since every run stays in the session (`runs` keeps its
# record, its model and its final weights) and is legitimately held memory; runs_cost()
# measures how much.
TRAINING_CELL = ("ok", 'model t = mlp(hidden=[8], input=[4], classes=3)\n'
                       'r = train t on d epochs=2 batch=30 lr=0.05 opt="adam" seed=@N@\nr')

# The alternation first (a model and three plots, deleted; a cnn saved, loaded and
# deleted), which grew the heap fastest before large blocks were mapped (ops/arena.c), then
# every other kind of cell.
ALTERNATION = [
    ("ok", 'model a = mlp()\np1 = plot([1, 2, 3])\np2 = plot([3, 2, @N@])\np3 = heatmap([[1, 2], [3, 4]])\n'
           'p1\np2\np3\ndel a p1 p2 p3'),
    ("ok", 'model k = cnn()\nsave k "@D@/k.lbc"\nload k2 "@D@/k.lbc"\ndel k k2'),
]

CYCLE = ALTERNATION * 6 + [
    ("ok", 'model m = mlp()\nparams m'),
    ("ok", 'model c = cnn(channels=[16, 32], pool="max")\nmodel c3 = cnn(channels=[4], pool="stride", batchnorm=true, hidden=[16])\nparams c c3'),
    ("ok", 'model f2 = fuse(hidden=16, mode="mul", classes=4) input={a: [8], b: [4]}\nf2.inputs'),
    ("ok", 'plot [2.3, 1.1, 0.7, 0.5 + @N@ / 1e6] [2.4, 1.3, 0.9, 0.8] x="epoch" y="loss" title="cycle @N@"\n'
           'heatmap [[1, 2, 3], [4, 5, @N@]] rows=["a", "b"] cols=["x", "y", "z"]'),
    ("ok", 'p = plot({name: "a", y: range(60)}, {name: "b", y: range(60), style: "dashed"}, logy=true)\n'
           'bars {a: {acc: 0.91, f1: 0.9}, b: {acc: 0.87, f1: 0.88}} best="max"\np'),
    ("ok", 'save p "@D@/p.png"\nsave p "@D@/p.pdf"\nimages [[[0, 0.5], [1, 0.2]], [[1, 0], [0, 1]]] captions=["a", "b"]'),
    ("ok", 'save c "@D@/c.lbc"\nload c "@D@/c.lbc"\nload c2 "@D@/c.lbc"\nsave f2 "@D@/f2.lbc"\nload f3 "@D@/f2.lbc"'),
    ("ok", 'd = csv("@D@/rows.csv", valid=0.2, seed=@N@)\nd'),
    ("ok", 'x = idx("@D@/x.idx.gz", "@D@/y.idx.gz", seed=@N@, valid=4)\nsample(x, 3)\nsamples x 8'),
    ("ok", 's = shapes(n=48, test=8, size=16, seed=@N@)\nsamples s 8\npr = pairs(n=200, test=40, seed=@N@)\npr'),
    ("ok", 'table [{lr: 0.1, acc: 0.77, n: @N@}, {lr: 0.01, acc: 0.81, n: "x"}]\n'
           'table [["a", "b"], [1, 2], [3, none]] header=true\nvars'),
    TRAINING_CELL,
    ("ok", 'evaluate m on fm.test\nconfusion m on fm.test normalize=true'),
    ("ok", 'plot r loss valid.acc\nsamples fm.test 8 model=m\nsamples fm.train 48 seed=@N@'),
    ("ok", 'export r "@D@/runs.json"\nexport r "@D@/runs.csv" epochs=true\nr.best().valid.acc'),
    ("ok", 'l = range(4000)\ntt = l * 3\nw = {k: str(l), n: len(tt)}\nprint str(tt[-1]) + "x" * 5000\nlen(w.k)'),
    ("NameError", 'y = undefined_name + 1'),
    ("SyntaxError", 'print "a"\nx = = 1'),
    ("FileNotFoundError", 'load q "@D@/missing.lbc"'),
    ("CheckpointError", 'load c "@D@/f2.lbc"'),
    ("Failure", 'fail "boom @N@" [1, 2, 3]'),
    ("ModelError", 'model bad = cnn(channels=[4, 8], input=[1, 1, 1])'),
    ("DataError", 'b = csv("@D@/bad.csv")'),
    ("ok", 'help train\nhelp plot'),
    ("ok", 'del m c c3 c2 f2 f3 p d x s pr t r l tt w'),
]


def _write_files(folder, fashion, rng):
    """The data files the cells read: a CSV, an IDX pair (gzip), a CSV with a bad row, and
    (without Fashion-MNIST) an IDX stand-in of its shape."""
    with open(os.path.join(folder, "rows.csv"), "w") as f:
        f.write("a,b,c,d,label\n")
        for i in range(150):
            k = i % 3
            f.write(",".join(f"{k + rng.gauss(0, 0.5):.4f}" for _ in range(4)) + f",c{k}\n")
    with open(os.path.join(folder, "bad.csv"), "w") as f:
        f.write("a,b,label\n1,2,x\n3,oops,y\n")

    def idx(path, code, dims, values):
        with gzip.open(path, "wb") as f:
            f.write(bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims))
            f.write(bytes(values))
    n = 40
    idx(os.path.join(folder, "x.idx.gz"), 0x08, [n, 8, 8], [rng.randrange(256) for _ in range(n * 64)])
    idx(os.path.join(folder, "y.idx.gz"), 0x08, [n], [i % 4 for i in range(n)])
    if not fashion:
        n = 600
        idx(os.path.join(folder, "fm-x.idx.gz"), 0x08, [n, 28, 28],
            [rng.randrange(256) for _ in range(n * 784)])
        idx(os.path.join(folder, "fm-y.idx.gz"), 0x08, [n], [i % 10 for i in range(n)])


# ---- the client --------------------------------------------------------------------------------

def memory(pid):
    """{"rss": KiB, "anon": KiB, ...} of a process: VmRSS and RssAnon from /proc/PID/status, and
    Rss, Pss, Anonymous and Private_Dirty from /proc/PID/smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "RssAnon:", "RssFile:", "VmHWM:")):
                k, v = line.split(":")
                out[{"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "VmHWM": "hwm"}[k]] = int(v.split()[0])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(("Pss:", "Private_Dirty:")):
                    k, v = line.split(":")
                    out[k.lower()] = int(v.split()[0])
    except OSError:
        pass
    return out


class CellFailed(AssertionError):
    pass


class LeanKernel:
    """One labbook kernel process, a DEALER on shell, a DEALER on control and a SUB on iopub."""

    def __init__(self, exe, folder, env=None, stderr=None):
        self.ctx = zmq.Context()
        self.folder = folder
        key = os.urandom(16).hex().encode()
        conn, self.cfg = write_connection_file(os.path.join(folder, "kernel.json"), ip="127.0.0.1",
                                               key=key, transport="tcp")
        self.session = Session(key=key, signature_scheme="hmac-sha256", username="soak")
        addr = lambda ch: f"tcp://127.0.0.1:{self.cfg[ch + '_port']}"  # noqa: E731
        self.shell = self._sock(zmq.DEALER, addr("shell"))
        self.control = self._sock(zmq.DEALER, addr("control"))
        self.iopub = self._sock(zmq.SUB, addr("iopub"))
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self.proc = subprocess.Popen([exe, "kernel", "-f", conn], cwd=folder, env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=stderr if stderr is not None else subprocess.DEVNULL,
                                     start_new_session=True)
        self.poller = zmq.Poller()
        self.poller.register(self.shell, zmq.POLLIN)
        self.poller.register(self.iopub, zmq.POLLIN)
        self.iopub_messages = 0
        self.iopub_bytes = 0

    def _sock(self, kind, addr):
        s = self.ctx.socket(kind)
        s.linger = 0
        s.setsockopt(zmq.RECONNECT_IVL, 10)
        s.setsockopt(zmq.RECONNECT_IVL_MAX, 100)
        s.connect(addr)
        return s

    @property
    def pid(self):
        return self.proc.pid

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"the kernel exited with status {self.proc.returncode}")

    def send(self, sock, msg_type, content):
        msg = self.session.msg(msg_type, content)
        sock.send_multipart(self.session.serialize(msg))
        return msg["header"]["msg_id"]

    @staticmethod
    def parse(frames):
        """(msg_type, parent msg_id, content bytes), without verifying the signature (the
        kernel's, over a local socket; the kernel checks ours)."""
        i = frames.index(DELIM)
        return (json.loads(frames[i + 2])["msg_type"], json.loads(frames[i + 3]).get("msg_id"),
                frames[i + 5])

    def wait_ready(self, timeout):
        """Until a kernel_info_reply arrives and iopub delivers (the SUB socket has joined)."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"the kernel did not answer within {timeout} s")
            msg_id = self.send(self.shell, "kernel_info_request", {})
            got = False
            t_end = time.monotonic() + 0.5
            while time.monotonic() < t_end:
                ev = dict(self.poller.poll(100))
                if self.shell in ev:
                    mt, pid, _ = self.parse(self.shell.recv_multipart())
                    got = got or (pid == msg_id and mt == "kernel_info_reply")
                if self.iopub in ev and got:
                    while self.iopub.poll(50):
                        self.iopub.recv_multipart()
                    return

    def execute(self, code, timeout):
        """Runs a cell, reading every iopub message as it comes; returns "ok" or the error's
        name once both the execute_reply and the cell's `status: idle` have arrived."""
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": False}
        msg_id = self.send(self.shell, "execute_request", content)
        deadline = time.monotonic() + timeout
        status = None
        idle = False
        while status is None or not idle:
            left = deadline - time.monotonic()
            ev = dict(self.poller.poll(int(min(left, 0.5) * 1000) + 1)) if left > 0 else {}
            if not ev:
                self._check_alive()
                if left <= 0:
                    raise AssertionError(f"no reply to {code[:60]!r} within {timeout} s")
                continue
            if self.shell in ev:
                mt, pid, c = self.parse(self.shell.recv_multipart())
                if pid == msg_id and mt == "execute_reply":
                    c = json.loads(c)
                    status = "ok" if c["status"] == "ok" else c.get("ename", c["status"])
                    self.last_error = c.get("evalue")
            if self.iopub in ev:
                while True:
                    try:
                        frames = self.iopub.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.iopub_messages += 1
                    self.iopub_bytes += sum(len(f) for f in frames)
                    mt, pid, c = self.parse(frames)
                    if pid == msg_id and mt == "status" and b'"idle"' in c:
                        idle = True
        return status

    def shutdown(self, timeout=10):
        if self.proc.poll() is None:
            try:
                self.send(self.control, "shutdown_request", {"restart": False})
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for s in (self.shell, self.control, self.iopub):
            s.close(0)
        self.ctx.term()


# ---- the soak ----------------------------------------------------------------------------------

def soak(exe, folder, cells, every, cell_timeout, env=None, pause=0.0, progress=None,
         fashion=None, stderr=None):
    """Runs the set-up cells, then `cells` cells of CYCLE (repeated), and returns
    {"samples": [(cells run, memory(pid) dict, seconds)], "cycle": len(CYCLE), ...}. Raises
    CellFailed when a cell's outcome is not the expected one. `pause` seconds between cells
    (0: back to back)."""
    fashion = have_fashion() if fashion is None else fashion
    rng = random.Random(1)
    _write_files(folder, fashion, rng)
    k = LeanKernel(exe, folder, env=env, stderr=stderr)
    samples = []
    t0 = time.monotonic()
    try:
        k.wait_ready(cell_timeout)
        for want, code in setup_cells(fashion):
            got = k.execute(code.replace("@D@", folder), cell_timeout)
            if got != want:
                raise CellFailed(f"set-up cell {code!r}: {got} ({k.last_error}), expected {want}")
        samples.append((0, memory(k.pid), 0.0))
        for i in range(cells):
            n = i // len(CYCLE)
            want, code = CYCLE[i % len(CYCLE)]
            code = code.replace("@D@", folder).replace("@N@", str(n))
            got = k.execute(code, cell_timeout)
            if got != want:
                raise CellFailed(f"cell {i + 1} ({code[:80]!r}): {got} ({k.last_error}), expected {want}")
            if pause:
                time.sleep(pause)
            if (i + 1) % every == 0 or i + 1 == cells:
                samples.append((i + 1, memory(k.pid), time.monotonic() - t0))
                if progress:
                    progress(samples[-1])
        return {"samples": samples, "cycle": len(CYCLE), "fashion": fashion,
                "iopub_messages": k.iopub_messages, "iopub_bytes": k.iopub_bytes}
    finally:
        k.shutdown()


def runs_cost(exe, folder, runs, cell_timeout, env=None):
    """KiB of RSS each training cell of the cycle adds to a kernel that runs it alone (the run
    the session keeps, and the cell's history): the growth over the second half of `runs`
    training cells, divided by their number. (The first half fills the free space the heap
    already has, which hides what the runs hold: RSS grows only once it is used up.)"""
    rng = random.Random(1)
    _write_files(folder, True, rng)
    k = LeanKernel(exe, folder, env=env)
    try:
        k.wait_ready(cell_timeout)
        setup = ("ok", 'd = csv("@D@/rows.csv", valid=0.2, seed=1)')
        for want, code in setup_cells(True)[:1] + [setup]:
            got = k.execute(code.replace("@D@", folder), cell_timeout)
            if got != want:
                raise CellFailed(f"{code!r}: {got} ({k.last_error})")
        half = runs // 2
        for i in range(runs):
            if i == half:
                before = memory(k.pid)["rss"]
            got = k.execute(TRAINING_CELL[1].replace("@N@", str(i)), cell_timeout)
            if got != "ok":
                raise CellFailed(f"training cell {i + 1}: {got} ({k.last_error})")
        return (memory(k.pid)["rss"] - before) / (runs - half)
    finally:
        k.shutdown()


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return (xs[n // 2] + xs[(n - 1) // 2]) / 2 if n else float("nan")


def quarter_growth(samples, cells):
    """KiB: the median RSS of the samples taken in the last quarter of the cells minus that of
    the second quarter (the first is warm-up). Medians, so that one sample taken while the
    kernel held a large temporary does not decide."""
    q = lambda a, b: [m["rss"] for n, m, _ in samples if a * cells < 4 * n <= b * cells]  # noqa: E731
    return median(q(3, 4)) - median(q(1, 2))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"
