"""test_ops_parity.py — PyTorch parity of the ops/ engine: the same weights and inputs give the
same outputs and gradients (within 1e-4 relative to each tensor's scale) in labbook's C ops and
in PyTorch 1.13 (Debian python3-torch).

The C side is tests/parity/ops_parity_driver.c, run as `driver CASE in.bin out.bin`. It is
taken from build/parity/ops_parity_driver when the Makefile has built it, and otherwise
compiled here with gcc from ops/*.c into a temporary directory.
"""

import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None

ROOT = os.environ.get("LABBOOK_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = 1e-4


def write_blobs(path, blobs):
    with open(path, "wb") as f:
        f.write(b"LBT1" + struct.pack("<I", len(blobs)))
        for name, arr in blobs.items():
            a = np.ascontiguousarray(np.asarray(arr, dtype=np.float32))
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<I", a.ndim))
            f.write(struct.pack("<%dq" % a.ndim, *a.shape))
            f.write(a.tobytes())


def read_blobs(path):
    out = {}
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"LBT1"
    (n,), pos = struct.unpack_from("<I", data, 4), 8
    for _ in range(n):
        (ln,) = struct.unpack_from("<I", data, pos)
        pos += 4
        name = data[pos:pos + ln].decode()
        pos += ln
        (nd,) = struct.unpack_from("<I", data, pos)
        pos += 4
        shape = struct.unpack_from("<%dq" % nd, data, pos)
        pos += 8 * nd
        cnt = int(np.prod(shape)) if nd else 1
        out[name] = np.frombuffer(data, dtype=np.float32, count=cnt, offset=pos).reshape(shape)
        pos += 4 * cnt
    return out


@unittest.skipIf(torch is None, "python3-torch is not installed")
class OpsParity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.mkdtemp(prefix="lb_parity_")
        built = os.path.join(ROOT, "build", "parity", "ops_parity_driver")
        src = os.path.join(ROOT, "tests", "parity", "ops_parity_driver.c")
        opsdir = os.path.join(ROOT, "ops")
        newest = max([os.path.getmtime(src)] + [os.path.getmtime(os.path.join(opsdir, f)) for f in os.listdir(opsdir)])
        if os.path.exists(built) and os.path.getmtime(built) >= newest:
            cls.driver = built
        else:
            cls.driver = os.path.join(cls.tmp, "ops_parity_driver")
            srcs = [os.path.join(opsdir, f) for f in sorted(os.listdir(opsdir)) if f.endswith(".c")]
            pc = subprocess.run(["pkg-config", "--cflags", "--libs", "openblas"], capture_output=True, text=True,
                                check=True).stdout.split()
            subprocess.run(["gcc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-I" + opsdir, src] + srcs +
                           ["-o", cls.driver] + pc + ["-lm", "-pthread"], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_case(self, case, blobs):
        inp, outp = os.path.join(self.tmp, case + ".in"), os.path.join(self.tmp, case + ".out")
        write_blobs(inp, {k: (v.detach().numpy() if torch.is_tensor(v) else v) for k, v in blobs.items()})
        r = subprocess.run([self.driver, case, inp, outp], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return read_blobs(outp)

    def close(self, name, got, want, tol=TOL):
        want = want.detach().numpy() if torch.is_tensor(want) else np.asarray(want)
        self.assertEqual(tuple(got.shape), tuple(want.shape), name)
        scale = max(float(np.abs(want).max()) if want.size else 0.0, 1e-6)
        err = float(np.abs(got.astype(np.float64) - want).max()) if want.size else 0.0
        self.assertLessEqual(err / scale, tol, "%s: max abs error %.3g at scale %.3g" % (name, err, scale))

    def leaves(self, **kw):
        return {k: v.clone().requires_grad_(True) for k, v in kw.items()}

    def check_grads(self, out, ts, names):
        for n in names:
            self.close("g_" + n, out["g_" + n], ts[n].grad)

    def test_linear(self):
        g = torch.Generator().manual_seed(1)
        t = self.leaves(x=torch.randn(7, 20, generator=g), w=torch.randn(5, 20, generator=g) * 0.2,
                        b=torch.randn(5, generator=g))
        r = torch.randn(7, 5, generator=g)
        y = F.linear(t["x"], t["w"], t["b"])
        (y * r).sum().backward()
        out = self.run_case("linear", dict(t, r=r))
        self.close("y", out["y"], y)
        self.check_grads(out, t, ["x", "w", "b"])

    def test_unary(self):
        g = torch.Generator().manual_seed(12)
        cases = [(0, 0, lambda x: -x), (1, 0, torch.exp), (2, 0, torch.log), (3, 0, torch.sqrt), (4, 0, torch.tanh),
                 (5, 0, torch.sigmoid), (6, 0, F.relu), (7, 0.2, lambda x: F.leaky_relu(x, 0.2)), (8, 0, F.gelu),
                 (9, 3.0, lambda x: x ** 3), (9, 0.5, lambda x: x ** 0.5), (10, 1.5, lambda x: x + 1.5),
                 (11, -2.0, lambda x: x * -2.0)]
        for op, a, fn in cases:
            x0 = torch.randn(3, 7, generator=g)
            if op in (2, 3) or (op == 9 and a == 0.5):
                x0 = x0.abs() + 0.1
            t = self.leaves(x=x0)
            y = fn(t["x"])
            r = torch.randn(*y.shape, generator=g)
            (y * r).sum().backward()
            out = self.run_case("unary", dict(t, r=r, opts=[op, a]))
            self.close("y op %d" % op, out["y"], y)
            self.check_grads(out, t, ["x"])

    def test_binary_broadcast(self):
        g = torch.Generator().manual_seed(13)
        for op, fn in enumerate([torch.add, torch.sub, torch.mul, torch.div]):
            for sa, sb in [((4, 5), (4, 5)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((2, 1, 3, 1), (4, 1, 2))]:
                t = self.leaves(a=torch.randn(*sa, generator=g), b=torch.rand(*sb, generator=g) + 0.5)
                y = fn(t["a"], t["b"])
                r = torch.randn(*y.shape, generator=g)
                (y * r).sum().backward()
                out = self.run_case("binary", dict(t, r=r, opts=[op]))
                self.close("y", out["y"], y)
                self.check_grads(out, t, ["a", "b"])

    def test_reductions_and_mse(self):
        g = torch.Generator().manual_seed(14)
        for op, ax, keep in [(0, 1, 0), (1, -1, 1), (2, 0, 0), (2, 2, 1)]:
            t = self.leaves(x=torch.randn(3, 4, 5, generator=g))
            if op == 0:
                y = t["x"].sum(ax, keepdim=bool(keep))
            elif op == 1:
                y = t["x"].mean(ax, keepdim=bool(keep))
            else:
                y = t["x"].max(ax, keepdim=bool(keep)).values
            r = torch.randn(*y.shape, generator=g)
            (y * r).sum().backward()
            out = self.run_case("reduce", dict(t, r=r, opts=[op, ax, keep]))
            self.close("y", out["y"], y)
            self.check_grads(out, t, ["x"])
        t = self.leaves(x=torch.randn(6, 3, generator=g), t=torch.randn(6, 3, generator=g))
        loss = F.mse_loss(t["x"], t["t"])
        loss.backward()
        out = self.run_case("mse", t)
        self.close("loss", out["loss"], loss)
        self.check_grads(out, t, ["x", "t"])

    def test_batched_matmul_transposed(self):
        g = torch.Generator().manual_seed(2)
        t = self.leaves(a=torch.randn(2, 3, 5, 8, generator=g), b=torch.randn(2, 3, 6, 8, generator=g))
        r = torch.randn(2, 3, 5, 6, generator=g)
        y = t["a"] @ t["b"].transpose(-1, -2)
        (y * r).sum().backward()
        out = self.run_case("matmul", dict(t, r=r, opts=[1]))
        self.close("y", out["y"], y)
        self.check_grads(out, t, ["a", "b"])

    def conv_case(self, stride, pad, dil, xshape=(3, 4, 11, 9), kernel=(3, 3), oc=6):
        g = torch.Generator().manual_seed(3)
        pad = pad if isinstance(pad, tuple) else (pad, pad)
        t = self.leaves(x=torch.randn(*xshape, generator=g),
                        w=torch.randn(oc, xshape[1], *kernel, generator=g) * 0.3, b=torch.randn(oc, generator=g))
        y = F.conv2d(t["x"], t["w"], t["b"], stride=stride, padding=pad, dilation=dil)
        r = torch.randn(*y.shape, generator=g)
        (y * r).sum().backward()
        out = self.run_case("conv2d", dict(t, r=r, opts=[stride, stride, pad[0], pad[1], dil, dil]))
        self.close("y", out["y"], y)
        self.check_grads(out, t, ["x", "w", "b"])

    def test_conv2d(self):
        self.conv_case(1, 0, 1)

    def test_conv2d_stride_padding(self):
        self.conv_case(2, 1, 1)

    def test_conv2d_dilation(self):
        self.conv_case(1, 2, 2)

    def test_conv2d_same_padding(self):
        # stride 1 and an output as wide as the input: columns made by shifting whole planes
        self.conv_case(1, 1, 1)                                         # small planes: batched
        self.conv_case(1, 1, 1, xshape=(2, 3, 16, 12))                  # per-image GEMMs
        self.conv_case(1, (1, 2), 1, xshape=(2, 3, 13, 10), kernel=(3, 5))
        self.conv_case(1, (0, 1), 1, xshape=(2, 1, 17, 9), kernel=(1, 3))  # rows not padded
        self.conv_case(1, (2, 1), 1, xshape=(2, 2, 6, 15))              # taller output

    def test_conv2d_winograd(self):
        # 3x3 stride 1 with >= 8 channels in and out: Winograd F(2x2, 3x3) (ops/conv_winograd.c)
        self.conv_case(1, 1, 1, xshape=(3, 8, 14, 14), oc=16)           # the CNN's layer shape
        self.conv_case(1, 1, 1, xshape=(2, 9, 11, 8), oc=8)             # odd height
        self.conv_case(1, 0, 1, xshape=(2, 8, 9, 7), oc=10)             # valid, odd sizes
        self.conv_case(1, (2, 1), 1, xshape=(1, 8, 5, 6), oc=8)         # padding 2
        self.conv_case(1, (1, 2), 1, xshape=(2, 8, 6, 13), oc=8)        # padding 2 across
        self.conv_case(1, 1, 1, xshape=(12, 8, 24, 24), oc=8)           # several tile chunks

    def pool_case(self, kind, k, s, p, shape=(2, 3, 9, 8), ties=False):
        g = torch.Generator().manual_seed(4)
        x = torch.randn(*shape, generator=g)
        if ties:  # few distinct values: equal maxima in most windows (the first one wins)
            x = torch.round(x)
        t = self.leaves(x=x)
        fn = F.max_pool2d if kind == "maxpool" else F.avg_pool2d
        y = fn(t["x"], k, s, p)
        r = torch.randn(*y.shape, generator=g)
        (y * r).sum().backward()
        out = self.run_case(kind, dict(t, r=r, opts=[k, s, p]))
        self.close("y", out["y"], y)
        self.check_grads(out, t, ["x"])

    def test_pools(self):
        self.pool_case("maxpool", 2, 2, 0)
        self.pool_case("maxpool", 3, 2, 1)
        self.pool_case("maxpool", 2, 2, 0, shape=(2, 3, 10, 11))  # 4 windows at a time, then 1
        self.pool_case("maxpool", 2, 2, 0, shape=(2, 3, 8, 14))   # even planes: one-pass backward
        self.pool_case("maxpool", 2, 2, 0, shape=(3, 2, 6, 19), ties=True)
        self.pool_case("maxpool", 2, 2, 0, shape=(3, 2, 6, 18), ties=True)
        self.pool_case("avgpool", 2, 2, 0)
        self.pool_case("avgpool", 3, 2, 1)

    def bn_case(self, shape, training):
        g = torch.Generator().manual_seed(5)
        C = shape[1]
        t = self.leaves(x=torch.randn(*shape, generator=g) * 2 + 0.5, w=torch.rand(C, generator=g) + 0.5,
                        b=torch.randn(C, generator=g))
        rm, rv = torch.randn(C, generator=g) * 0.1, torch.rand(C, generator=g) + 0.5
        rm0, rv0 = rm.clone(), rv.clone()
        y = F.batch_norm(t["x"], rm, rv, t["w"], t["b"], training=training, momentum=0.1, eps=1e-5)
        r = torch.randn(*y.shape, generator=g)
        (y * r).sum().backward()
        out = self.run_case("batchnorm", dict(t, r=r, rm=rm0, rv=rv0, opts=[1 if training else 0, 0.1, 1e-5]))
        self.close("y", out["y"], y)
        self.check_grads(out, t, ["x", "w", "b"])
        self.close("running_mean", out["rm"], rm)
        self.close("running_var", out["rv"], rv)

    def test_batchnorm(self):
        self.bn_case((4, 3, 5, 5), True)
        self.bn_case((4, 3, 5, 5), False)
        self.bn_case((8, 6), True)

    def test_layernorm(self):
        g = torch.Generator().manual_seed(6)
        t = self.leaves(x=torch.randn(2, 5, 16, generator=g) * 3, w=torch.randn(16, generator=g),
                        b=torch.randn(16, generator=g))
        y = F.layer_norm(t["x"], (16,), t["w"], t["b"], eps=1e-5)
        r = torch.randn(*y.shape, generator=g)
        (y * r).sum().backward()
        out = self.run_case("layernorm", dict(t, r=r, opts=[1e-5]))
        self.close("y", out["y"], y)
        self.check_grads(out, t, ["x", "w", "b"])

    def test_embedding(self):
        g = torch.Generator().manual_seed(7)
        ids = torch.randint(0, 10, (3, 7), generator=g)
        t = self.leaves(w=torch.randn(10, 6, generator=g))
        y = F.embedding(ids, t["w"])
        r = torch.randn(*y.shape, generator=g)
        (y * r).sum().backward()
        out = self.run_case("embedding", dict(t, ids=ids.float(), r=r))
        self.close("y", out["y"], y)
        self.check_grads(out, t, ["w"])

    def test_softmax(self):
        g = torch.Generator().manual_seed(8)
        for axis, log, masked in [(-1, 0, 0), (1, 1, 0), (-1, 0, 1)]:
            t = self.leaves(x=torch.randn(2, 4, 6, generator=g) * 2)
            mask = torch.tril(torch.ones(4, 6))
            x = t["x"].masked_fill(mask == 0, float("-inf")) if masked else t["x"]
            y = F.log_softmax(x, axis) if log else F.softmax(x, axis)
            r = torch.randn(*y.shape, generator=g)
            (y * r).sum().backward()
            blobs = dict(t, r=r, opts=[axis, log])
            if masked:
                blobs["mask"] = mask
            out = self.run_case("softmax", blobs)
            self.close("y", out["y"], y)
            self.check_grads(out, t, ["x"])

    def test_cross_entropy(self):
        g = torch.Generator().manual_seed(9)
        for ignore, smooth in [(-100, 0.0), (2, 0.0), (-100, 0.1), (1, 0.2)]:
            t = self.leaves(logits=torch.randn(12, 5, generator=g) * 2)
            tg = torch.randint(0, 5, (12,), generator=g)
            loss = F.cross_entropy(t["logits"], tg, ignore_index=ignore, label_smoothing=smooth)
            loss.backward()
            out = self.run_case("cross_entropy", dict(t, targets=tg.float(), opts=[ignore, smooth]))
            self.close("loss", out["loss"], loss)
            self.check_grads(out, t, ["logits"])

    def test_small_cnn(self):
        torch.manual_seed(10)
        c1, c2, fc = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.Linear(8 * 3 * 3, 10)
        x = torch.randn(6, 1, 12, 12)
        tg = torch.randint(0, 10, (6,))
        h = F.max_pool2d(F.relu(c1(x)), 2)
        h = F.max_pool2d(F.relu(c2(h)), 2)
        logits = fc(h.flatten(1))
        loss = F.cross_entropy(logits, tg)
        loss.backward()
        ps = {"c1w": c1.weight, "c1b": c1.bias, "c2w": c2.weight, "c2b": c2.bias, "fw": fc.weight, "fb": fc.bias}
        out = self.run_case("cnn", dict({k: v.detach() for k, v in ps.items()}, x=x, targets=tg.float()))
        self.close("logits", out["logits"], logits)
        self.close("loss", out["loss"], loss)
        for k, v in ps.items():
            self.close("g_" + k, out["g_" + k], v.grad)

    def optim_case(self, kind, make, opts):
        g = torch.Generator().manual_seed(11)
        w0 = torch.randn(4, 6, generator=g)
        grads = [torch.randn(4, 6, generator=g) for _ in range(3)]
        w = w0.clone().requires_grad_(True)
        opt = make([w])
        for gr in grads:
            w.grad = gr.clone()
            opt.step()
        blobs = {"w": w0, "opts": [kind] + opts}
        for i, gr in enumerate(grads):
            blobs["g%d" % i] = gr
        out = self.run_case("optim", blobs)
        self.close("w", out["w"], w)

    def test_sgd_momentum(self):
        self.optim_case(0, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
                        [0.1, 0.9, 0, 0.01, 0, 0, 0, 0])
        self.optim_case(0, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
                        [0.05, 0.8, 0, 0, 1, 0, 0, 0])

    def test_adam(self):
        self.optim_case(1, lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
                        [0.01, 0, 0, 0.1, 0, 0.9, 0.999, 1e-8])

    def test_adamw(self):
        self.optim_case(2, lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.05),
                        [0.01, 0, 0, 0.05, 0, 0.9, 0.999, 1e-8])


if __name__ == "__main__":
    unittest.main()
