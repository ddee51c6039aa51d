"""lbrev.py — builds labbook as it was at an earlier commit, beside the current build, so that a
test or a benchmark can run both on the same machine in the same run (not a suite itself).

    exe, plugins = lbrev.build("40c6e1a")   # build/rev-40c6e1a/{src,build}; cached
    subprocess.run([exe, "run", "x.lab"], env=dict(os.environ, LABBOOK_PLUGIN_PATH=plugins))

The source comes from `git archive` of the repository the tests run from; only the program and
its plugins are built (make's own targets of that commit). Raises RevUnavailable when the
commit cannot be had (no git, a shallow or exported tree): callers skip with its message.
"""

import os
import shutil
import subprocess

ROOT = os.environ.get("LABBOOK_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LABBOOK_BUILD_DIR") or os.path.join(ROOT, "build")

# The last commit before the architecture issue (kernel/ in rooms, tasks): what "unchanged for
# users" is measured against (tests/test_unchanged.py). A later change that alters the arithmetic
# on purpose (a faster kernel that rounds differently) moves this to the commit just before it,
# and says so in its message: the test guards against changes nobody meant.
BEFORE_ARCHITECTURE = "40c6e1a"


class RevUnavailable(Exception):
    pass


def full_hash(rev):
    try:
        r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", "--quiet", rev + "^{commit}"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RevUnavailable(f"git is not available ({e})")
    if r.returncode != 0:
        raise RevUnavailable(f"commit {rev} is not in this repository (a shallow clone or an exported tree)")
    return r.stdout.strip()


def build(rev, jobs=2):
    """(path of the labbook program, its plugin directory) of commit rev, built once."""
    h = full_hash(rev)
    top = os.path.join(BUILD, "rev-" + h[:12])
    src, out = os.path.join(top, "src"), os.path.join(top, "build")
    exe, plugins = os.path.join(out, "labbook"), os.path.join(out, "plugins")
    stamp = os.path.join(top, "built")
    if os.path.exists(stamp):
        return exe, plugins
    shutil.rmtree(top, ignore_errors=True)
    os.makedirs(src)
    arch = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", h], capture_output=True, timeout=300)
    if arch.returncode != 0:
        raise RevUnavailable(f"git archive {h[:12]} failed: {arch.stderr.decode(errors='replace')[:200]}")
    subprocess.run(["tar", "-x", "-C", src], input=arch.stdout, check=True, timeout=300)
    sos = sorted("build/plugins/%s.so" % d for d in os.listdir(os.path.join(src, "plugins"))
                 if os.path.isdir(os.path.join(src, "plugins", d)) and d != "examples")
    r = subprocess.run(["make", "-C", src, "-j%d" % jobs, "Q=@", "B=" + out, exe] +
                       [os.path.join(out, so[len("build/"):]) for so in sos],
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise AssertionError(f"building {h[:12]} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    open(stamp, "w").close()
    return exe, plugins
