"""test_ops_parity.py — PyTorch parity of the ops/ engine: the same weights and inputs give the
same outputs and gradients in labbook's C ops and in PyTorch 1.13 (Debian python3-torch).

Agreement is judged against this machine's float noise (tests/noise.py): PyTorch computes each
case in float32 and in float64 from the same inputs, and labbook's distance to float64 must be
within noise.MULT times PyTorch float32's (with a small floor), for every output and gradient.
So the suite holds under every OpenBLAS core (`make test` runs it a second time under the
generic "Prescott" core: OPENBLAS_CORETYPE is passed through to the driver, which says which
core it ran, and the suite checks that).

The C side is tests/parity/ops_parity_driver.c, run as `driver CASE in.bin out.bin`. It is
taken from build/parity/ops_parity_driver when the Makefile has built it, and otherwise
compiled here with gcc from ops/*.c into a temporary directory.
"""

import copy
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import sys

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402
from noise import NoiseMixin  # noqa: E402

ROOT = os.environ.get("LABBOOK_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
F32, F64 = (torch.float32, torch.float64) if torch is not None else (None, None)


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
class OpsParity(NoiseMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.mkdtemp(prefix="lb_parity_")
        cls.cores = set()
        built = os.path.join(os.environ.get("LABBOOK_BUILD_DIR") or os.path.join(ROOT, "build"), "parity",
                             "ops_parity_driver")
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
                           ["-o", cls.driver] + pc + ["-lm", "-pthread", "-ldl"], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        print("\n  BLAS: %s" % "; ".join(sorted(cls.cores)), flush=True)

    def run_case(self, case, blobs):
        inp, outp = os.path.join(self.tmp, case + ".in"), os.path.join(self.tmp, case + ".out")
        write_blobs(inp, {k: (v.detach().float().numpy() if torch.is_tensor(v) else v) for k, v in blobs.items()})
        r = subprocess.run([self.driver, case, inp, outp], capture_output=True, text=True,
                           timeout=lbtest.limit(120))
        self.assertEqual(r.returncode, 0, r.stderr)
        # the driver says which OpenBLAS core it ran on; a forced core must be the one in use
        core = [l for l in r.stderr.splitlines() if l.startswith("blas: ")]
        self.assertEqual(len(core), 1, r.stderr)
        self.cores.add(core[0][6:])
        forced = os.environ.get("OPENBLAS_CORETYPE")
        if forced:
            self.assertIn("core %s " % forced.lower(), core[0].lower() + " ")
        return read_blobs(outp)

    def torch_both(self, fn, inputs, grads=(), r=None):
        """Runs fn in float32 and in float64 from the same values. inputs: {name: float32
        tensor}; fn(t, dtype) -> {name: output tensor}; then backward of sum(out["y"] * r) (r
        given) or of out["loss"]. Returns {dtype: ({output: value}, {input in grads: gradient})}."""
        res = {}
        for dt in (F32, F64):
            t = {k: v.detach().to(dt).clone().requires_grad_(k in grads) for k, v in inputs.items()}
            out = fn(t, dt)
            if grads:
                if r is not None:
                    (out["y"] * r.to(dt)).sum().backward()
                else:
                    out["loss"].backward()
            res[dt] = ({k: v.detach() for k, v in out.items()}, {k: t[k].grad for k in grads})
        return res

    def agree(self, label, out, res, outputs=("y",), grads=(), names=None):
        """labbook's outputs (out[name]) and gradients (out["g_" + name]) against res."""
        names = names or {}
        for k in outputs:
            self.assertAgrees("%s %s" % (label, k), out[names.get(k, k)], res[F32][0][k], res[F64][0][k])
        for k in grads:
            self.assertAgrees("%s g_%s" % (label, k), out["g_" + k], res[F32][1][k], res[F64][1][k])

    def test_linear(self):
        g = torch.Generator().manual_seed(1)
        t = dict(x=torch.randn(7, 20, generator=g), w=torch.randn(5, 20, generator=g) * 0.2,
                 b=torch.randn(5, generator=g))
        r = torch.randn(7, 5, generator=g)
        res = self.torch_both(lambda t, dt: {"y": F.linear(t["x"], t["w"], t["b"])}, t, "xwb", r)
        out = self.run_case("linear", dict(t, r=r))
        self.agree("linear", out, res, grads="xwb")

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
            r = torch.randn(3, 7, generator=g)
            res = self.torch_both(lambda t, dt: {"y": fn(t["x"])}, {"x": x0}, "x", r)
            out = self.run_case("unary", dict(x=x0, r=r, opts=[op, a]))
            self.agree("unary op %d" % op, out, res, grads="x")

    def test_binary_broadcast(self):
        g = torch.Generator().manual_seed(13)
        for op, fn in enumerate([torch.add, torch.sub, torch.mul, torch.div]):
            for sa, sb in [((4, 5), (4, 5)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((2, 1, 3, 1), (4, 1, 2))]:
                t = dict(a=torch.randn(*sa, generator=g), b=torch.rand(*sb, generator=g) + 0.5)
                r = torch.randn(*torch.broadcast_shapes(sa, sb), generator=g)
                res = self.torch_both(lambda t, dt: {"y": fn(t["a"], t["b"])}, t, "ab", r)
                out = self.run_case("binary", dict(t, r=r, opts=[op]))
                self.agree("binary op %d %s %s" % (op, sa, sb), out, res, grads="ab")

    def test_reductions_and_mse(self):
        g = torch.Generator().manual_seed(14)
        for op, ax, keep in [(0, 1, 0), (1, -1, 1), (2, 0, 0), (2, 2, 1)]:
            x = torch.randn(3, 4, 5, generator=g)

            def fn(t, dt):
                if op == 0:
                    return {"y": t["x"].sum(ax, keepdim=bool(keep))}
                if op == 1:
                    return {"y": t["x"].mean(ax, keepdim=bool(keep))}
                return {"y": t["x"].max(ax, keepdim=bool(keep)).values}
            r = torch.randn(*fn({"x": x}, None)["y"].shape, generator=g)
            res = self.torch_both(fn, {"x": x}, "x", r)
            out = self.run_case("reduce", dict(x=x, r=r, opts=[op, ax, keep]))
            self.agree("reduce op %d axis %d" % (op, ax), out, res, grads="x")
        t = dict(x=torch.randn(6, 3, generator=g), t=torch.randn(6, 3, generator=g))
        res = self.torch_both(lambda t, dt: {"loss": F.mse_loss(t["x"], t["t"])}, t, "xt")
        out = self.run_case("mse", t)
        self.agree("mse", out, res, outputs=["loss"], grads="xt")

    def test_batched_matmul_transposed(self):
        g = torch.Generator().manual_seed(2)
        t = dict(a=torch.randn(2, 3, 5, 8, generator=g), b=torch.randn(2, 3, 6, 8, generator=g))
        r = torch.randn(2, 3, 5, 6, generator=g)
        res = self.torch_both(lambda t, dt: {"y": t["a"] @ t["b"].transpose(-1, -2)}, t, "ab", r)
        out = self.run_case("matmul", dict(t, r=r, opts=[1]))
        self.agree("matmul", out, res, grads="ab")

    def conv_case(self, stride, pad, dil, xshape=(3, 4, 11, 9), kernel=(3, 3), oc=6):
        g = torch.Generator().manual_seed(3)
        pad = pad if isinstance(pad, tuple) else (pad, pad)
        t = dict(x=torch.randn(*xshape, generator=g), w=torch.randn(oc, xshape[1], *kernel, generator=g) * 0.3,
                 b=torch.randn(oc, generator=g))

        def fn(t, dt):
            return {"y": F.conv2d(t["x"], t["w"], t["b"], stride=stride, padding=pad, dilation=dil)}
        r = torch.randn(*fn(t, None)["y"].shape, generator=g)
        res = self.torch_both(fn, t, "xwb", r)
        out = self.run_case("conv2d", dict(t, r=r, opts=[stride, stride, pad[0], pad[1], dil, dil]))
        self.agree("conv2d x%s k%s s%d p%s d%d" % (list(xshape), list(kernel), stride, list(pad), dil), out, res,
                   grads="xwb")

    def test_conv2d(self):
        self.conv_case(1, 0, 1)

    def test_conv2d_stride_padding(self):
        self.conv_case(2, 1, 1)
        self.conv_case(2, 1, 1, xshape=(4, 16, 14, 14), oc=32)          # the stride CNN's second layer
        self.conv_case(2, 1, 1, xshape=(3, 1, 28, 28), oc=16)           # and its first
        self.conv_case(2, 0, 1, xshape=(2, 3, 9, 10), oc=5)             # valid, odd sizes

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
        fn = F.max_pool2d if kind == "maxpool" else F.avg_pool2d
        r = torch.randn(*fn(x, k, s, p).shape, generator=g)
        res = self.torch_both(lambda t, dt: {"y": fn(t["x"], k, s, p)}, {"x": x}, "x", r)
        out = self.run_case(kind, dict(x=x, r=r, opts=[k, s, p]))
        self.agree("%s %d/%d/%d %s" % (kind, k, s, p, list(shape)), out, res, grads="x")

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
        t = dict(x=torch.randn(*shape, generator=g) * 2 + 0.5, w=torch.rand(C, generator=g) + 0.5,
                 b=torch.randn(C, generator=g))
        rm0, rv0 = torch.randn(C, generator=g) * 0.1, torch.rand(C, generator=g) + 0.5

        def fn(t, dt):
            rm, rv = rm0.to(dt).clone(), rv0.to(dt).clone()
            y = F.batch_norm(t["x"], rm, rv, t["w"], t["b"], training=training, momentum=0.1, eps=1e-5)
            return {"y": y, "rm": rm, "rv": rv}
        r = torch.randn(*shape, generator=g)
        res = self.torch_both(fn, t, "xwb", r)
        out = self.run_case("batchnorm", dict(t, r=r, rm=rm0, rv=rv0, opts=[1 if training else 0, 0.1, 1e-5]))
        self.agree("batchnorm %s %s" % (list(shape), "train" if training else "eval"), out, res,
                   outputs=("y", "rm", "rv"), grads="xwb")

    def test_batchnorm(self):
        self.bn_case((4, 3, 5, 5), True)
        self.bn_case((4, 3, 5, 5), False)
        self.bn_case((8, 6), True)

    def test_layernorm(self):
        g = torch.Generator().manual_seed(6)
        t = dict(x=torch.randn(2, 5, 16, generator=g) * 3, w=torch.randn(16, generator=g),
                 b=torch.randn(16, generator=g))
        r = torch.randn(2, 5, 16, generator=g)
        res = self.torch_both(lambda t, dt: {"y": F.layer_norm(t["x"], (16,), t["w"], t["b"], eps=1e-5)}, t,
                              "xwb", r)
        out = self.run_case("layernorm", dict(t, r=r, opts=[1e-5]))
        self.agree("layernorm", out, res, grads="xwb")

    def test_embedding(self):
        g = torch.Generator().manual_seed(7)
        ids = torch.randint(0, 10, (3, 7), generator=g)
        w = torch.randn(10, 6, generator=g)
        r = torch.randn(3, 7, 6, generator=g)
        res = self.torch_both(lambda t, dt: {"y": F.embedding(ids, t["w"])}, {"w": w}, "w", r)
        out = self.run_case("embedding", dict(w=w, ids=ids.float(), r=r))
        self.agree("embedding", out, res, grads="w")

    def test_softmax(self):
        g = torch.Generator().manual_seed(8)
        for axis, log, masked in [(-1, 0, 0), (1, 1, 0), (-1, 0, 1)]:
            x = torch.randn(2, 4, 6, generator=g) * 2
            mask = torch.tril(torch.ones(4, 6))

            def fn(t, dt):
                x = t["x"].masked_fill(mask == 0, float("-inf")) if masked else t["x"]
                return {"y": F.log_softmax(x, axis) if log else F.softmax(x, axis)}
            r = torch.randn(2, 4, 6, generator=g)
            res = self.torch_both(fn, {"x": x}, "x", r)
            blobs = dict(x=x, r=r, opts=[axis, log])
            if masked:
                blobs["mask"] = mask
            out = self.run_case("softmax", blobs)
            self.agree("softmax axis %d log %d masked %d" % (axis, log, masked), out, res, grads="x")

    def test_cross_entropy(self):
        g = torch.Generator().manual_seed(9)
        for ignore, smooth in [(-100, 0.0), (2, 0.0), (-100, 0.1), (1, 0.2)]:
            logits = torch.randn(12, 5, generator=g) * 2
            tg = torch.randint(0, 5, (12,), generator=g)
            res = self.torch_both(lambda t, dt: {"loss": F.cross_entropy(t["logits"], tg, ignore_index=ignore,
                                                                         label_smoothing=smooth)},
                                  {"logits": logits}, ["logits"])
            out = self.run_case("cross_entropy", dict(logits=logits, targets=tg.float(), opts=[ignore, smooth]))
            self.agree("cross_entropy ignore %d smoothing %g" % (ignore, smooth), out, res, outputs=["loss"],
                       grads=["logits"])

    def test_small_cnn(self):
        torch.manual_seed(10)
        c1, c2, fc = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.Linear(8 * 3 * 3, 10)
        x = torch.randn(6, 1, 12, 12)
        tg = torch.randint(0, 10, (6,))
        ps = {"c1w": c1.weight, "c1b": c1.bias, "c2w": c2.weight, "c2b": c2.bias, "fw": fc.weight, "fb": fc.bias}

        def fn(t, dt):
            h = F.max_pool2d(F.relu(F.conv2d(t["x"], t["c1w"], t["c1b"], padding=1)), 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, t["c2w"], t["c2b"], padding=1)), 2)
            logits = F.linear(h.flatten(1), t["fw"], t["fb"])
            return {"logits": logits, "loss": F.cross_entropy(logits, tg)}
        res = self.torch_both(fn, dict(ps, x=x), list(ps))
        out = self.run_case("cnn", dict({k: v.detach() for k, v in ps.items()}, x=x, targets=tg.float()))
        self.agree("small cnn", out, res, outputs=("logits", "loss"), grads=list(ps))

    # ---- recurrent layers: lb_rnn against nn.RNN (tanh, relu), nn.LSTM and nn.GRU ----
    RNN_KINDS = {0: ("RNN", {"nonlinearity": "tanh"}, 1), 1: ("RNN", {"nonlinearity": "relu"}, 1),
                 2: ("LSTM", {}, 4), 3: ("GRU", {}, 3)}

    def rnn_case(self, cell, T, B, I, H, lengths=None, reverse=False, layers=1, bias=True, state=True, seed=20):
        """One lb_rnn call per layer (the driver's "rnn" case) against a PyTorch module with the
        same weights: num_layers=layers, or the reverse half of a bidirectional module; lengths
        through pack_padded_sequence(enforce_sorted=False). Every output (y, each layer's final
        h and c) and every gradient (x, weights, biases, h0, c0), from a loss that weighs the
        output sequence and the final states."""
        name, kw, G = self.RNN_KINDS[cell]
        lstm = cell == 2
        g = torch.Generator().manual_seed(seed)
        bound = 1.0 / H ** 0.5  # PyTorch's initialisation range
        blobs = {"x": torch.randn(T, B, I, generator=g), "r": torch.randn(T, B, H, generator=g)}
        for l in range(layers):
            inp = I if l == 0 else H
            blobs["w_ih%d" % l] = (torch.rand(G * H, inp, generator=g) * 2 - 1) * bound
            blobs["w_hh%d" % l] = (torch.rand(G * H, H, generator=g) * 2 - 1) * bound
            if bias:
                blobs["b_ih%d" % l] = (torch.rand(G * H, generator=g) * 2 - 1) * bound
                blobs["b_hh%d" % l] = (torch.rand(G * H, generator=g) * 2 - 1) * bound
            if state:
                blobs["h0%d" % l] = torch.randn(B, H, generator=g) * 0.5
                if lstm:
                    blobs["c0%d" % l] = torch.randn(B, H, generator=g) * 0.5
            blobs["rh%d" % l] = torch.randn(B, H, generator=g)
            if lstm:
                blobs["rc%d" % l] = torch.randn(B, H, generator=g)
        torch.manual_seed(seed)
        base = getattr(torch.nn, name)(I, H, num_layers=layers, bias=bias, bidirectional=reverse, **kw)
        sfx = "_reverse" if reverse else ""
        res = {}
        for dt in (F32, F64):
            mod = copy.deepcopy(base).to(dt)
            with torch.no_grad():
                for l in range(layers):
                    for p, b in (("weight_ih", "w_ih"), ("weight_hh", "w_hh"), ("bias_ih", "b_ih"),
                                 ("bias_hh", "b_hh")):
                        if b + str(l) in blobs:
                            getattr(mod, "%s_l%d%s" % (p, l, sfx)).copy_(blobs[b + str(l)].to(dt))
            x = blobs["x"].to(dt).clone().requires_grad_(True)
            leaves = {k: blobs[k].to(dt).clone().requires_grad_(True) for k in blobs if k[:2] in ("h0", "c0")}

            def stacked(prefix):  # [layers * directions, B, H]; the forward half of a reverse case is 0
                ts = [leaves["%s%d" % (prefix, l)] for l in range(layers)]
                return torch.stack([torch.zeros_like(ts[0])] + ts if reverse else ts)
            hx = None
            if state:
                hx = (stacked("h0"), stacked("c0")) if lstm else stacked("h0")
            inp = x
            if lengths is not None:
                inp = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
            y, hn = mod(inp, hx)
            if lengths is not None:
                y = torch.nn.utils.rnn.pad_packed_sequence(y, total_length=T)[0]
            hn, cn = hn if lstm else (hn, None)
            first = 1 if reverse else 0  # the direction's index among the final states
            outs = {"y": y[..., H:] if reverse else y}
            loss = (outs["y"] * blobs["r"].to(dt)).sum()
            for l in range(layers):
                outs["hn%d" % l] = hn[first + l]
                loss = loss + (outs["hn%d" % l] * blobs["rh%d" % l].to(dt)).sum()
                if lstm:
                    outs["cn%d" % l] = cn[first + l]
                    loss = loss + (outs["cn%d" % l] * blobs["rc%d" % l].to(dt)).sum()
            loss.backward()
            grads = {"x": x.grad}
            grads.update({k: v.grad for k, v in leaves.items()})
            for l in range(layers):
                for p, b in (("weight_ih", "w_ih"), ("weight_hh", "w_hh"), ("bias_ih", "b_ih"), ("bias_hh", "b_hh")):
                    if b + str(l) in blobs:
                        grads[b + str(l)] = getattr(mod, "%s_l%d%s" % (p, l, sfx)).grad
            res[dt] = ({k: v.detach() for k, v in outs.items()}, grads)
        if lengths is not None:
            blobs["lengths"] = torch.tensor(lengths, dtype=torch.float32)
        out = self.run_case("rnn", dict(blobs, opts=[cell, 1 if reverse else 0, layers]))
        label = "%s%s T%d B%d I%d H%d%s%s%s%s" % (
            name, "(%s)" % kw["nonlinearity"] if kw else "", T, B, I, H, " lengths %s" % list(lengths) if lengths else "",
            " reverse" if reverse else "", " layers %d" % layers if layers > 1 else "", "" if bias else " no bias")
        self.agree(label, out, res, outputs=list(res[F32][0]), grads=list(res[F32][1]))

    def rnn_cases(self, cell):
        lens = [6, 2, 5, 1, 6]
        self.rnn_case(cell, 6, 5, 7, 8)
        self.rnn_case(cell, 6, 5, 7, 8, lengths=lens)
        self.rnn_case(cell, 6, 5, 7, 8, lengths=lens, reverse=True)
        self.rnn_case(cell, 6, 5, 7, 8, reverse=True)
        self.rnn_case(cell, 5, 3, 4, 6, lengths=[3, 5, 4], bias=False, state=False)
        self.rnn_case(cell, 12, 9, 20, 40, lengths=[12, 7, 9, 12, 3, 11, 1, 8, 12], seed=21)  # GEMM-sized

    def test_rnn_tanh(self):
        self.rnn_cases(0)

    def test_rnn_relu(self):
        self.rnn_cases(1)

    def test_lstm(self):
        self.rnn_cases(2)

    def test_gru(self):
        self.rnn_cases(3)

    def test_rnn_stacked(self):
        # 2 layers built from 2 calls against num_layers=2 (dropout 0)
        for cell in range(4):
            self.rnn_case(cell, 6, 4, 5, 7, layers=2)
            self.rnn_case(cell, 6, 4, 5, 7, lengths=[4, 6, 1, 3], layers=2, seed=22)

    def optim_case(self, kind, make, opts):
        g = torch.Generator().manual_seed(11)
        w0 = torch.randn(4, 6, generator=g)
        grads = [torch.randn(4, 6, generator=g) for _ in range(3)]
        ref = {}
        for dt in (F32, F64):
            w = w0.to(dt).clone().requires_grad_(True)
            opt = make([w])
            for gr in grads:
                w.grad = gr.to(dt).clone()
                opt.step()
            ref[dt] = ({"w": w.detach()}, {})
        blobs = {"w": w0, "opts": [kind] + opts}
        for i, gr in enumerate(grads):
            blobs["g%d" % i] = gr
        out = self.run_case("optim", blobs)
        self.agree("optimizer %d" % kind, out, ref, outputs=["w"])

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
