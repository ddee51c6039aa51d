"""lbckpt.py — reads labbook model checkpoints (`save MODEL "file"`) with numpy, from the byte
format in spec/language.md §12 (not a suite itself: only tests/test_*.py are discovered).
tests/test_checkpoint.py checks it against the kernel; a PyTorch comparison can start from
labbook's initial weights with it:

    header, tensors = lbckpt.read("a.lbc")     # header: the JSON dict; tensors: name -> array
    w = tensors["0.weight"]                    # float32, shape as in the model ([4, 1, 3, 3])
    net.load_state_dict({...: torch.from_numpy(w) ...})

read() checks the signature, the format version, the SHA-256 and the header's consistency,
and raises CheckpointError (a ValueError) with the same reasons the kernel gives.
"""

import hashlib
import json
import struct
import sys

import numpy as np

MAGIC = b"\x89LBCKPT\n"
VERSION = 1
PREFIX = 16         # magic, u32 format version, u32 header length
SUM = 32            # the trailing SHA-256 of every byte before it


class CheckpointError(ValueError):
    pass


def parse(data, name="checkpoint"):
    """(header, {name: float32 array}) from the bytes of a checkpoint file."""
    if data[:len(MAGIC)] != MAGIC[:len(data)]:
        raise CheckpointError(f"{name} is not a labbook checkpoint")
    if len(data) < PREFIX + SUM:
        raise CheckpointError(f"{name} is truncated ({len(data)} bytes)")
    version, hlen = struct.unpack_from("<II", data, 8)
    if version != VERSION:
        raise CheckpointError(f"{name} has checkpoint format {version}; this reader reads "
                              f"format {VERSION}")
    if PREFIX + hlen + SUM > len(data):
        raise CheckpointError(f"{name} is truncated ({len(data)} bytes where its header "
                              f"announces at least {PREFIX + hlen + SUM})")
    if hashlib.sha256(data[:-SUM]).digest() != data[-SUM:]:
        raise CheckpointError(f"{name} is corrupted: its SHA-256 does not match")
    try:
        header = json.loads(data[PREFIX:PREFIX + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{name} has an invalid header: not JSON ({e})") from None
    if (not isinstance(header, dict) or header.get("format") != "labbook-checkpoint"
            or header.get("version") != VERSION or header.get("dtype", "float32") != "float32"):
        raise CheckpointError(f"{name} has an invalid header: not labbook-checkpoint "
                              f"version {VERSION} float32")
    raw = data[PREFIX + hlen:-SUM]
    total = 0
    tensors = {}
    for t in header.get("tensors", []):
        shape = tuple(int(d) for d in t["shape"])
        numel = int(np.prod(shape, dtype=np.int64))
        if t["numel"] != numel or t["offset"] != total or t["name"] in tensors:
            raise CheckpointError(f"{name} has an invalid header: tensor {t['name']}")
        if 4 * (total + numel) > len(raw):
            raise CheckpointError(f"{name} has an invalid header: tensor {t['name']} runs past "
                                  "the data")
        a = np.frombuffer(raw, dtype="<f4", count=numel, offset=4 * total) if numel else np.zeros(0)
        tensors[t["name"]] = a.astype(np.float32).reshape(shape)
        total += numel
    if 4 * total != len(raw):
        raise CheckpointError(f"{name} has an invalid header: its tensors hold {4 * total} bytes "
                              f"of data but the file has {len(raw)}")
    return header, tensors


def read(path):
    """(header dict, {tensor name: float32 numpy array}) of the checkpoint at path."""
    with open(path, "rb") as f:
        data = f.read()
    return parse(data, path)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        h, ts = read(p)
        print(f"{p}: model {h['model']} = {h['spec']}, input {h['input']}, seed {h['seed']}, "
              f"labbook {h['labbook']}, saved {h['created']}")
        for n, a in ts.items():
            print(f"  {n:<16} {str(list(a.shape)):<18} {a.size:>10}")
