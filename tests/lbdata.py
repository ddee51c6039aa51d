"""lbdata.py — labbook's data sets reproduced in Python/numpy from spec/language.md §10 (not a
suite itself: only tests/test_*.py are discovered). tests/test_data.py checks that these give
bit for bit what the kernel holds (same fingerprint); a PyTorch agreement test can take its
batches from here:

    d = lbdata.fashion_mnist()                   # the same defaults as fashion_mnist()
    x, y = d["train"]["x"], d["train"]["y"]      # float32 [N, 1, 28, 28], int64 [N]
    for e in range(epochs):
        order = lbdata.shuffle(len(y), lbdata.epoch_seed(seed, e))
        for k in range(0, len(order), batch):
            idx = order[k:k + batch]             # the batch labbook's trainer draws
"""

import functools
import gzip
import hashlib
import struct

import numpy as np

FASHION = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]

M64 = (1 << 64) - 1


class PCG32:
    """lb_rng (ops/ops.h): pcg32_random_r, seeded as pcg32_srandom_r(seed, stream 54)."""

    def __init__(self, seed):
        self.state = 0
        self.inc = (54 << 1) | 1
        self.u32()
        self.state = (self.state + seed) & M64
        self.u32()

    def u32(self):
        old = self.state
        self.state = (old * 6364136223846793005 + self.inc) & M64
        xs = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((xs >> rot) | (xs << ((-rot) & 31))) & 0xFFFFFFFF

    def below(self, n):
        """lb_rng_below: Lemire's unbiased multiply-shift."""
        m = self.u32() * n
        low = m & 0xFFFFFFFF
        if low < n:
            t = ((1 << 32) - n) % n
            while low < t:
                m = self.u32() * n
                low = m & 0xFFFFFFFF
        return m >> 32


def shuffle(n, seed):
    """lb_data_shuffle: Fisher-Yates on [0, n); for i = n-1 down to 1, j = below(i + 1), swap."""
    order = list(range(n))
    r = PCG32(seed)
    for i in range(n - 1, 0, -1):
        j = r.below(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def epoch_seed(seed, epoch):
    """lb_epoch_seed: output number epoch+1 of SplitMix64 started at seed."""
    z = (seed + (epoch + 1) * 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


@functools.lru_cache(maxsize=None)
def split_rows(n, valid, seed, train=None):
    """(train rows, valid rows) of a training file of n samples, each sorted (tuples)."""
    if valid == 0 and train is None:
        return tuple(range(n)), ()
    perm = shuffle(n, seed)
    ntrain = n - valid if train is None else train
    return tuple(sorted(perm[valid:valid + ntrain])), tuple(sorted(perm[:valid]))


def read_idx(path):
    """An unsigned-byte IDX file (gz) read with gzip + struct: (dims, the data's bytes)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08, path
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


def byte_stats(u8):
    """Mean and population std of v = byte / 255 (float32) in float64, as float32."""
    v = np.arange(256, dtype=np.float32) / np.float32(255)
    counts = np.bincount(u8.ravel(), minlength=256).astype(np.float64)
    n = counts.sum()
    mean = (counts * v).sum() / n
    std = np.sqrt((counts * (v.astype(np.float64) - mean) ** 2).sum() / n)
    std = np.float32(std)
    return np.float32(mean), (std if std > 0 else np.float32(1))


def fingerprint(name, valid, train, test, seed, normalize, classes, splits):
    """splits: [(name, x, y, sample shape)] in the order train, valid, test."""
    h = hashlib.sha256()
    h.update((f"labbook dataset 1\nname={name}\nvalid={valid}\ntrain={train}\ntest={test}\n"
              f"seed={seed}\nnormalize={'true' if normalize else 'false'}\n").encode())
    for c in classes:
        h.update(f"class={c}\n".encode())
    for sname, x, y, shape in splits:
        h.update(f"split={sname} n={len(y)} shape={','.join(map(str, shape))}\n".encode())
        h.update(np.asarray(y, dtype="<i4").tobytes())
        h.update(np.ascontiguousarray(x, dtype="<f4").tobytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=2)
def _files(folder):
    dims, px = read_idx(f"{folder}/train-images-idx3-ubyte.gz")
    _, y = read_idx(f"{folder}/train-labels-idx1-ubyte.gz")
    tdims, tpx = read_idx(f"{folder}/t10k-images-idx3-ubyte.gz")
    _, ty = read_idx(f"{folder}/t10k-labels-idx1-ubyte.gz")
    return (np.frombuffer(px, np.uint8).reshape(dims[0], -1), np.frombuffer(y, np.uint8),
            np.frombuffer(tpx, np.uint8).reshape(tdims[0], -1), np.frombuffer(ty, np.uint8))


def fashion_mnist(valid=10000, seed=0, train=None, test=None, normalize=True, folder=FASHION):
    """What labbook's fashion_mnist(...) holds: {"train"/"valid"/"test": {"x": float32
    [N, 1, 28, 28], "y": int64 [N], "indices": file positions}, "mean", "std", "fingerprint"}."""
    px, y, tpx, ty = _files(folder)
    train_rows, valid_rows = split_rows(len(y), valid, seed, train)
    test_rows = (tuple(range(len(ty))) if test is None
                 else tuple(sorted(shuffle(len(ty), seed)[:test])))
    v = np.arange(256, dtype=np.float32) / np.float32(255)
    out = {"mean": None, "std": None}
    if normalize:
        m, s = byte_stats(px[list(train_rows)])
        table = (v - m) / s            # float32, the same as computing each pixel
        out["mean"], out["std"] = m, s
    else:
        table = v
    fp_splits = []
    for name, src_px, src_y, rows in (("train", px, y, train_rows), ("valid", px, y, valid_rows),
                                      ("test", tpx, ty, test_rows)):
        if not rows:
            continue
        r = list(rows)
        x = table[src_px[r]].reshape(len(r), 1, 28, 28)
        labels = src_y[r].astype(np.int64)
        out[name] = {"x": x, "y": labels, "indices": r}
        fp_splits.append((name, x, labels, (1, 28, 28)))
    out["fingerprint"] = fingerprint("fashion_mnist", valid, "all" if train is None else train,
                                     "all" if test is None else test, seed, normalize, CLASSES,
                                     fp_splits)
    return out
