#!/usr/bin/python3
"""make_seeds.py — (re)writes the seed corpora of the fuzz harnesses, tests/fuzz/corpus/NAME/, from
real inputs (tests/fuzz/README.md):

  lang        the code cells of notebooks/*.ipynb and the code blocks of spec/language.md, as they
              are (one cell a file); and lang.dict, the words of the language
  wire        Jupyter messages as jupyter_client's Session serializes them (the same code the
              notebook front ends use), signed with the harnesses' key, in the harness's framing;
              connection files as jupyter_client writes them
  checkpoint  checkpoints written by the kernel (`labbook run` of `save MODEL "file"`) for small
              models of every plugin (parameters, buffers, several named inputs) and one in the
              older layout without "inputs", after the harness's mode byte

Seeds of fuzz findings (regression inputs) are named fix-*, written by hand or by libFuzzer, and
are never touched by this script; the others are replaced. Usage (after `make build`):
    tests/fuzz/make_seeds.py [--build build] [lang] [wire] [checkpoint]
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
KEY = b"labbook-fuzz-key"   # the key of fuzz_wire.c's signed sessions


def reset(name):
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if not f.startswith("fix-"):
            os.unlink(os.path.join(d, f))
    return d


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- lang --------------------------------------------------------------------------------------

def lang_seeds():
    d = reset("lang")
    n = 0
    for nb in sorted(os.listdir(os.path.join(ROOT, "notebooks"))):
        if not nb.endswith(".ipynb"):
            continue
        with open(os.path.join(ROOT, "notebooks", nb)) as f:
            cells = json.load(f)["cells"]
        for i, c in enumerate(cells):
            if c["cell_type"] == "code":
                src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                write(d, f"nb-{nb[:-6]}-{i:02d}", src.encode())
                n += 1
    with open(os.path.join(ROOT, "spec", "language.md")) as f:
        text = f.read()
    # fenced blocks without a language tag hold labbook code (python, ebnf, c... are tagged)
    for m in re.finditer(r"^```\n(.*?)^```", text, re.M | re.S):
        line = text.count("\n", 0, m.start()) + 1
        write(d, f"spec-language-{line:04d}", m.group(1).encode())
        n += 1
    return n


def lang_dict(build):
    """tests/fuzz/lang.dict: the words of the language for libFuzzer's mutations (-dict): the
    commands and builtin functions as `help` lists them, their key= parameters, the keywords,
    operators and escapes."""
    with tempfile.TemporaryDirectory(prefix="lbseeds-") as tmp:
        with open(os.path.join(tmp, "help.lab"), "w") as f:
            f.write("help\n")
        p = subprocess.run([os.path.join(build, "labbook"), "run", "help.lab"], cwd=tmp,
                           capture_output=True, text=True)
    words = set()
    for line in p.stdout.splitlines():
        m = re.match(r"^  ([a-z_]+)\b(.*?)(?:\s{2,}|$)", line)
        if m:
            words.add(m.group(1))
            words.update(k + "=" for k in re.findall(r"\b([a-z_]+)=", m.group(2)))
    words.update(["true", "false", "none", "and", "or", "not", "%%plugin", "on", "epochs=", "lr="])
    ops = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "=", ",", ".",
           ":", "(", ")", "[", "]", "{", "}", "#", "\\\n", "\n", "\"", "'", "\\u00e9", "\\n", "1e308",
           "-0", ".5", "1e-3", "nan", "inf", "\u00e9".encode().decode("latin-1")]
    lines = ["# the words of the labbook language (tests/fuzz/make_seeds.py writes this file)"]
    for w in sorted(words) + ops:
        lines.append('"' + "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else
                                   "\\x%02x" % ord(c) for c in w) + '"')
    with open(os.path.join(ROOT, "tests", "fuzz", "lang.dict"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return len(lines) - 1


# ---- wire --------------------------------------------------------------------------------------

SEP, ESC = 0xFF, 0xFE


def frame_input(mode, frames):
    """The harness's input: a mode byte, then the frames separated by 0xFF (0xFE escapes a
    0xFF or 0xFE inside a frame)."""
    out = bytearray([mode])
    for i, fr in enumerate(frames):
        if i:
            out.append(SEP)
        for b in fr:
            if b in (SEP, ESC):
                out.append(ESC)
            out.append(b)
    return bytes(out)


def wire_seeds():
    from jupyter_client.session import Session
    d = reset("wire")
    code = "x = 1\nprint x + 1"
    messages = [
        ("kernel_info_request", {}),
        ("execute_request", {"code": code, "silent": False, "store_history": True,
                             "user_expressions": {"a": "x + 1"}, "allow_stdin": True,
                             "stop_on_error": True}),
        ("complete_request", {"code": "pri", "cursor_pos": 3}),
        ("inspect_request", {"code": "print", "cursor_pos": 5, "detail_level": 0}),
        ("is_complete_request", {"code": "m = f("}),
        ("history_request", {"output": False, "raw": True, "hist_access_type": "tail", "n": 10}),
        ("comm_info_request", {"target_name": "jupyter.widget"}),
        ("comm_open", {"comm_id": "c1", "target_name": "x", "data": {}}),
        ("shutdown_request", {"restart": False}),
        ("interrupt_request", {}),
        ("input_reply", {"value": "é ünïcode"}),
    ]
    n = 0
    for signed in (True, False):
        s = Session(key=KEY if signed else b"", username="fuzz", session="fuzz-session")
        for i, (t, content) in enumerate(messages):
            msg = s.msg(t, content=content, metadata={"cellId": "c-1"} if t == "execute_request" else {})
            ident = [b"\x00\x80\x00\x00\x29"] if i % 2 == 0 else [b"client-%d" % i]
            buffers = [b"\x00\x01\xfe\xff raw buffer"] if t == "comm_open" else []
            frames = s.serialize(msg, ident=ident) + buffers
            # the mode byte: fuzz_wire.c reads bit 0 (a keyed session) and bit 2 (through ZeroMQ)
            mode = (1 if signed else 0) | (4 if i % 3 == 0 else 0)
            write(d, f"{'signed' if signed else 'unsigned'}-{t}", frame_input(mode, frames))
            n += 1
    # connection files as jupyter_client writes them (mode 8: the rest is the file's text)
    from jupyter_client.connect import write_connection_file
    with tempfile.TemporaryDirectory(prefix="lbseeds-") as tmp:
        for transport, ip in (("tcp", "127.0.0.1"), ("ipc", os.path.join(tmp, "kernel-ipc"))):
            path = os.path.join(tmp, f"{transport}.json")
            write_connection_file(path, ip=ip, key=KEY, transport=transport, kernel_name="labbook")
            with open(path, "rb") as f:
                write(d, f"connection-{transport}", bytes([8]) + f.read())
            n += 1
    return n


# ---- checkpoint --------------------------------------------------------------------------------

SCRIPT = """\
use layers
use mlp
use cnn
use fusion
model tiny = sequential(linear(3, 2), relu(), linear(2, 2)) input=[3] seed=1
save tiny "tiny.lbc"
model m = mlp(hidden=[4], classes=3) input=[4] seed=2
save m "mlp.lbc"
model c = cnn(channels=[2, 2], classes=2) input=[1, 8, 8] seed=3
save c "cnn.lbc"
model bn = sequential(conv2d(1, 2, 3, pad=1), batchnorm2d(2), relu(), flatten(), linear(32, 2)) input=[1, 4, 4] seed=4
save bn "batchnorm.lbc"
model ln = sequential(embedding(10, 2), flatten(), layernorm(6), gelu(), linear(6, 2)) input=[3] seed=5
save ln "embedding-layernorm.lbc"
model f = fuse(hidden=2, mode="mul", classes=2) input={a: [3], b: [2]} seed=6
save f "fuse.lbc"
"""


def checkpoint_seeds(build):
    d = reset("checkpoint")
    exe = os.path.join(build, "labbook")
    with tempfile.TemporaryDirectory(prefix="lbseeds-") as tmp:
        with open(os.path.join(tmp, "seeds.lab"), "w") as f:
            f.write(SCRIPT)
        env = dict(os.environ, LABBOOK_PLUGIN_PATH=os.path.join(build, "plugins"))
        p = subprocess.run([exe, "run", "seeds.lab"], cwd=tmp, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"make_seeds: {exe} run failed:\n{p.stdout}{p.stderr}")
        n = 0
        for fn in sorted(os.listdir(tmp)):
            if fn.endswith(".lbc"):
                with open(os.path.join(tmp, fn), "rb") as f:
                    data = f.read()
                # the mode byte of fuzz_checkpoint.c: 1 signs mutated files again
                write(d, fn[:-4], b"\x01" + data)
                n += 1
                if fn == "mlp.lbc":       # the layout before named inputs: no "inputs" key
                    write(d, "mlp-without-inputs", b"\x01" + without_inputs(data))
                    write(d, "mlp-unsigned", b"\x00" + data)
                    n += 2
    return n


def without_inputs(data):
    hlen = int.from_bytes(data[12:16], "little")
    header = json.loads(data[16:16 + hlen])
    del header["inputs"]
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (16 + len(text)) % 8) % 8)
    body = data[:8] + (1).to_bytes(4, "little") + len(text).to_bytes(4, "little") + text + \
        data[16 + hlen:-32]
    return body + hashlib.sha256(body).digest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("which", nargs="*", default=["lang", "wire", "checkpoint"])
    args = ap.parse_args()
    for w in args.which:
        if w == "lang":
            print(f"tests/fuzz/lang.dict: {lang_dict(os.path.abspath(args.build))} words")
        n = {"lang": lang_seeds, "wire": wire_seeds,
             "checkpoint": lambda: checkpoint_seeds(os.path.abspath(args.build))}[w]()
        print(f"tests/fuzz/corpus/{w}: {n} seeds")


if __name__ == "__main__":
    main()
