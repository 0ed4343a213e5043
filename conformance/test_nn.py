"""softmax / log_softmax / sigmoid / softplus: accuracy and numerical stability with extreme
inputs (logits of 1e4, probabilities far below float32's resolution)."""
from __future__ import annotations


import numpy as np
import pytest

import lamina.ops as ops

from ._cases import ref_log_softmax, ref_sigmoid, ref_softmax
from ._checks import Failures, assert_close, eps, require, sqrt_n, tiny
from ._inputs import STRIDED, Layout, real, rng_for


def softmax_bound(x64, axis, ref, dtype):
    """p_i * eps * 4 (|x_i| + max|x| + sqrt(n)): the condition number of softmax under a relative
    eps perturbation of the inputs, plus the rounding of the normalising sum."""
    n = x64.shape[axis] if x64.ndim else 1
    big = np.max(np.abs(x64), axis=axis, keepdims=True) if x64.size else 0.0
    return 4 * eps(dtype) * ref * (np.abs(x64) + big + sqrt_n(n)) + 2 * tiny(dtype)


def log_softmax_bound(x64, axis, ref, dtype):
    n = x64.shape[axis] if x64.ndim else 1
    big = np.max(np.abs(x64), axis=axis, keepdims=True) if x64.size else 0.0
    return 4 * eps(dtype) * (np.abs(x64) + big + np.abs(ref) + sqrt_n(n))


def _inputs():
    # (label, layout, axis, scale): values are uniform in [-scale, scale]
    return [
        ("vector", Layout("x", (9,)), -1, 5.0),
        ("rows", Layout("x", (4, 7)), -1, 5.0),
        ("columns", Layout("x", (4, 7)), 0, 5.0),
        ("3-d-axis1", Layout("x", (2, 5, 3)), 1, 5.0),
        ("transposed", Layout("x", (6, 4), transpose=True), -1, 5.0),
        ("strided", Layout("x", (3, 12), key=STRIDED), -1, 5.0),
        ("empty-batch", Layout("x", (0, 5)), -1, 5.0),
        ("logits-1e4", Layout("x", (5, 10)), -1, 1e4),
        ("logits-1e4-axis0", Layout("x", (10, 5)), 0, 1e4),
        ("logits-100", Layout("x", (5, 10)), -1, 100.0),
    ]


def _rows_sum_to_one(got, axis, dtype, what):
    n = got.shape[axis]
    s = np.sum(got.astype(np.float64), axis=axis)
    require(np.abs(s - 1.0) <= 4 * eps(dtype) * (n + 1),
            f"{what}: rows must sum to 1, max |sum - 1| = {np.max(np.abs(s - 1.0)) if s.size else 0:.3g}")


def test_softmax(backend, dtype):
    rng = rng_for("softmax", dtype)
    fails = Failures()
    for label, layout, axis, scale in _inputs():
        def one(label=label, layout=layout, axis=axis, scale=scale):
            x, hx = layout.make(backend, real(-scale, scale), rng, dtype)
            got = backend.to_numpy(backend.softmax(x, axis=axis))
            what = f"softmax {dtype} [{label}, axis={axis}]"
            require(np.isfinite(got), f"{what}: non-finite values, e.g. {got[~np.isfinite(got)][:4]}")
            x64 = hx.astype(np.float64)
            ref = ref_softmax(x64, axis)
            assert_close(got, ref, softmax_bound(x64, axis, ref, dtype), what, dtype=dtype)
            _rows_sum_to_one(got, axis, dtype, what)
        fails.check(label, one)
    fails.finish()


def test_softmax_default_axis_is_last(backend, dtype):
    hx = np.asarray([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype)
    got = backend.to_numpy(backend.softmax(backend.asarray(hx)))
    ref = ref_softmax(hx.astype(np.float64), -1)
    assert_close(got, ref, softmax_bound(hx.astype(np.float64), -1, ref, dtype), "softmax default axis", dtype=dtype)


@pytest.mark.parametrize("logit", [1e4, -1e4, 3e38])
def test_softmax_equal_huge_logits(backend, dtype, logit):
    """A row of equal huge logits is exactly uniform (exp(x - max) = 1 everywhere)."""
    hx = np.full((2, 4), logit, dtype)
    got = backend.to_numpy(backend.softmax(backend.asarray(hx)))
    assert_close(got, np.full((2, 4), 0.25), 4 * eps(dtype) * 0.25, f"softmax of equal logits {logit:g}", dtype=dtype)


def test_log_softmax(backend, dtype):
    rng = rng_for("log_softmax", dtype)
    fails = Failures()
    for label, layout, axis, scale in _inputs():
        def one(label=label, layout=layout, axis=axis, scale=scale):
            x, hx = layout.make(backend, real(-scale, scale), rng, dtype)
            got = backend.to_numpy(backend.log_softmax(x, axis=axis))
            what = f"log_softmax {dtype} [{label}, axis={axis}]"
            require(np.isfinite(got), f"{what}: non-finite values (log_softmax must be finite for finite input)")
            x64 = hx.astype(np.float64)
            ref = ref_log_softmax(x64, axis)
            assert_close(got, ref, log_softmax_bound(x64, axis, ref, dtype), what, dtype=dtype)
        fails.check(label, one)
    fails.finish()


def test_log_softmax_spread_1e4(backend, dtype):
    """[0, 1e4]: log-probabilities -1e4 and 0, both finite (a naive log(softmax) gives -inf)."""
    hx = np.asarray([[0.0, 1e4], [-1e4, 1e4]], dtype)
    got = backend.to_numpy(backend.log_softmax(backend.asarray(hx)))
    ref = np.asarray([[-1e4, 0.0], [-2e4, 0.0]])
    require(np.isfinite(got), f"log_softmax with a 1e4 spread must be finite, got {got}")
    assert_close(got, ref, log_softmax_bound(hx.astype(np.float64), -1, ref, dtype), "log_softmax 1e4 spread", dtype=dtype)


def test_sigmoid_tails(backend, dtype, quiet_numpy):
    """sigmoid(x) for very negative x is a tiny but relative-accurate probability.

    float64: sigmoid(-100) = 3.72e-44, a normal float64 — must be > 0 and within 8 eps relative.
    float32: sigmoid(-100) is below float32's smallest normal (1.18e-38) — a device may flush
    subnormals to zero — so the float32 check uses sigmoid(-80) = 1.8e-35 (normal) instead."""
    xs = [-100.0, -700.0, -30.0, 30.0, 100.0] if dtype == "float64" else [-80.0, -30.0, -17.0, 17.0, 80.0]
    got = backend.to_numpy(backend.sigmoid(backend.asarray(np.asarray(xs, dtype))))
    ref = ref_sigmoid(np.asarray(xs))
    assert got[0] > 0, f"sigmoid({xs[0]}) must be > 0 in {dtype}, got {got[0]}"
    assert_close(got, ref, 8 * eps(dtype) * ref + 2 * tiny(dtype), f"sigmoid tails {dtype}", dtype=dtype)
    assert got[-1] == 1.0


def test_ops_softplus_extremes(backend, dtype):
    """softplus(1000) = 1000 exactly, softplus(-1000) = 0, softplus(-80) relative-accurate."""
    xs = np.asarray([1000.0, -1000.0, -80.0, 0.0, 40.0], dtype)
    got = ops.softplus(ops.convert_to_tensor(backend.asarray(xs))).numpy()
    ref = np.logaddexp(0.0, xs.astype(np.float64))
    assert got[0] == 1000.0, f"softplus(1000) must be 1000, got {got[0]}"
    assert got[1] == 0.0
    assert_close(got, ref, 8 * eps(dtype) * np.abs(ref) + 2 * tiny(dtype), f"softplus extremes {dtype}", dtype=dtype)


def test_ops_softmax_family_large_logits(backend, dtype):
    """Through lamina.ops, forward and gradient stay finite and correct at logits of 1e4."""
    hx = np.asarray([[1e4, 1e4 - 1.0, -1e4, 0.0], [-1e4, -1e4 + 2.0, -1e4 + 1.0, -1e4]], dtype)
    x = ops.convert_to_tensor(backend.asarray(hx))
    x64 = hx.astype(np.float64)
    w = np.asarray([[1.0, -2.0, 0.5, 3.0], [0.0, 1.0, -1.0, 2.0]], dtype)
    for name, ref_fn in (("softmax", ref_softmax), ("log_softmax", ref_log_softmax)):
        with ops.GradientTape() as tape:
            tape.watch(x)
            y = getattr(ops, name)(x)
            loss = ops.sum(ops.multiply(y, ops.convert_to_tensor(backend.asarray(w))))
            g = tape.gradient(loss, x).numpy()
        out = y.numpy()
        require(np.isfinite(out), f"ops.{name} at 1e4 logits: non-finite output {out}")
        require(np.isfinite(g), f"ops.{name} at 1e4 logits: non-finite gradient {g}")
        ref = ref_fn(x64, -1)
        bound = (softmax_bound if name == "softmax" else log_softmax_bound)(x64, -1, ref, dtype)
        assert_close(out, ref, bound, f"ops.{name} large logits {dtype}", dtype=dtype)
        p = ref_softmax(x64, -1)
        gy = w.astype(np.float64)
        gref = p * (gy - np.sum(gy * p, -1, keepdims=True)) if name == "softmax" else gy - p * np.sum(gy, -1, keepdims=True)
        assert_close(g, gref, 16 * eps(dtype) * (np.abs(gref) + 1e4 * p * np.max(np.abs(gy)) + np.max(np.abs(gy))),
                     f"ops.{name} gradient at large logits {dtype}", dtype=dtype)
