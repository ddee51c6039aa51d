#!/usr/bin/python3
"""fuzzrun.py — runs the libFuzzer harnesses of tests/fuzz (README.md there): `make fuzz` calls
it to fuzz for as long as asked, and tests/run.py uses command() and outcome() to run each
harness for a fixed number of inputs as a test suite.

    tests/fuzz/fuzzrun.py [--build build] [--seconds S | --runs N] [lang wire checkpoint]

Each harness build/fuzz/fuzz_NAME runs in turn, on the writable corpus build/fuzz/corpus/NAME
(kept between runs: it grows) plus the committed seeds tests/fuzz/corpus/NAME (read only: libFuzzer
writes new inputs into the first folder only), with the dictionary tests/fuzz/NAME.dict when there
is one. A crash, a leak, undefined behaviour, a broken property (FUZZ_ASSERT), an input slower than
TIMEOUT seconds or a process above RSS_LIMIT_MB is a finding: libFuzzer writes the input to
build/fuzz/artifacts/NAME/ and stops; rerun it with `build/fuzz/fuzz_NAME FILE`. The whole output
goes to build/fuzz/logs/NAME.log; one line a harness is printed, and the exit status is 1 when any
harness found something.
"""

import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FUZZ_DIR = os.path.join(ROOT, "tests", "fuzz")
SEEDS = os.path.join(FUZZ_DIR, "corpus")
RSS_LIMIT_MB = 4096     # per process; the harnesses give no single allocation above 1 GB
TIMEOUT = 25            # seconds per input on an idle machine (tests/run.py scales it by load)


def harnesses(build):
    """{name: binary} of the harnesses that are built."""
    d = os.path.join(build, "fuzz")
    out = {}
    if os.path.isdir(d):
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            if f.startswith("fuzz_") and os.path.isfile(p) and os.access(p, os.X_OK):
                out[f[len("fuzz_"):]] = p
    return out


def sources():
    """The harness names that have a source tests/fuzz/fuzz_NAME.c."""
    return sorted(f[len("fuzz_"):-2] for f in os.listdir(FUZZ_DIR)
                  if f.startswith("fuzz_") and f.endswith(".c"))


def command(binary, name, work_corpus, artifacts, runs=None, seconds=None, seed=None,
            timeout=TIMEOUT):
    """The libFuzzer command line: new inputs go to work_corpus, findings to artifacts/."""
    cmd = [binary, f"-rss_limit_mb={RSS_LIMIT_MB}", f"-timeout={int(timeout)}",
           f"-artifact_prefix={artifacts}{os.sep}", "-print_final_stats=1"]
    d = os.path.join(FUZZ_DIR, name + ".dict")
    if os.path.isfile(d):
        cmd.append(f"-dict={d}")
    if runs is not None:
        cmd.append(f"-runs={runs}")
    if seconds is not None:
        cmd.append(f"-max_total_time={int(seconds)}")
    if seed is not None:
        cmd.append(f"-seed={seed}")
    return cmd + [work_corpus, os.path.join(SEEDS, name)]


def outcome(text, rc):
    """What a run's output says: {"ok", "runs", "new", "peak_rss_mb", "finding", "reproducer"}."""
    stats = dict(re.findall(r"^stat::(\w+):\s*(\d+)", text, re.M))
    runs = int(stats.get("number_of_executed_units", 0))
    done = re.search(r"^Done (\d+) runs in (\d+) second", text, re.M)
    if done:
        runs = max(runs, int(done.group(1)))
    art = re.findall(r"Test unit written to (\S+)", text)
    finding = None
    for pat in (r"^==\d+==\s*ERROR: .*$", r"^SUMMARY: .*$", r"^fuzz: .*$",
                r"^==\d+== ERROR: libFuzzer: .*$", r"^ALARM: .*$", r".*runtime error: .*$"):
        m = re.search(pat, text, re.M)
        if m:
            finding = m.group(0).strip()
            break
    ok = rc == 0 and not art and finding is None
    if not ok and finding is None:
        finding = f"exit status {rc}"
    return {"ok": ok, "runs": runs, "new": int(stats.get("new_units_added", 0)),
            "peak_rss_mb": int(stats.get("peak_rss_mb", 0)),
            "finding": None if ok else finding, "reproducer": art[-1] if art else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--seconds", type=int, help="per harness (default 60)")
    g.add_argument("--runs", type=int, help="inputs per harness")
    ap.add_argument("targets", nargs="*")
    args = ap.parse_args()
    if args.seconds is None and args.runs is None:
        args.seconds = 60
    built = harnesses(args.build)
    targets = args.targets or sorted(built)
    missing = [t for t in targets if t not in built]
    if missing:
        sys.exit(f"fuzzrun: not built: {', '.join(missing)} (make fuzz-build)")
    bad = 0
    for name in targets:
        work = os.path.join(args.build, "fuzz", "corpus", name)
        arts = os.path.join(args.build, "fuzz", "artifacts", name)
        logs = os.path.join(args.build, "fuzz", "logs")
        for d in (work, arts, logs):
            os.makedirs(d, exist_ok=True)
        before = len(os.listdir(work))
        cmd = command(built[name], name, work, arts, runs=args.runs, seconds=args.seconds)
        log = os.path.join(logs, name + ".log")
        what = f"{args.runs} inputs" if args.runs is not None else f"{args.seconds} s"
        print(f"fuzz:{name}: {what} ({' '.join(cmd)})", flush=True)
        t0 = time.monotonic()
        with open(log, "w") as f:
            rc = subprocess.call(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
        secs = time.monotonic() - t0
        with open(log, errors="replace") as f:
            o = outcome(f.read(), rc)
        after = len(os.listdir(work))
        line = (f"fuzz:{name}: {o['runs']} inputs in {secs:.0f} s, corpus {before} -> {after} files "
                f"(+ {len(os.listdir(os.path.join(SEEDS, name)))} seeds), peak {o['peak_rss_mb']} MB")
        if o["ok"]:
            print(line + ": nothing found", flush=True)
        else:
            bad += 1
            print(line + f": FOUND {o['finding']}", flush=True)
            if o["reproducer"]:
                print(f"    reproducer {o['reproducer']}; rerun: {built[name]} {o['reproducer']}")
            print(f"    log {log}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
