"""noise.py — agreement with PyTorch judged against this machine's own float noise (not a suite:
only tests/test_*.py are discovered).

A fixed tolerance such as "1e-4 relative" holds on the CPU it was tuned on and fails on another
whose BLAS kernels round differently (a Xeon whose OpenBLAS runs the generic "Prescott" core,
say). Instead, every comparison with PyTorch computes the same thing twice in PyTorch, in
float32 and in float64, from the same inputs:

    noise = |torch float32 - torch float64|    how far an honest float32 implementation lands
    error = |labbook - torch float64|          how far labbook lands

and asserts   error <= MULT * max(noise, FLOOR * scale)

with scale = max |torch float64| (tensors are compared by their largest element difference).
MULT is the stated multiple: labbook's float32 arithmetic may round differently from PyTorch's
(other summation orders, Winograd transforms, fused kernels), but not by more than a small
factor. FLOOR covers results PyTorch happens to get exactly right in float32 (relu, max
pooling, a copy), where the noise is 0 but another correct order of operations is not exact.

The training comparisons (test_train_parity) use the same rule on per-epoch figures, with the
noise taken over several float32 runs (see that suite).
"""

import numpy as np

MULT = 16           # labbook may be this many times further from float64 than PyTorch float32
FLOOR = 2.0 ** -23  # relative (to the tensor's scale) floor of the noise: one float32 ulp of it


def to_numpy(a):
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def measure(got, ref32, ref64, floor=FLOOR):
    """(error, noise, allowed, scale) of got against the float32/float64 references."""
    got, ref32, ref64 = to_numpy(got), to_numpy(ref32), to_numpy(ref64)
    if ref64.size == 0:
        return 0.0, 0.0, 0.0, 0.0
    scale = float(np.abs(ref64).max())
    error = float(np.abs(got - ref64).max())
    noise = float(np.abs(ref32 - ref64).max())
    allowed = MULT * max(noise, floor * scale)
    return error, noise, allowed, scale


class NoiseMixin:
    """assertAgrees for unittest.TestCase subclasses. Every comparison is collected in
    self.noise_log (name, error, noise, allowed); after each test the one closest to its bound
    is printed (tests/run.py -v shows it)."""

    def tearDown(self):
        log = getattr(self, "noise_log", [])
        if log:
            name, error, noise, allowed = max(log, key=lambda e: e[1] / e[3] if e[3] else 0)
            print("\n  %s: %d comparisons; the closest to its bound: %s at %.2f of it (labbook %.2g, float32 %.2g)"
                  % (self._testMethodName, len(log), name, error / allowed if allowed else 0, error, noise),
                  flush=True)
        self.noise_log = []

    def assertAgrees(self, name, got, ref32, ref64, floor=FLOOR):
        got_shape = tuple(np.shape(to_numpy(got)))
        self.assertEqual(got_shape, tuple(np.shape(to_numpy(ref64))), name + ": shape")
        error, noise, allowed, scale = measure(got, ref32, ref64, floor)
        if not hasattr(self, "noise_log"):
            self.noise_log = []
        self.noise_log.append((name, error, noise, allowed))
        self.assertLessEqual(
            error, allowed,
            "%s: labbook is %.3g from PyTorch float64 (scale %.3g), PyTorch float32 %.3g; allowed %d x "
            "max(float32 noise, %.2g x scale) = %.3g" % (name, error, scale, noise, MULT, floor, allowed))
