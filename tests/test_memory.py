"""Memory soak: the release kernel's RSS stays flat over 1,554 cells of every kind, sent back to
back by a lean ZeroMQ client (tests/lbsoak.py: models, plots, checkpoints, data sets, tables, a
training run, deletions and failing cells). The longer soak that prints the curve is
bench/memory_soak (`make bench-memory`, 10,000 cells).

Release build only: the ASan kernel's allocator (quarantine, redzones) has its own growth, and
LeakSanitizer already checks the ASan kernel for leaks in the other suites."""

import os
import tempfile
import unittest

import lbsoak
import lbtest
from lbtest import ASAN, limit

CYCLES = 42                          # 42 x 37 cells: 15 to 30 s on the project's 2-core machine

# Growth allowed between the second and the last quarter of the cells (the first is warm-up:
# data loaded, caches and the replay-protection ring filled), as medians of the RSS at the end
# of each cycle. What legitimately grows in between is the session's state: each training run
# is kept (`runs`: its record, its model, its final weights; ~32 KiB for the cycle's small
# model) and each cell's input and result text stay in the history; measured 0.25 to 0.8 MiB
# over the ~21 cycles that separate the two medians. Before large blocks were mapped
# (ops/arena.c) the heap fragmented and the same soak grew 7 to 12 MiB there (the amount
# depends on timing). The bound sits between the two with room on both sides; it does not
# depend on the machine's speed, since what the session keeps is set by the cells alone.
BOUND_KIB = 3072


@unittest.skipIf(ASAN, "release build only (the ASan allocator has its own growth)")
class MemorySoak(unittest.TestCase):

    def test_rss_flat_over_a_soak_of_every_kind_of_cell(self):
        cells = CYCLES * len(lbsoak.CYCLE)
        with tempfile.TemporaryDirectory(prefix="labbook-soak-") as folder:
            r = lbsoak.soak(lbtest.EXE, folder, cells, every=len(lbsoak.CYCLE),
                            cell_timeout=limit(120), env=dict(os.environ))
        samples = r["samples"]
        curve = ", ".join(f"{n}: {m['rss'] / 1024:.1f}" for n, m, _ in samples)
        growth = lbsoak.quarter_growth(samples, cells)
        print(f"\n    RSS (cells: MiB) {curve}\n    growth from the second to the last quarter: "
              f"{growth:.0f} KiB (bound {BOUND_KIB})", flush=True)
        self.assertEqual(samples[-1][0], cells)
        self.assertGreater(r["iopub_messages"], cells, "the cells published nothing?")
        self.assertLess(growth, BOUND_KIB,
                        f"RSS grew by {growth:.0f} KiB between the second and the last quarter "
                        f"of {cells} cells; curve (cells: MiB): {curve}")


if __name__ == "__main__":
    unittest.main()
