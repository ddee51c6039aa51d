#!/usr/bin/python3
"""tests/run.py — the one test runner of labbook (`make test` calls it after building
build/ and build/asan/).

It runs, in a temporary, isolated Jupyter environment:
  * every C unit-test binary build/tests/test_* and build/asan/tests/test_* (the latter under
    ASan+UBSan; any sanitizer report fails the run), each ending with "N passed, N failed";
  * every Python suite tests/test_*.py (unittest) against the kernel build/labbook, each in
    its own child process with its own JUPYTER_DATA_DIR / JUPYTER_RUNTIME_DIR;
  * the suites that declare SANITIZE = True again against the ASan+UBSan kernel
    build/asan/labbook (a second kernelspec in a second prefix; any file the sanitizers write
    is a failure);
  * the PyTorch parity suites of the ops and the models again under OpenBLAS's generic core
    (OPENBLAS_CORETYPE=Prescott, the core an unrecognised CPU falls back to): results must be
    right with every core, not only with the one this machine picks;
  * every libFuzzer harness build/fuzz/fuzz_* (tests/fuzz, `make fuzz-build`) for a fixed number
    of inputs from a fixed seed, on its committed seed corpus (kept read-only): one test each,
    failed by any finding, whose reproducer is kept in build/fuzz/artifacts/NAME-test/ and named.
It prints one line per suite and ends with exactly one line "N passed, N failed" (with
", N skipped" when some test was skipped). Exit status 1 on any failure.

No test may fail because the machine is loaded: tests wait on events, each wait bounded by a
limit scaled x3 for the ASan build and by LABBOOK_TEST_LOAD, which this runner sets to -j
(the suites running side by side; times any LABBOOK_TEST_LOAD already set, for a machine
busy with other work) for every suite and unit binary (tests/lbtest.py limit(),
tests/unit/check.h LB_TEST_LIMIT). Its own per-suite limits scale the same way.

Usage:
    tests/run.py                    everything
    tests/run.py protocol           only the suites whose name contains "protocol"
                                    (py:protocol and asan:protocol); several filters OR
    tests/run.py unit               only the C unit tests (unit:* and asan-unit:*)
    tests/run.py fuzz               only the fuzz harnesses (fuzz:lang, fuzz:wire, ...)
    tests/run.py -k interrupt protocol   only tests whose name matches *interrupt*
    tests/run.py --no-asan          skip everything that runs the ASan build
    tests/run.py --no-fuzz          skip the fuzz harnesses
    tests/run.py -v                 stream each suite's output
    tests/run.py -j 1               run suites one at a time (default: number of cores)
    tests/run.py --list             list the suites and exit
    LABBOOK_BUILD_DIR=build-x tests/run.py   test another build directory (make B=build-x
                                    build build-asan) instead of build/
"""

import argparse
import concurrent.futures
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
sys.path.insert(0, os.path.join(TESTS, "fuzz"))
import fuzzrun  # noqa: E402  (tests/fuzz/fuzzrun.py: the harnesses' command lines)
BUILD = os.environ.get("LABBOOK_BUILD_DIR") or os.path.join(ROOT, "build")  # `make test` uses build/
# Plugins come from this build tree, never from an installed copy that `use` would otherwise
# find first (LABBOOK_PLUGIN_PATH is searched before the install directory): a stale
# /usr/local install from an older checkout must not decide what the tests load.
os.environ["LABBOOK_PLUGIN_PATH"] = os.path.join(BUILD, "plugins")
PYTHON = "/usr/bin/python3"
KERNEL_NAME = "labbook"

SUMMARY_RE = re.compile(r"^\s*(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$")

# Suites run a second time under OpenBLAS's generic core (name: "py:SUITE@CORE").
GENERIC_CORE = "Prescott"
GENERIC_CORE_SUITES = ("ops_parity", "model_parity")

# Seconds on an idle machine, per kind of suite; scaled by timeouts() (x3 under ASan, x load).
# A Python suite's limit exceeds its longest cell's (test_notebooks: cnn-lab's training cell,
# limit(480)) with room for the rest of the suite.
UNIT_TIMEOUT = 180          # per unit binary
FUZZ_TIMEOUT = 300          # per fuzz harness
# Inputs per fuzz harness in a test run (from seed 1): a few seconds each on an idle machine.
# `make fuzz` runs them for longer.
FUZZ_TEST_RUNS = {"lang": 4000, "wire": 20000, "checkpoint": 4000}
SUITE_TIMEOUT = 900         # per Python suite
ASAN_FACTOR = 3


def timeouts(load):
    """{kind: seconds} for a run with `load` suites side by side (LABBOOK_TEST_LOAD)."""
    return {"unit": UNIT_TIMEOUT * load,
            "asan-unit": UNIT_TIMEOUT * ASAN_FACTOR * load,
            "py": SUITE_TIMEOUT * load,
            "py-core": SUITE_TIMEOUT * load,
            "asan": SUITE_TIMEOUT * ASAN_FACTOR * load,
            "fuzz": FUZZ_TIMEOUT * load}


def sanitizer_env(log_dir):
    """ASan/UBSan/LSan options: any report is written under log_dir (the runner fails the run
    when a file appears there) and stops the process. quarantine_size_mb is small so that the
    kernel's RSS is meaningful in the RSS-flatness test."""
    os.makedirs(log_dir, exist_ok=True)
    return {
        "ASAN_OPTIONS": ":".join([
            "halt_on_error=1", "abort_on_error=0", "detect_leaks=1",
            "log_path=" + os.path.join(log_dir, "asan"),
            "quarantine_size_mb=1", "thread_local_quarantine_size_kb=64",
            "detect_stack_use_after_return=0", "strict_string_checks=1",
            "check_initialization_order=1", "detect_invalid_pointer_pairs=0",
            "allocator_release_to_os_interval_ms=100",
            # the kernel's own fault handler (kernel/base/fault.c) turns a crash in a plugin
            # into an error of the cell, and passes any other fault on to ASan's report
            "allow_user_segv_handler=1",
        ]),
        "UBSAN_OPTIONS": ":".join([
            "halt_on_error=1", "print_stacktrace=1",
            "log_path=" + os.path.join(log_dir, "ubsan"),
        ]),
        "LSAN_OPTIONS": "log_path=" + os.path.join(log_dir, "lsan"),
    }


def sanitizer_reports(log_dir):
    """The text of every report file the sanitizers left in log_dir ([] when clean)."""
    out = []
    if not os.path.isdir(log_dir):
        return out
    for name in sorted(os.listdir(log_dir)):
        path = os.path.join(log_dir, name)
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except OSError as e:
            text = f"(unreadable: {e})"
        out.append((name, text))
    return out


class Outcome:
    """What one suite (a unit binary or a Python suite) contributed."""

    def __init__(self, name):
        self.name = name
        self.passed = self.failed = self.skipped = 0
        self.seconds = 0.0
        self.notes = []      # short reasons for failures of the suite itself
        self.log = ""        # full output, shown when the suite failed (or with -v)

    def line(self):
        s = f"{self.passed} passed, {self.failed} failed"
        if self.skipped:
            s += f", {self.skipped} skipped"
        return f"  {'FAIL' if self.failed else 'ok  '} {self.name:<34} {s:<34} {self.seconds:6.1f} s"


# --------------------------------------------------------------------------------------------
# C unit tests

def run_unit(binary, name, env, timeout, san_dir):
    out = Outcome(name)
    t0 = time.monotonic()
    if san_dir:
        shutil.rmtree(san_dir, ignore_errors=True)
        env = dict(env, **sanitizer_env(san_dir))
    try:
        p = subprocess.run([binary], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        text = p.stdout.decode("utf-8", "replace")
        rc = p.returncode
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode("utf-8", "replace")
        rc = None
    out.seconds = time.monotonic() - t0
    out.log = text
    lines = [l for l in text.splitlines() if l.strip()]
    m = None
    for l in reversed(lines):      # the summary is the binary's last stdout line; stderr may interleave
        m = SUMMARY_RE.match(l)
        if m:
            break
    if m:
        out.passed, out.failed = int(m.group(1)), int(m.group(2))
        out.skipped = int(m.group(3) or 0)
    else:
        out.failed += 1
        out.notes.append("no 'N passed, N failed' line")
    if rc is None:
        out.failed += 1
        out.notes.append(f"timed out after {timeout:.0f} s")
    elif rc != 0 and out.failed == 0:
        out.failed += 1
        out.notes.append(f"exit status {rc} with no failed test" +
                         (" (killed by signal %d)" % -rc if rc < 0 else ""))
    if san_dir:
        reports = sanitizer_reports(san_dir)
        if reports:
            out.failed += 1
            out.notes.append(f"{len(reports)} sanitizer report(s)")
            out.log += "".join(f"\n---- {n} ----\n{t}" for n, t in reports)
    return out


# --------------------------------------------------------------------------------------------
# Fuzz harnesses: libFuzzer for a fixed number of inputs; a finding is one failed test

def run_fuzz(binary, name, env, timeout, tmp, load):
    short = name.split(":", 1)[1]
    out = Outcome(name)
    work = os.path.join(tmp, "fuzz-corpus-" + short)      # new inputs: thrown away
    arts = os.path.join(BUILD, "fuzz", "artifacts", short + "-test")
    os.makedirs(work, exist_ok=True)
    os.makedirs(arts, exist_ok=True)
    runs = FUZZ_TEST_RUNS.get(short, 2000)
    cmd = fuzzrun.command(binary, short, work, arts, runs=runs, seed=1,
                          timeout=fuzzrun.TIMEOUT * load)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=dict(env, TMPDIR=tmp), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        text, rc = p.stdout.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        text, rc = (e.stdout or b"").decode("utf-8", "replace"), None
    out.seconds = time.monotonic() - t0
    out.log = " ".join(cmd) + "\n" + text
    o = fuzzrun.outcome(text, rc if rc is not None else -1)
    if rc is None:
        out.failed = 1
        out.notes.append(f"timed out after {timeout:.0f} s ({o['runs']} of {runs} inputs run)")
    elif o["ok"] and o["runs"] >= runs:
        out.passed = 1
    else:
        out.failed = 1
        out.notes.append(o["finding"] or f"{o['runs']} of {runs} inputs run")
        if o["reproducer"]:
            out.notes.append(f"reproducer {o['reproducer']} (rerun: {binary} {o['reproducer']})")
    return out


# --------------------------------------------------------------------------------------------
# Python suites: each runs in a child process (`run.py --child FILE --result JSON`)

class CountingResult(unittest.TextTestResult):
    """Counts every outcome, sub-tests included: a failing sub-test is one failure, a skipped
    one a skip; a test passes once when it (and all its sub-tests) passed."""

    def __init__(self, stream, descriptions, verbosity):
        super().__init__(stream, descriptions, verbosity)
        self.n_passed = self.n_failed = self.n_errors = self.n_skipped = 0
        self.skip_reasons = []
        self._t0 = {}

    def startTest(self, test):
        self._t0[test.id()] = time.monotonic()
        super().startTest(test)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.n_passed += 1

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.n_failed += 1

    def addError(self, test, err):
        super().addError(test, err)
        self.n_errors += 1

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.n_skipped += 1
        self.skip_reasons.append((str(test), reason))

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.n_passed += 1

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.n_failed += 1

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            if issubclass(err[0], test.failureException):
                self.n_failed += 1
            else:
                self.n_errors += 1

    def stopTest(self, test):
        super().stopTest(test)
        t0 = self._t0.pop(test.id(), None)
        if t0 is not None and time.monotonic() - t0 > 3:
            self.stream.writeln(f"    ({test.id()} took {time.monotonic() - t0:.1f} s)")
            self.stream.flush()


def child_main(path, result_path, patterns, verbose):
    sys.path.insert(0, TESTS)
    modname = os.path.splitext(os.path.basename(path))[0]
    counts = {"passed": 0, "failed": 0, "skipped": 0, "notes": []}
    stream = sys.stdout
    try:
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
        loader = unittest.TestLoader()
        if patterns:
            loader.testNamePatterns = [p if "*" in p else f"*{p}*" for p in patterns]
        suite = loader.loadTestsFromModule(mod)
        runner = unittest.TextTestRunner(stream=stream, verbosity=2, resultclass=CountingResult)
        result = runner.run(suite)
        counts["passed"] = result.n_passed
        counts["failed"] = result.n_failed + result.n_errors
        counts["skipped"] = result.n_skipped
        if getattr(mod, "NO_SKIPS", False) and result.n_skipped:
            counts["failed"] += result.n_skipped
            counts["skipped"] = 0
            counts["notes"].append(f"{result.n_skipped} skipped test(s) in a suite that forbids skips")
            for t, r in result.skip_reasons:
                print(f"SKIPPED (counted as failure): {t}: {r}")
        if suite.countTestCases() == 0 and not patterns:
            counts["failed"] += 1
            counts["notes"].append("the suite holds no test")
    except Exception:
        traceback.print_exc()
        counts["failed"] += 1
        counts["notes"].append("the suite could not be loaded or crashed")
    sys.stdout.flush()
    with open(result_path, "w") as f:
        json.dump(counts, f)
    return 0


def kill_leftovers(marker):
    """SIGKILLs the processes (kernels) whose command line mentions marker, a directory that
    only one suite uses (its connection files live there); returns how many there were."""
    n = 0
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmd:
            try:
                os.kill(int(pid), 9)
                n += 1
            except OSError:
                pass
    return n


def run_suite(path, name, env, timeout, result_dir, san_dir, patterns, verbose, print_lock):
    out = Outcome(name)
    result_path = os.path.join(result_dir, name.replace(":", "_") + ".json")
    log_path = os.path.join(result_dir, name.replace(":", "_") + ".log")
    if san_dir:
        shutil.rmtree(san_dir, ignore_errors=True)
        env = dict(env, **sanitizer_env(san_dir))
    cmd = [PYTHON, os.path.abspath(__file__), "--child", path, "--result", result_path]
    for p in patterns:
        cmd += ["-k", p]
    t0 = time.monotonic()
    with open(log_path, "wb") as logf:
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                             stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.wait()
            rc = None
    out.seconds = time.monotonic() - t0
    # A kernel still running after its suite ended is one the suite failed to shut down.
    left = kill_leftovers(os.path.dirname(env["JUPYTER_RUNTIME_DIR"]) + os.sep)
    if left:
        out.notes.append(f"killed {left} kernel process(es) left running by the suite")
    with open(log_path, errors="replace") as f:
        out.log = f.read()
    try:
        with open(result_path) as f:
            counts = json.load(f)
        out.passed, out.failed, out.skipped = counts["passed"], counts["failed"], counts["skipped"]
        out.notes += counts["notes"]
    except (OSError, ValueError):
        out.failed += 1
        out.notes.append("timed out" if rc is None else f"the suite's process died (status {rc})")
    if rc is None:
        out.failed += 1
        out.notes.append(f"timed out after {timeout:.0f} s")
    if san_dir:
        reports = sanitizer_reports(san_dir)
        if reports:
            out.failed += 1
            out.notes.append(f"{len(reports)} sanitizer report(s) from the ASan kernel")
            out.log += "".join(f"\n---- {n} ----\n{t}" for n, t in reports)
    return out


# --------------------------------------------------------------------------------------------

def install_kernelspec(exe, prefix, timeout):
    """`labbook install --prefix PREFIX --exe EXE`; returns (ok, message)."""
    cmd = [os.path.join(BUILD, "labbook"), "install", "--prefix", prefix, "--exe", exe]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"{' '.join(cmd)}: {e}"
    spec = os.path.join(prefix, "share", "jupyter", "kernels", KERNEL_NAME, "kernel.json")
    if p.returncode != 0 or not os.path.isfile(spec):
        return False, (f"{' '.join(cmd)} exited {p.returncode}; {spec} "
                       f"{'exists' if os.path.isfile(spec) else 'missing'}\n"
                       + p.stdout.decode("utf-8", "replace"))
    try:
        with open(spec) as f:
            argv = json.load(f)["argv"]
        if argv[0] != exe:
            return False, f"{spec}: argv[0] is {argv[0]!r}, expected {exe!r}"
    except (OSError, ValueError, KeyError, IndexError) as e:
        return False, f"{spec}: {e}"
    return True, spec


def discover_py_suites():
    """tests/test_*.py -> [(name, path, sanitize)]; a module opts into the ASan re-run with a
    top-level `SANITIZE = True` (read without importing it)."""
    suites = []
    for fn in sorted(os.listdir(TESTS)):
        if fn.startswith("test_") and fn.endswith(".py"):
            path = os.path.join(TESTS, fn)
            with open(path, errors="replace") as f:
                src = f.read()
            sanitize = re.search(r"^SANITIZE\s*=\s*True\b", src, re.M) is not None
            suites.append((fn[len("test_"):-len(".py")], path, sanitize))
    return suites


def discover_unit(dirpath):
    if not os.path.isdir(dirpath):
        return []
    return sorted(os.path.join(dirpath, f) for f in os.listdir(dirpath)
                  if f.startswith("test_") and os.access(os.path.join(dirpath, f), os.X_OK)
                  and os.path.isfile(os.path.join(dirpath, f)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("filters", nargs="*", help="run only the suites whose name contains one of these")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="only test methods matching this pattern (unittest -k)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    ap.add_argument("--no-asan", action="store_true", help="skip everything that uses build/asan")
    ap.add_argument("--no-fuzz", action="store_true", help="skip the fuzz harnesses")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        return child_main(args.child, args.result, args.patterns, args.verbose)

    exe = os.path.join(BUILD, "labbook")
    asan_exe = os.path.join(BUILD, "asan", "labbook")

    # ---- plan
    plan = []   # (name, kind, arg)
    for b in discover_unit(os.path.join(BUILD, "tests")):
        plan.append(("unit:" + os.path.basename(b), "unit", b))
    if not args.no_asan:
        for b in discover_unit(os.path.join(BUILD, "asan", "tests")):
            plan.append(("asan-unit:" + os.path.basename(b), "asan-unit", b))
    py_suites = discover_py_suites()
    for name, path, sanitize in py_suites:
        plan.append(("py:" + name, "py", path))
        if name in GENERIC_CORE_SUITES:
            plan.append(("py:%s@%s" % (name, GENERIC_CORE), "py-core", path))
    if not args.no_asan:
        for name, path, sanitize in py_suites:
            if sanitize:
                plan.append(("asan:" + name, "asan", path))
    if not args.no_fuzz:
        for name, binary in fuzzrun.harnesses(BUILD).items():
            plan.append(("fuzz:" + name, "fuzz", binary))
    if args.filters:
        plan = [p for p in plan if any(f in p[0] for f in args.filters)]
    if args.list:
        for p in plan:
            print(p[0])
        return 0

    t_start = time.monotonic()
    load = max(1, args.jobs) * float(os.environ.get("LABBOOK_TEST_LOAD") or 1)
    limits = timeouts(load)
    outcomes = []
    setup = Outcome("setup")
    tmp = tempfile.mkdtemp(prefix="labbook-test-")
    try:
        kinds = {k for _, k, _ in plan}
        if kinds & {"py", "py-core", "asan"} and not os.access(exe, os.X_OK):
            setup.failed += 1
            setup.notes.append(f"{exe} is missing: run `make build build-asan` first")
        if "asan" in kinds and not os.access(asan_exe, os.X_OK):
            setup.failed += 1
            setup.notes.append(f"{asan_exe} is missing: run `make build-asan` first")
        if not args.filters:
            # Every tests/unit/test_*.c must have been built, in both variants.
            srcs = sorted(f[:-2] for f in os.listdir(os.path.join(TESTS, "unit"))
                          if f.startswith("test_") and f.endswith(".c")) \
                if os.path.isdir(os.path.join(TESTS, "unit")) else []
            dirs = [("build/tests", os.path.join(BUILD, "tests"))]
            if not args.no_asan:
                dirs.append(("build/asan/tests", os.path.join(BUILD, "asan", "tests")))
            for label, d in dirs:
                built = {os.path.basename(b) for b in discover_unit(d)}
                missing = [n for n in srcs if n not in built]
                if missing:
                    setup.failed += 1
                    setup.notes.append(f"unit tests not built in {label}: {', '.join(missing)}")
            # and every tests/fuzz/fuzz_*.c
            missing = [n for n in fuzzrun.sources() if n not in fuzzrun.harnesses(BUILD)]
            if missing and not args.no_fuzz:
                setup.failed += 1
                setup.notes.append(f"fuzz harnesses not built in build/fuzz: {', '.join(missing)} "
                                   "(make fuzz-build)")

        # ---- kernelspecs (one prefix per build variant)
        prefixes = {}
        for variant, vexe in (("release", exe), ("asan", asan_exe)):
            if variant == "asan" and not any(k == "asan" for _, k, _ in plan):
                continue
            if not any(k in ("py", "py-core", "asan") for _, k, _ in plan):
                continue
            if not os.access(vexe, os.X_OK):
                continue
            prefix = os.path.join(tmp, "prefix-" + variant)
            ok, msg = install_kernelspec(vexe, prefix, 60 * load)
            if ok:
                prefixes[variant] = prefix
            else:
                setup.failed += 1
                setup.notes.append(f"kernelspec install ({variant}) failed: {msg}")

        base_env = dict(os.environ)
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "JUPYTER_PREFER_ENV_PATH",
                  "PYTHONPATH"):
            base_env.pop(k, None)
        base_env["PYTHONUNBUFFERED"] = "1"
        base_env["PYTHONDONTWRITEBYTECODE"] = "1"
        base_env["JUPYTER_PLATFORM_DIRS"] = "1"
        base_env["LABBOOK_ROOT"] = ROOT
        base_env["LABBOOK_KERNEL_NAME"] = KERNEL_NAME
        # Every suite and unit binary scales its limits by how many run side by side.
        base_env["LABBOOK_TEST_LOAD"] = "%g" % load

        def suite_env(name, variant):
            d = os.path.join(tmp, "env-" + name.replace(":", "_"))
            env = dict(base_env)
            env["JUPYTER_PATH"] = os.path.join(prefixes.get(variant, tmp), "share", "jupyter")
            env["JUPYTER_DATA_DIR"] = os.path.join(d, "data")
            env["JUPYTER_RUNTIME_DIR"] = os.path.join(d, "runtime")
            env["JUPYTER_CONFIG_DIR"] = os.path.join(d, "config")
            env["IPYTHONDIR"] = os.path.join(d, "ipython")
            env["HOME"] = os.path.join(d, "home")   # nothing under the real ~/.local is read
            env["TMPDIR"] = os.path.join(d, "tmp")
            for k in ("JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "HOME", "TMPDIR"):
                os.makedirs(env[k], exist_ok=True)
            env["LABBOOK_EXE"] = asan_exe if variant == "asan" else exe
            env["LABBOOK_VARIANT"] = variant
            return env

        print(f"labbook tests: {len(plan)} suite(s), {args.jobs} at a time, "
              f"limits scaled x{load:g}, temp dir {tmp}")
        if setup.failed:
            for n in setup.notes:
                print("  setup: " + n)
        print_lock = threading.Lock()

        def job(item):
            name, kind, arg = item
            try:
                if kind == "unit":
                    return run_unit(arg, name, dict(base_env, HOME=tmp), limits[kind], None)
                if kind == "asan-unit":
                    return run_unit(arg, name, dict(base_env, HOME=tmp), limits[kind],
                                    os.path.join(tmp, "san-" + name.replace(":", "_")))
                if kind == "fuzz":
                    return run_fuzz(arg, name, dict(base_env, HOME=tmp), limits[kind], tmp, load)
                variant = "asan" if kind == "asan" else "release"
                if variant not in prefixes:
                    o = Outcome(name)
                    o.failed = 1
                    o.notes.append(f"no {variant} kernelspec (see setup)")
                    return o
                san = os.path.join(tmp, "san-" + name.replace(":", "_")) if kind == "asan" else None
                env = suite_env(name, variant)
                if kind == "py-core":
                    env["OPENBLAS_CORETYPE"] = GENERIC_CORE
                return run_suite(arg, name, env, limits[kind], tmp, san, args.patterns,
                                 args.verbose, print_lock)
            except Exception:
                o = Outcome(name)
                o.failed = 1
                o.notes.append("runner error")
                o.log = traceback.format_exc()
                return o

        def report(o):
            with print_lock:
                print(o.line(), flush=True)
                for n in o.notes:
                    print(f"       {n}")
                if (o.failed or args.verbose) and o.log:
                    print(indent_tail(o.log, 400 if not args.verbose else 100000), flush=True)

        # Heavier suites first so that the two workers finish together.
        order = {"asan": 0, "py": 1, "py-core": 1, "fuzz": 2, "asan-unit": 2, "unit": 3}
        todo = sorted(plan, key=lambda p: order[p[1]])
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            futs = [ex.submit(job, item) for item in todo]
            for f in concurrent.futures.as_completed(futs):
                o = f.result()
                outcomes.append(o)
                report(o)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    if setup.failed:
        outcomes.append(setup)
    passed = sum(o.passed for o in outcomes)
    failed = sum(o.failed for o in outcomes)
    skipped = sum(o.skipped for o in outcomes)
    bad = [o.name for o in outcomes if o.failed]
    print(f"labbook tests: {len(outcomes)} suite(s) in {time.monotonic() - t_start:.1f} s"
          + (f"; failing: {', '.join(sorted(bad))}" if bad else ""))
    if not plan:
        print("no suite matched", file=sys.stderr)
        failed += 1
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line, flush=True)
    return 1 if failed or (passed == 0) else 0


def indent_tail(text, max_lines):
    lines = text.rstrip().splitlines()
    if len(lines) > max_lines:
        lines = [f"... ({len(lines) - max_lines} lines cut)"] + lines[-max_lines:]
    return "\n".join("       | " + l for l in lines)


if __name__ == "__main__":
    sys.exit(main())
