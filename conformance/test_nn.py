"""softmax / log_softmax / sigmoid / softplus: accuracy and numerical stability with extreme
inputs (logits of 1e4, probabilities far below float32's resolution)."""
from __future__ import annotations


import numpy as np
import pytest

import lamina.ops as ops

from ._cases import ref_log_softmax, ref_sigmoid, ref_softmax
from ._checks import Failures, assert_close, assert_exact, eps, require, sqrt_n, tiny
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


# --- softmax_grad and the cross-entropy of probabilities (and its gradient) --------------------------
# Inputs are built row by row (one row per position along ``axis``) and written into the view a
# Layout makes, so the same rows are tested contiguous, transposed (rows with a non-unit stride) and
# sliced (every other element). Row lengths cover 1, a few, 128 / 129 (the NumPy backend's compiled
# path takes last-axis rows of at most 128 elements and falls back above) and 300.


def _from_rows(be, layout, axis, rows, rng, dtype):
    """(backend array, host array) laid out as ``layout``: ``rows`` (batch, n) along ``axis`` of the
    view; where the view does not reach (a sliced layout), the base holds random values."""
    shape = layout.shape
    ax = axis % len(shape)
    base = rng.uniform(-9.0, 9.0, layout.base_shape)
    view = layout.host(base)
    rows = np.asarray(rows, dtype=np.float64).reshape(shape[:ax] + shape[ax + 1:] + (shape[ax],))
    view[...] = np.moveaxis(rows, -1, ax)
    base = base.astype(dtype)
    return layout.device(be, be.asarray(base)), layout.host(base)


def _softmax_grad_cases():
    # (label, layout of y, layout of g, axis, logit scale, pass axis explicitly)
    same = None
    return [
        ("rows-1", Layout("y", (4, 1)), same, -1, 3.0, True),
        ("rows-3", Layout("y", (5, 3)), same, -1, 3.0, True),
        ("rows-10-default-axis", Layout("y", (6, 10)), same, -1, 3.0, False),
        ("rows-128", Layout("y", (3, 128)), same, -1, 3.0, True),
        ("rows-129", Layout("y", (3, 129)), same, -1, 3.0, True),
        ("rows-300", Layout("y", (4, 300)), same, -1, 3.0, True),
        ("vector", Layout("y", (9,)), same, 0, 3.0, True),
        ("columns-5", Layout("y", (5, 7)), same, 0, 3.0, True),
        ("columns-300", Layout("y", (300, 3)), same, 0, 3.0, True),
        ("3-d", Layout("y", (2, 3, 10)), same, -1, 3.0, True),
        ("3-d-axis1", Layout("y", (2, 7, 3)), same, 1, 3.0, True),
        ("3-d-axis-3", Layout("y", (6, 2, 3)), same, -3, 3.0, True),
        ("transposed", Layout("y", (10, 6), transpose=True), same, -1, 3.0, True),
        ("transposed-axis0", Layout("y", (10, 6), transpose=True), same, 0, 3.0, True),
        ("transposed-300", Layout("y", (300, 4), transpose=True), same, -1, 3.0, True),
        ("strided", Layout("y", (5, 20), key=STRIDED), same, -1, 3.0, True),
        ("strided-300", Layout("y", (3, 600), key=STRIDED), same, -1, 3.0, True),
        ("y-transposed-g-contiguous", Layout("y", (10, 6), transpose=True), Layout("g", (6, 10)), -1, 3.0, True),
        ("y-contiguous-g-strided", Layout("y", (4, 10)), Layout("g", (4, 20), key=STRIDED), -1, 3.0, True),
        # logits spread over 1e4: y holds exact zeros and ones (an underflowed softmax)
        ("logits-1e4", Layout("y", (4, 10)), same, -1, 1e4, True),
        ("empty-batch", Layout("y", (0, 5)), same, -1, 3.0, True),
        ("empty-batch-long", Layout("y", (0, 300)), same, -1, 3.0, True),
        ("empty-batch-axis0", Layout("y", (5, 0)), same, 0, 3.0, True),
    ]


def softmax_grad_bound(y64, g64, axis, ref, dtype):
    """``g*y - y*S`` with ``S = sum(g*y)``: each product and the difference round once (<= eps/2 of
    their size, 4 eps leaves room for a fused multiply-add or an extra rounding), and ``S`` errs by
    the suite's summation rule, eps * (4 |S| + 2 sqrt(n) sum|g*y|), which ``y`` then scales."""
    n = y64.shape[axis]
    gy = g64 * y64
    s = np.sum(gy, axis=axis, keepdims=True)
    mag = np.sum(np.abs(gy), axis=axis, keepdims=True)
    return eps(dtype) * (4 * np.abs(ref) + 4 * np.abs(gy) + np.abs(y64) * (4 * np.abs(s) + 2 * sqrt_n(n) * mag)) \
        + 2 * tiny(dtype)


def test_softmax_grad(backend, dtype):
    """softmax_grad(y, g) against ``g*y - y*sum(g*y)`` in float64 from the same (rounded) y and g, for
    y a softmax output: short and long rows, last axis and others, transposed and sliced inputs, an
    underflowed softmax (exact zeros) and empty batches."""
    rng = rng_for("softmax_grad", dtype)
    fails = Failures()
    for label, ly, lg, axis, scale, explicit in _softmax_grad_cases():
        def one(label=label, ly=ly, lg=lg, axis=axis, scale=scale, explicit=explicit):
            shape = ly.shape
            n = shape[axis]
            batch = int(np.prod(shape, dtype=np.int64)) // n if n else 0
            rows = ref_softmax(rng.uniform(-scale, scale, (batch, n)), -1)
            y, hy = _from_rows(backend, ly, axis, rows, rng, dtype)
            g, hg = (lg or ly).make(backend, real(-2, 2), rng, dtype)
            got = backend.to_numpy(backend.softmax_grad(y, g, axis=axis) if explicit else backend.softmax_grad(y, g))
            y64, g64 = hy.astype(np.float64), hg.astype(np.float64)
            ref = g64 * y64 - y64 * np.sum(g64 * y64, axis=axis, keepdims=True)
            assert_close(got, ref, softmax_grad_bound(y64, g64, axis, ref, dtype),
                         f"softmax_grad {dtype} [{label}, axis={axis}]", dtype=dtype)
        fails.check(label, one)
    fails.finish()


def _clip_bounds(epsilon, dtype):
    """The clip bounds as the backend's ``clip`` sees them: the Python floats rounded to ``dtype``."""
    t = np.dtype(dtype).type
    return float(t(epsilon)), float(t(1.0 - epsilon))


def _probability_rows(rng, batch, n):
    """Positive rows that are not normalised (each scaled by a factor in [0.05, 20], so the
    renormalisation matters), of four kinds in turn: spread over six decades (with epsilon 1e-3
    some entries clip); a third of the entries 1e-11 of the others (clipped at epsilon); one entry
    1e12 times the others (clipped at 1 - epsilon, the others at epsilon); near-uniform."""
    rows = np.empty((batch, n))
    for k in range(batch):
        kind = k % 4
        if kind == 0:
            r = np.exp(rng.uniform(np.log(1e-6), 0.0, n))
        elif kind == 1:
            r = rng.uniform(0.01, 1.0, n)
            r = np.where(rng.random(n) < 1 / 3, 1e-11 * rng.uniform(0.5, 1.0, n), r)
        elif kind == 2:
            r = 1e-12 * rng.uniform(0.5, 1.5, n)
            r[rng.integers(n)] = 1.0
        else:
            r = rng.uniform(0.5, 1.5, n)
        rows[k] = r * np.exp(rng.uniform(np.log(0.05), np.log(20.0)))
    return rows


def _target_rows(rng, batch, n, kind):
    if kind == "one-hot":
        t = np.zeros((batch, n))
        if n:
            t[np.arange(batch), rng.integers(n, size=batch)] = 1.0
        return t
    t = rng.uniform(0.0, 1.0, (batch, n)) * (rng.random((batch, n)) >= 0.2)  # soft, a fifth exactly zero
    return t / np.maximum(np.sum(t, axis=1, keepdims=True), 1e-300)


def _cce_reference(t64, y64, epsilon, axis, dtype):
    """The float64 forward pass (clip at the dtype-rounded bounds) and its bound.

    s = sum(y) of positive terms errs by the summation rule, (4 + 2 sqrt(n)) eps relative; p = y/s
    adds one rounding; clip is 1-Lipschitz (an entry the backend clips and the reference does not,
    or vice versa, is within p's own error of the bound); log adds 8 eps of |log c| (as the suite's
    transcendental rule) to the absolute error (5 + 2 sqrt(n)) eps that p's relative error becomes;
    the products t*log c and the final sum then follow the summation rule again. Summed:
    eps * (4 |per| + (2 sqrt(n) + 10) sum|t log c| + (2 sqrt(n) + 8) sum|t|)."""
    lo, hi = _clip_bounds(epsilon, dtype)
    n = y64.shape[axis]
    s = np.sum(y64, axis=axis, keepdims=True)
    p = y64 / s
    c = np.clip(p, lo, hi)
    logp = np.log(c)
    per = -np.sum(t64 * logp, axis=axis)
    e = eps(dtype)
    bound = e * (4 * np.abs(per) + (2 * sqrt_n(n) + 10) * np.sum(np.abs(t64 * logp), axis=axis)
                 + (2 * sqrt_n(n) + 8) * np.sum(np.abs(t64), axis=axis)) + 2 * tiny(dtype)
    return per, bound, (s, p, c, logp)


def _cce_grad_reference(g64, t64, saved64, epsilon, axis, dtype):
    """The float64 gradient from the backend's own saved (s, p, c) (the grad op's inputs) and its bound.

    gp = -g*t*(1/c) (three roundings) where lo <= p <= hi, else exactly 0; gp/s one more; the row term
    sum(-(gp*p)/s) three roundings per term and the summation rule. With A = |gp|/s and
    B = sum|gp*p|/s: eps * (4 |ref| + 6 A + (2 sqrt(n) + 6) B). A clipped entry has A = 0, so its
    bound admits no leak of its own term through the clip."""
    lo, hi = _clip_bounds(epsilon, dtype)
    s, p, c = saved64[:3]
    n = p.shape[axis]
    inside = (p >= lo) & (p <= hi)
    gk = np.expand_dims(g64, axis)
    gp = np.where(inside, -gk * t64 / c, 0.0)
    row = np.sum(-(gp * p) / s, axis=axis, keepdims=True)
    ref = gp / s + row
    a = np.abs(gp) / s
    b = np.sum(np.abs(gp * p), axis=axis, keepdims=True) / s
    bound = eps(dtype) * (4 * np.abs(ref) + 6 * a + (2 * sqrt_n(n) + 6) * b) + 2 * tiny(dtype)
    return ref, bound, inside


def _cce_cases():
    # (label, layout, axis, epsilon); batches of >= 4 rows so each kind of probability row appears
    return [
        ("rows-1", Layout("y", (4, 1)), -1, 1e-7),  # p = 1: clipped at 1 - epsilon, gradient 0
        ("rows-3", Layout("y", (8, 3)), -1, 1e-7),
        ("rows-10", Layout("y", (8, 10)), -1, 1e-7),
        ("rows-10-eps1e-3", Layout("y", (8, 10)), -1, 1e-3),
        ("rows-128", Layout("y", (4, 128)), -1, 1e-7),
        ("rows-129", Layout("y", (4, 129)), -1, 1e-7),
        ("rows-300", Layout("y", (8, 300)), -1, 1e-7),
        ("rows-300-eps1e-3", Layout("y", (4, 300)), -1, 1e-3),
        ("columns", Layout("y", (10, 8)), 0, 1e-7),
        ("columns-300", Layout("y", (300, 4)), 0, 1e-7),
        ("3-d", Layout("y", (2, 4, 6)), -1, 1e-7),
        ("3-d-axis1", Layout("y", (2, 6, 4)), 1, 1e-7),
        ("transposed", Layout("y", (10, 8), transpose=True), -1, 1e-7),
        ("transposed-axis0", Layout("y", (10, 8), transpose=True), 0, 1e-7),
        ("strided", Layout("y", (8, 20), key=STRIDED), -1, 1e-7),
        ("strided-300", Layout("y", (4, 600), key=STRIDED), -1, 1e-7),
        ("empty-batch", Layout("y", (0, 5)), -1, 1e-7),
        ("empty-batch-axis0", Layout("y", (5, 0)), 0, 1e-7),
    ]


def _cce_inputs(backend, rng, layout, axis, target, dtype):
    shape = layout.shape
    n = shape[axis]
    batch = int(np.prod([d for i, d in enumerate(shape) if i != axis % len(shape)], dtype=np.int64))
    y, hy = _from_rows(backend, layout, axis, _probability_rows(rng, batch, n), rng, dtype)
    t, ht = _from_rows(backend, layout, axis, _target_rows(rng, batch, n, target), rng, dtype)
    return (y, hy), (t, ht)


def _check_saved(saved, hy, epsilon, axis, dtype, what):
    """s within the summation rule of sum(y); p one division of y by the backend's own s; c exactly
    clip(p) at the dtype-rounded bounds; logp within 8 eps of log(c)."""
    require(isinstance(saved, tuple) and len(saved) == 4,
            f"{what}: saved must be a tuple (s, p, c, logp), got {type(saved)}")
    s, p, c, logp = saved
    y64 = hy.astype(np.float64)
    n = y64.shape[axis]
    ref_s = np.sum(y64, axis=axis, keepdims=True)
    assert_close(s, ref_s, eps(dtype) * (4 + 2 * sqrt_n(n)) * ref_s + 2 * tiny(dtype), f"{what} saved s", dtype=dtype)
    s64 = np.asarray(s, dtype=np.float64)
    ref_p = y64 / s64
    assert_close(p, ref_p, 4 * eps(dtype) * ref_p + 2 * tiny(dtype), f"{what} saved p", dtype=dtype)
    lo, hi = _clip_bounds(epsilon, dtype)
    assert_exact(c, np.clip(np.asarray(p), np.asarray(lo, dtype), np.asarray(hi, dtype)), f"{what} saved c",
                 dtype=dtype)
    ref_log = np.log(np.asarray(c, dtype=np.float64))
    assert_close(logp, ref_log, 8 * eps(dtype) * np.abs(ref_log) + 2 * tiny(dtype), f"{what} saved logp", dtype=dtype)


@pytest.mark.parametrize("target", ["one-hot", "soft"])
def test_categorical_crossentropy(backend, dtype, target):
    """per_sample against the float64 formula (renormalise, clip at the dtype-rounded epsilon and
    1 - epsilon, log, weighted sum) for rows that do not sum to 1 and entries clipped at both ends,
    one-hot and soft targets, both axes, strided inputs, short and long rows; and each saved array."""
    rng = rng_for("categorical_crossentropy", dtype, target)
    fails = Failures()
    for label, layout, axis, epsilon in _cce_cases():
        def one(label=label, layout=layout, axis=axis, epsilon=epsilon):
            (y, hy), (t, ht) = _cce_inputs(backend, rng, layout, axis, target, dtype)
            per, saved = backend.categorical_crossentropy(t, y, epsilon, axis=axis)
            what = f"categorical_crossentropy {dtype} [{label}, {target}, axis={axis}, eps={epsilon:g}]"
            got = backend.to_numpy(per)
            ref, bound, _ = _cce_reference(ht.astype(np.float64), hy.astype(np.float64), epsilon, axis, dtype)
            require(np.isfinite(got), f"{what}: non-finite per-sample loss")
            assert_close(got, ref, bound, f"{what} per_sample", dtype=dtype)
            _check_saved(tuple(backend.to_numpy(a) for a in saved), hy, epsilon, axis, dtype, what)
        fails.check(label, one)
    fails.finish()


def _check_cce_grad(got, ref, bound, inside, axis, what, dtype):
    require(np.isfinite(got), f"{what}: non-finite gradient")
    assert_close(got, ref, bound, what, dtype=dtype)
    # A clipped entry's own term is exactly 0, so every clipped entry of a row holds the same value:
    # the row's renormalisation term alone.
    g2 = np.moveaxis(got, axis, -1).reshape(-1, got.shape[axis]) if got.size else got.reshape(0, 1)
    clipped = np.moveaxis(~inside, axis, -1).reshape(g2.shape) if got.size else np.zeros((0, 1), bool)
    if g2.size:
        first = g2[np.arange(g2.shape[0]), np.argmax(clipped, axis=1)][:, None]
        same = np.where(clipped, g2 == first, True)
        require(same, f"{what}: clipped entries of a row differ ({int(np.sum(~same))} of them): the gradient "
                      f"through the clip must be exactly 0 before the renormalisation term")


@pytest.mark.parametrize("target", ["one-hot", "soft"])
def test_categorical_crossentropy_grad(backend, dtype, target):
    """The gradient w.r.t. y against the float64 formula from the same saved (s, p, c): through the
    sum, the log, the clip (exactly 0 where p was clipped) and the renormalisation; g random."""
    rng = rng_for("categorical_crossentropy_grad", dtype, target)
    fails = Failures()
    for label, layout, axis, epsilon in _cce_cases():
        def one(label=label, layout=layout, axis=axis, epsilon=epsilon):
            (y, hy), (t, ht) = _cce_inputs(backend, rng, layout, axis, target, dtype)
            per, saved = backend.categorical_crossentropy(t, y, epsilon, axis=axis)
            pshape = tuple(backend.to_numpy(per).shape)
            if len(pshape) == 2:  # a transposed upstream gradient
                hg = rng.uniform(-2, 2, pshape[::-1]).astype(dtype)
                g, hg = backend.transpose(backend.asarray(hg)), hg.T
            else:
                hg = rng.uniform(-2, 2, pshape).astype(dtype)
                g = backend.asarray(hg)
            got = backend.to_numpy(backend.categorical_crossentropy_grad(g, t, saved, epsilon, axis=axis))
            saved64 = tuple(backend.to_numpy(a).astype(np.float64) for a in saved)
            ref, bound, inside = _cce_grad_reference(hg.astype(np.float64), ht.astype(np.float64), saved64, epsilon,
                                                     axis, dtype)
            what = f"categorical_crossentropy_grad {dtype} [{label}, {target}, axis={axis}, eps={epsilon:g}]"
            _check_cce_grad(got, ref, bound, inside, axis, what, dtype)
        fails.check(label, one)
    fails.finish()


@pytest.mark.parametrize("epsilon", [1e-7, 1e-3])  # 1e-3: its bounds round the other way in float32
def test_categorical_crossentropy_clip_boundaries(backend, dtype, epsilon):
    """p exactly at epsilon and at 1 - epsilon is not clipped (its gradient flows: the clip's
    gradient is 1 on the closed interval); the neighbouring floats outside are; p = 0 clips to
    epsilon (finite loss) and a row clipped everywhere has gradient exactly 0. Every row sums
    exactly to 1 or 2 in the dtype, so p is exact and the clip decisions are known. The rows are
    given contiguous, as a transposed view and as columns (axis 0), so a backend's fast path and
    its general path are both held to the boundaries."""
    t_ = np.dtype(dtype).type
    lo, hi = (t_(v) for v in _clip_bounds(epsilon, dtype))
    below, above = np.nextafter(lo, t_(0)), np.nextafter(hi, t_(1))
    hy = np.asarray([[lo, hi], [2 * lo, 2 * hi], [below, hi], [above, t_(1) - above], [t_(0), t_(1)]], dtype)
    require(np.all(np.sum(hy, axis=1) == np.asarray([1, 2, 1, 1, 1], dtype)), "test input: rows must sum exactly")
    exp_p = np.asarray([[lo, hi], [lo, hi], [below, hi], [above, t_(1) - above], [0, 1]], dtype)
    exp_c = np.asarray([[lo, hi], [lo, hi], [lo, hi], [hi, lo], [lo, hi]], dtype)
    exp_inside = np.asarray([[True, True]] * 2 + [[False, True], [False, False], [False, False]])
    ht = np.asarray([[0.25, 0.75]] * 5, dtype)
    hg = np.asarray([1.0, -0.5, 2.0, 1.5, -1.0], dtype)
    fails = Failures()
    for label in ("rows", "rows-transposed", "columns"):
        def one(label=label):
            what = f"categorical_crossentropy {dtype} [clip boundaries, {label}]"
            if label == "rows":
                axis, y, t = -1, backend.asarray(hy), backend.asarray(ht)
            elif label == "rows-transposed":
                axis = -1
                y, t = backend.transpose(backend.asarray(hy.T.copy())), backend.transpose(backend.asarray(ht.T.copy()))
            else:
                axis, y, t = 0, backend.asarray(hy.T.copy()), backend.asarray(ht.T.copy())

            def rows(a):  # back to (row, class), whatever the layout
                a = backend.to_numpy(a)
                return a.T if axis == 0 else a

            per, saved = backend.categorical_crossentropy(t, y, epsilon, axis=axis)
            s, p, c = rows(saved[0]), rows(saved[1]), rows(saved[2])
            assert_exact(p, exp_p, f"{what} p", dtype=dtype)
            assert_exact(c, exp_c, f"{what} c", dtype=dtype)
            ref, bound, _ = _cce_reference(ht.astype(np.float64), hy.astype(np.float64), epsilon, -1, dtype)
            assert_close(backend.to_numpy(per), ref, bound, f"{what} per_sample", dtype=dtype)
            got = rows(backend.categorical_crossentropy_grad(backend.asarray(hg), t, saved, epsilon, axis=axis))
            ref, bound, inside = _cce_grad_reference(hg.astype(np.float64), ht.astype(np.float64),
                                                     (s.astype(np.float64), exp_p.astype(np.float64),
                                                      exp_c.astype(np.float64)), epsilon, -1, dtype)
            require(np.array_equal(inside, exp_inside), "test input: unexpected clip pattern")
            gwhat = f"categorical_crossentropy_grad {dtype} [clip boundaries, {label}]"
            _check_cce_grad(got, ref, bound, inside, -1, gwhat, dtype)
            require(np.all(got[3:] == 0),
                    f"{gwhat}: a row clipped everywhere must have gradient exactly 0, got {got[3:]}")
        fails.check(label, one)
    fails.finish()


@pytest.mark.parametrize("target", ["one-hot", "soft"])
def test_categorical_crossentropy_grad_finite_differences(backend, target):
    """In float64, at points where nothing is clipped, the gradient of sum(w * per_sample) w.r.t. y
    matches central differences of the backend's own forward pass. Step h = 1e-6 y_i: truncation
    h^2 |f'''| / 6 is ~1e-13 of the gradient's scale (f''' ~ t / y^3), rounding eps |f| / h ~1e-10;
    1e-7 relative to the row's largest gradient is far above both and far below any wrong term."""
    rng = rng_for("categorical_crossentropy_grad_fd", target)
    fails = Failures()
    for label, shape, axis in [("rows", (3, 5), -1), ("columns", (4, 3), 0), ("3-d-axis1", (2, 3, 2), 1)]:
        def one(label=label, shape=shape, axis=axis):
            epsilon = 1e-7
            n = shape[axis]
            batch = int(np.prod(shape)) // n
            layout = Layout("y", shape)
            rows = rng.uniform(0.5, 1.5, (batch, n)) * np.exp(rng.uniform(np.log(0.2), np.log(5.0), (batch, 1)))
            y, hy = _from_rows(backend, layout, axis, rows, rng, "float64")
            t, ht = _from_rows(backend, layout, axis, _target_rows(rng, batch, n, target), rng, "float64")
            per, saved = backend.categorical_crossentropy(t, y, epsilon, axis=axis)
            p = backend.to_numpy(saved[1])
            require((p > 1e3 * epsilon) & (p < 1 - 1e3 * epsilon), f"test input [{label}]: p too close to the clip")
            hw = rng.uniform(-2, 2, backend.to_numpy(per).shape)
            got = backend.to_numpy(backend.categorical_crossentropy_grad(backend.asarray(hw), t, saved, epsilon,
                                                                         axis=axis))

            def f(v):
                out, _ = backend.categorical_crossentropy(t, backend.asarray(v), epsilon, axis=axis)
                return float(np.sum(hw * backend.to_numpy(out)))

            fd = np.empty_like(hy)
            for idx in np.ndindex(*shape):
                h = 1e-6 * hy[idx]
                up, down = hy.copy(), hy.copy()
                up[idx] += h
                down[idx] -= h
                fd[idx] = (f(up) - f(down)) / ((up[idx] - hy[idx]) + (hy[idx] - down[idx]))
            scale = np.max(np.abs(fd), axis=axis, keepdims=True)
            assert_close(got, fd, 1e-7 * (np.abs(fd) + scale),
                         f"categorical_crossentropy_grad [{label}, {target}, axis={axis}] vs finite differences",
                         dtype="float64")
        fails.check(label, one)
    fails.finish()


def test_categorical_crossentropy_empty_batch_shapes(backend, dtype):
    """A batch of 0 rows (any axis, 3-d too): per_sample, the saved arrays and the gradient have
    the shapes and dtype of a non-empty batch's, and nothing raises."""
    for shape, axis, pshape, sshape in [((0, 5), -1, (0,), (0, 1)), ((5, 0), 0, (0,), (1, 0)),
                                        ((2, 0, 3), -1, (2, 0), (2, 0, 1)), ((2, 0, 3), 0, (0, 3), (1, 0, 3))]:
        y = backend.asarray(np.ones(shape, dtype))
        per, saved = backend.categorical_crossentropy(y, y, 1e-7, axis=axis)
        what = f"categorical_crossentropy {dtype} [empty {shape}, axis={axis}]"
        got = [backend.to_numpy(a) for a in (per, *saved)]
        expected = [pshape, sshape, shape, shape, shape]
        require([a.shape for a in got] == expected and all(str(a.dtype) == dtype for a in got),
                f"{what}: per_sample, s, p, c, logp are {[(str(a.dtype), a.shape) for a in got]}, expected {dtype} "
                f"{expected}")
        grad = backend.to_numpy(backend.categorical_crossentropy_grad(per, y, saved, 1e-7, axis=axis))
        require(grad.shape == shape and str(grad.dtype) == dtype, f"{what}: gradient {grad.dtype} {grad.shape}")


# --- lstm_cell_grad: one LSTM step's backward pass --------------------------------------------------

def _lstm_cell_grad_reference(i, f, g, o, tc, c, gh, gc):
    """The float64 gradients (dz blocks i, f, c, o and the carry's) and, beside each, the same
    expression with every term made non-negative: the scale its rounding error is relative to."""
    zero = np.zeros_like(i)
    gh = zero if gh is None else gh
    gc = zero if gc is None else gc
    dc = gh * o * (1 - tc * tc) + gc
    mag_dc = np.abs(gh * o) * (1 + tc * tc) + np.abs(gc)
    values = [dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g), gh * tc * o * (1 - o), dc * f]
    scales = [mag_dc * np.abs(g) * i * (1 + i), mag_dc * np.abs(c) * f * (1 + f), mag_dc * i * (1 + g * g),
              np.abs(gh * tc) * o * (1 + o), mag_dc * f]
    return values, scales


@pytest.mark.parametrize("grads", ["h-and-c", "h-only", "c-only"])
def test_lstm_cell_grad(backend, dtype, grads):
    """Each of the five results within a few eps of the float64 value (relative to the scale of its
    terms, since 1 - y^2 cancels near y = +-1), for the LSTM layer's layout ((batch, units) gates,
    gate blocks along the last axis of dz, contiguous and strided inputs) and ConvLSTM2D's
    (channels-first blocks along axis 1)."""
    rng = rng_for("lstm_cell_grad", dtype, grads)
    fails = Failures()
    cases = [("rows", (5, 3), -1, False), ("rows-strided", (4, 6), -1, True), ("one-unit", (3, 1), 1, False),
             ("empty-batch", (0, 2), -1, False), ("channels-axis1", (2, 3, 4, 2), 1, False)]
    for label, shape, axis, strided in cases:
        def one(label=label, shape=shape, axis=axis, strided=strided):
            ax = axis % len(shape)

            def make(lo, hi):
                host = rng.uniform(lo, hi, size=(shape[::-1] if strided else shape)).astype(dtype)
                arr = backend.asarray(host)
                return (backend.transpose(arr), host.T) if strided else (arr, host)

            (i, hi_), (f, hf), (o, ho) = make(0.01, 0.99), make(0.01, 0.99), make(0.01, 0.99)
            (g, hg), (tc, htc) = make(-0.999, 0.999), make(-0.999, 0.999)
            (c, hc), (gh, hgh), (gc, hgc) = make(-3, 3), make(-2, 2), make(-2, 2)
            if grads == "c-only":
                gh = hgh = None
            if grads == "h-only":
                gc = hgc = None
            dz_shape = shape[:ax] + (4 * shape[ax],) + shape[ax + 1:]
            dz = backend.empty(dz_shape, dtype)
            prev = backend.lstm_cell_grad(i, f, g, o, tc, c, gh, gc, dz, axis=axis)
            got_dz = backend.to_numpy(dz)
            host = [a.astype(np.float64) if a is not None else None for a in (hi_, hf, hg, ho, htc, hc, hgh, hgc)]
            values, scales = _lstm_cell_grad_reference(*host)
            units = shape[ax]
            for k, name in enumerate(("dz_i", "dz_f", "dz_c", "dz_o")):
                block = got_dz[(slice(None),) * ax + (slice(k * units, (k + 1) * units),)]
                bound = 8 * eps(dtype) * scales[k] + 2 * tiny(dtype)
                assert_close(block, values[k], bound, f"lstm_cell_grad {dtype} [{label}, {grads}] {name}", dtype=dtype)
            got_prev = backend.to_numpy(prev)
            require(got_prev.shape == shape, f"lstm_cell_grad [{label}]: carry gradient of shape {got_prev.shape}, "
                                             f"expected {shape}")
            assert_close(got_prev, values[4], 8 * eps(dtype) * scales[4] + 2 * tiny(dtype),
                         f"lstm_cell_grad {dtype} [{label}, {grads}] carry", dtype=dtype)
        fails.check(label, one)
    fails.finish()


def test_lstm_cell_grad_needs_a_gradient(backend):
    z = backend.zeros((2, 3), "float32")
    with pytest.raises(ValueError, match="gh.*gc"):
        backend.lstm_cell_grad(z, z, z, z, z, z, None, None, backend.empty((2, 12), "float32"))


def test_lstm_cell_forward(backend, dtype, quiet_numpy):
    """Each output of one LSTM step against float64, computed from the backend's own earlier outputs
    so every step's rounding is checked on its own: the gates within a few eps of sigmoid and tanh,
    ``c_new = f * c + i * g`` within a few eps of its terms' sizes, then ``tanh(c_new)`` and ``h``;
    ``h`` lands in ``h_out`` when one is given."""
    rng = rng_for("lstm_cell_forward", dtype)
    fails = Failures()
    cases = [("rows", (5, 3), -1, False, False), ("rows-transposed-z", (4, 6), -1, True, False),
             ("into-h_out", (3, 2), -1, False, True), ("empty-batch", (0, 2), -1, False, False),
             ("channels-axis1", (2, 3, 4, 2), 1, False, False)]
    for label, shape, axis, strided, into in cases:
        def one(label=label, shape=shape, axis=axis, strided=strided, into=into):
            ax = axis % len(shape)
            units = shape[ax]
            z_shape = shape[:ax] + (4 * units,) + shape[ax + 1:]
            hz = rng.uniform(-6, 6, size=(z_shape[::-1] if strided else z_shape)).astype(dtype)
            z = backend.transpose(backend.asarray(hz)) if strided else backend.asarray(hz)
            hz = hz.T if strided else hz
            hc = rng.uniform(-3, 3, size=shape).astype(dtype)
            out = backend.zeros(shape, dtype) if into else None
            res = backend.lstm_cell_forward(z, backend.asarray(hc), axis=axis, h_out=out)
            got = [backend.to_numpy(a) for a in res]
            require(all(a.dtype == np.dtype(dtype) and a.shape == shape for a in got),
                    f"lstm_cell_forward [{label}]: outputs {[(a.dtype, a.shape) for a in got]}, expected {dtype} {shape}")
            i, f, g, o, c_new, tc, h = (a.astype(np.float64) for a in got)
            gi, gf, gg, go, gc_new, gtc, gh = got
            what = f"lstm_cell_forward {dtype} [{label}]"
            z64 = hz.astype(np.float64)

            def blk(k):
                return z64[(slice(None),) * ax + (slice(k * units, (k + 1) * units),)]

            for name, value, ref in (("i", gi, ref_sigmoid(blk(0))), ("f", gf, ref_sigmoid(blk(1))),
                                     ("o", go, ref_sigmoid(blk(3)))):
                assert_close(value, ref, 8 * eps(dtype) * ref + 2 * tiny(dtype), f"{what} {name}", dtype=dtype)
            ref_g = np.tanh(blk(2))
            assert_close(gg, ref_g, 8 * eps(dtype) * np.abs(ref_g) + 2 * tiny(dtype), f"{what} g", dtype=dtype)
            c64 = hc.astype(np.float64)
            size = np.abs(f * c64) + np.abs(i * g)
            assert_close(gc_new, f * c64 + i * g, 4 * eps(dtype) * size + 2 * tiny(dtype), f"{what} c_new", dtype=dtype)
            ref_tc = np.tanh(c_new)
            assert_close(gtc, ref_tc, 8 * eps(dtype) * np.abs(ref_tc) + 2 * tiny(dtype), f"{what} tanh(c_new)",
                         dtype=dtype)
            assert_close(gh, o * tc, 2 * eps(dtype) * np.abs(o * tc) + 2 * tiny(dtype), f"{what} h", dtype=dtype)
            if into:
                require(np.array_equal(backend.to_numpy(out), backend.to_numpy(res[6])), f"{what}: h_out not written")
        fails.check(label, one)
    fails.finish()


def test_gru_cell_grad(backend, dtype):
    """The six gate-block gradients and the direct path ``dh * z`` of one GRU step within 8 eps of
    the scale of their terms, for the GRU layer's layout (``inner_h`` a block of the recurrent
    product), contiguous and transposed inputs, one unit and an empty batch."""
    rng = rng_for("gru_cell_grad", dtype)
    fails = Failures()
    for label, shape, strided in [("rows", (5, 3), False), ("transposed", (4, 6), True), ("one-unit", (3, 1), False),
                                  ("empty-batch", (0, 2), False)]:
        def one(label=label, shape=shape, strided=strided):
            batch, units = shape

            def make(lo, hi):
                host = rng.uniform(lo, hi, size=(shape[::-1] if strided else shape)).astype(dtype)
                arr = backend.asarray(host)
                return (backend.transpose(arr), host.T) if strided else (arr, host)

            (z, hz), (r, hr) = make(0.01, 0.99), make(0.01, 0.99)
            (hh, hhh), (h_prev, hhp), (dh, hdh) = make(-0.999, 0.999), make(-3, 3), make(-2, 2)
            h_inner = rng.uniform(-3, 3, size=(batch, 3 * units)).astype(dtype)
            inner_h = backend.asarray(h_inner)[:, 2 * units:]
            dx, du = backend.empty((batch, 3 * units), dtype), backend.empty((batch, 3 * units), dtype)
            direct = backend.gru_cell_grad(z, r, hh, inner_h, h_prev, dh, dx, du)
            z64, r64, hh64, hp64, dh64 = (a.astype(np.float64) for a in (hz, hr, hhh, hhp, hdh))
            ih64 = h_inner[:, 2 * units:].astype(np.float64)
            d_pre_h = dh64 * (1 - z64) * (1 - hh64 * hh64)
            mag_pre_h = np.abs(dh64) * (1 + z64) * (1 + hh64 * hh64)
            d_z = dh64 * (hp64 - hh64) * z64 * (1 - z64)
            mag_z = np.abs(dh64) * (np.abs(hp64) + np.abs(hh64)) * z64 * (1 + z64)
            d_r = d_pre_h * ih64 * r64 * (1 - r64)
            mag_r = mag_pre_h * np.abs(ih64) * r64 * (1 + r64)
            got_dx, got_du = backend.to_numpy(dx), backend.to_numpy(du)
            what = f"gru_cell_grad {dtype} [{label}]"
            checks = [("dx_z", got_dx[:, :units], d_z, mag_z), ("dx_r", got_dx[:, units:2 * units], d_r, mag_r),
                      ("dx_h", got_dx[:, 2 * units:], d_pre_h, mag_pre_h), ("du_z", got_du[:, :units], d_z, mag_z),
                      ("du_r", got_du[:, units:2 * units], d_r, mag_r),
                      ("du_h", got_du[:, 2 * units:], d_pre_h * r64, mag_pre_h * r64),
                      ("direct", backend.to_numpy(direct), dh64 * z64, np.abs(dh64 * z64))]
            for name, got, ref, scale in checks:
                assert_close(got, ref, 8 * eps(dtype) * scale + 2 * tiny(dtype), f"{what} {name}", dtype=dtype)
        fails.check(label, one)
    fails.finish()


def test_gru_cell_forward(backend, dtype, quiet_numpy):
    """Each output of one GRU step against float64 computed from the backend's own earlier outputs
    (so each step's rounding is checked alone): the gates within a few eps of sigmoid, the
    candidate of tanh, ``h_new = z h + (1 - z) hh`` within a few eps of its terms' sizes; ``inner_h``
    is ``inner``'s h block, and ``h_new`` lands in ``h_out`` when one is given."""
    rng = rng_for("gru_cell_forward", dtype)
    fails = Failures()
    for label, shape, transposed, into in [("rows", (5, 3), False, False), ("transposed-x", (4, 6), True, False),
                                           ("into-h_out", (3, 2), False, True), ("empty-batch", (0, 2), False, False)]:
        def one(label=label, shape=shape, transposed=transposed, into=into):
            batch, units = shape
            hx = rng.uniform(-6, 6, size=((3 * units, batch) if transposed else (batch, 3 * units))).astype(dtype)
            x = backend.transpose(backend.asarray(hx)) if transposed else backend.asarray(hx)
            hx = hx.T if transposed else hx
            hinner = rng.uniform(-4, 4, size=(batch, 3 * units)).astype(dtype)
            hh_prev = rng.uniform(-1, 1, size=shape).astype(dtype)
            out = backend.zeros(shape, dtype) if into else None
            res = backend.gru_cell_forward(x, backend.asarray(hinner), backend.asarray(hh_prev), h_out=out)
            got = [backend.to_numpy(a) for a in res]
            require(all(a.dtype == np.dtype(dtype) and a.shape == shape for a in got),
                    f"gru_cell_forward [{label}]: outputs {[(a.dtype, a.shape) for a in got]}, expected {dtype} {shape}")
            z, r, hh, inner_h, h_new = (a.astype(np.float64) for a in got)
            x64, in64, h64 = hx.astype(np.float64), hinner.astype(np.float64), hh_prev.astype(np.float64)
            what = f"gru_cell_forward {dtype} [{label}]"
            require(np.array_equal(got[3], hinner[:, 2 * units:]), f"{what}: inner_h is not inner's h block")
            for name, value, pre in (("z", got[0], x64[:, :units] + in64[:, :units]),
                                     ("r", got[1], x64[:, units:2 * units] + in64[:, units:2 * units])):
                ref = ref_sigmoid(pre)
                assert_close(value, ref, 8 * eps(dtype) * ref + 2 * tiny(dtype) + 4 * eps(dtype) * np.abs(pre) * ref,
                             f"{what} {name}", dtype=dtype)
            pre_h = x64[:, 2 * units:] + r * in64[:, 2 * units:]
            ref_hh = np.tanh(pre_h)
            scale_h = np.abs(x64[:, 2 * units:]) + np.abs(r * in64[:, 2 * units:])
            assert_close(got[2], ref_hh, 8 * eps(dtype) * (np.abs(ref_hh) + scale_h) + 2 * tiny(dtype), f"{what} hh",
                         dtype=dtype)
            size = np.abs(z * h64) + (1 + z) * np.abs(hh)
            assert_close(got[4], z * h64 + (1 - z) * hh, 4 * eps(dtype) * size + 2 * tiny(dtype), f"{what} h_new",
                         dtype=dtype)
            if into:
                require(np.array_equal(backend.to_numpy(out), got[4]), f"{what}: h_out not written")
        fails.check(label, one)
    fails.finish()


# --- dense_activation_grad: a Dense layer's backward pass up to its products ------------------------
# y is the activation's output (2-D), g the gradient at the dropout's output, mask the dropout's
# mask (0 or 1 / (1 - rate) in the dtype). Each case is run with and without a mask, with and without
# the bias gradient; layouts cover contiguous arrays (a backend's fast path), each input transposed
# or sliced on its own (its general path), a single row, a single column, 300 rows (the bias
# gradient's sum), an empty batch and columns whose d is all signed zeros.

DENSE_ACTIVATIONS = ("linear", "tanh", "relu", "sigmoid", "softmax")
_DROPOUT_RATE = 0.3  # 1 / 0.7 is not exact in either dtype, so g * mask rounds


def _dense_grad_cases():
    # (label, layout of y, layout of g, layout of mask); g / mask None: y's layout
    c = (16, 10)
    return [
        ("rows", Layout("y", c), None, None),
        ("one-row", Layout("y", (1, 10)), None, None),
        ("one-column", Layout("y", (9, 1)), None, None),
        ("batch-300", Layout("y", (300, 7)), None, None),
        ("y-transposed", Layout("y", c[::-1], transpose=True), Layout("g", c), Layout("m", c)),
        ("g-strided", Layout("y", c), Layout("g", (16, 20), key=STRIDED), Layout("m", c)),
        ("mask-transposed", Layout("y", c), Layout("g", c), Layout("m", c[::-1], transpose=True)),
        ("all-strided", Layout("y", (16, 20), key=STRIDED), Layout("g", (16, 20), key=STRIDED),
         Layout("m", (16, 20), key=STRIDED)),
        ("empty-batch", Layout("y", (0, 5)), None, None),
        ("signed-zero-columns", Layout("y", (12, 6)), None, None),
    ]


def _dense_grad_grid(cases):
    """(tag, case, masked, bias) for every case of ``_dense_grad_cases``, with and without a mask and the bias."""
    for case in cases:
        for masked in (False, True):
            for bias in (True, False):
                tag = f"{case[0]}, {'mask' if masked else 'no mask'}, {'bias' if bias else 'no bias'}"
                yield tag, case, masked, bias


def _activation_outputs(activation, rng, shape):
    """float64 values an activation can output, with its edge values: tanh's +-1 and 0 (1 - y^2
    exactly 0 or 1), relu's zeros (half of them), sigmoid's tails, softmax rows."""
    x = rng.uniform(-4.0, 4.0, shape)
    if activation == "tanh":
        y = np.tanh(x)
        if y.size:
            flat = y.reshape(-1)
            flat[::7], flat[3::11], flat[5::13] = 1.0, -1.0, 0.0
        return y
    if activation == "relu":
        return np.maximum(x, 0.0)
    if activation == "sigmoid":
        return ref_sigmoid(2.0 * x)
    if activation == "softmax":
        return ref_softmax(x, -1) if x.size else x
    return x  # linear


def _dense_grad_inputs(backend, rng, activation, ly, lg, lm, masked, label, dtype):
    """(y, g, mask or None) on the backend and their host copies in ``dtype``. The signed-zero case
    gives d a column of -0 (g = -0; for relu, y = 0 under a negative g), one of +0, and with a
    mask a column dropped everywhere under a negative g (-g * 0 = -0 after the mask)."""
    shape = ly.shape
    hy_rows = _activation_outputs(activation, rng, shape)
    hg_rows = rng.uniform(-2.0, 2.0, shape)
    keep = rng.random(shape) >= _DROPOUT_RATE
    if label == "signed-zero-columns":
        hg_rows[:, 0] = -0.0
        hg_rows[:, 1] = 0.0
        if activation == "relu":
            hy_rows[:, 2] = 0.0
            hg_rows[:, 2] = -np.abs(hg_rows[:, 2]) - 0.5
        keep[:, 3] = False
        hg_rows[:, 3] = -np.abs(hg_rows[:, 3]) - 0.5
    scale = float(np.dtype(dtype).type(1.0 / (1.0 - _DROPOUT_RATE)))
    y, hy = _from_rows(backend, ly, -1, hy_rows, rng, dtype)
    g, hg = _from_rows(backend, lg or ly, -1, hg_rows, rng, dtype)
    if not masked:
        return (y, hy), (g, hg), (None, None)
    m, hm = _from_rows(backend, lm or ly, -1, keep * scale, rng, dtype)
    return (y, hy), (g, hg), (m, hm)


def dense_activation_grad_reference(activation, y64, g64, m64, dtype):
    """The float64 ``d`` and its bound (rel to the dtype's eps), from the rounded inputs.

    gm = g * mask (one rounding, exact without a mask), then:
    * linear: d = gm — 4 eps |d| (one rounding at most);
    * relu: d = gm * [y > 0] — 4 eps |d| (the multiply by 0 or 1 is exact);
    * tanh: d = gm * (1 - y^2) — y^2 and 1 - y^2 round (the latter cancels near |y| = 1, so its
      error is relative to y^2, not to 1 - y^2), then two products: 4 eps |gm| (|1 - y^2| + y^2);
    * sigmoid: d = gm * (y * (1 - y)) — four correctly rounded steps, each eps/2 relative: 4 eps |d|;
    * softmax: softmax_grad(y, gm) — softmax_grad_bound (above), plus the rounding of gm, which the
      (linear in g) softmax gradient carries as eps/2 (|gm y| + |y| sum|gm y|): eps (|gm y| + |y| sum|gm y|).
    Every bound gets 2 tiny (subnormal results may be flushed)."""
    gm = g64 if m64 is None else g64 * m64
    e = eps(dtype)
    if activation == "softmax":
        gy = gm * y64
        ref = gy - y64 * np.sum(gy, axis=-1, keepdims=True)
        bound = softmax_grad_bound(y64, gm, -1, ref, dtype) \
            + e * (np.abs(gy) + np.abs(y64) * np.sum(np.abs(gy), axis=-1, keepdims=True))
        return ref, bound
    if activation == "tanh":
        u = 1.0 - y64 * y64
        ref = gm * u
        return ref, 4 * e * np.abs(gm) * (np.abs(u) + y64 * y64) + 2 * tiny(dtype)
    ref = {"linear": gm, "relu": gm * (y64 > 0), "sigmoid": gm * (y64 * (1.0 - y64))}[activation]
    return ref, 4 * e * np.abs(ref) + 2 * tiny(dtype)


def dense_bias_grad_bound(ref_d, bound_d, ref_gb, dtype):
    """gb = sum(d, axis=0) over ``rows`` values that each carry their own error (bound_d): those
    errors add up, and the sum rounds by the suite's summation rule (see _cases.py): a naive
    row-after-row sum errs by up to (rows - 1) eps/2 sum|d| in the worst case, ~sqrt(rows) eps sum|d|
    on random data like this (Higham §4.2), a pairwise or tree sum by log2(rows) eps sum|d|; so
    eps (4 |gb| + 2 sqrt(rows) sum|d|). A wrong accumulator dtype or a dropped or doubled row fails."""
    rows = ref_d.shape[0]
    return (np.sum(bound_d - 2 * tiny(dtype), axis=0)
            + eps(dtype) * (4 * np.abs(ref_gb) + 2 * sqrt_n(rows) * np.sum(np.abs(ref_d), axis=0)) + 2 * tiny(dtype))


@pytest.mark.parametrize("activation", DENSE_ACTIVATIONS)
def test_dense_activation_grad(backend, dtype, activation):
    """(d, gb) = (act_grad(y, g * mask), sum(d, axis=0)) against a float64 reference from the same
    rounded inputs, for every activation, with and without a mask and the bias gradient, contiguous
    and non-contiguous inputs, one row, one column, 300 rows, an empty batch and signed-zero columns.
    gb is None without the bias; d and gb have y's dtype and shapes (rows, units) and (units,)."""
    rng = rng_for("dense_activation_grad", activation, dtype)
    fails = Failures()
    for tag, (label, ly, lg, lm), masked, bias in _dense_grad_grid(_dense_grad_cases()):
        def one(label=label, ly=ly, lg=lg, lm=lm, masked=masked, bias=bias, tag=tag):
            (y, hy), (g, hg), (m, hm) = _dense_grad_inputs(backend, rng, activation, ly, lg, lm, masked,
                                                           label, dtype)
            what = f"dense_activation_grad {activation} {dtype} [{tag}]"
            res = backend.dense_activation_grad(y, g, activation, m, bias)
            require(isinstance(res, tuple) and len(res) == 2, f"{what}: must return a pair (d, gb)")
            d, gb = res
            ref, bound = dense_activation_grad_reference(
                activation, hy.astype(np.float64), hg.astype(np.float64),
                None if hm is None else hm.astype(np.float64), dtype)
            got_d = backend.to_numpy(d)
            require(np.isfinite(got_d), f"{what}: non-finite d")
            assert_close(got_d, ref, bound, f"{what} d", dtype=dtype)
            if not bias:
                require(gb is None, f"{what}: gb must be None without the bias, got {type(gb)}")
                return
            ref_gb = np.sum(ref, axis=0)
            got_gb = backend.to_numpy(gb)
            assert_close(got_gb, ref_gb, dense_bias_grad_bound(ref, bound, ref_gb, dtype), f"{what} gb",
                         dtype=dtype)
            zero = np.all(ref == 0, axis=0)  # a column of (signed) zeros sums to a zero, either sign
            require(got_gb[zero] == 0, f"{what}: gb of all-zero columns {np.flatnonzero(zero).tolist()} "
                                       f"is {got_gb[zero]}, expected 0")
        fails.check(tag, one)
    fails.finish()


def _same_bits(got, want, what):
    """Identical bits (the sign of a zero included) wherever ``want`` is not NaN; NaN where it is
    NaN (a device may form its own NaN payload)."""
    got, want = np.asarray(got), np.asarray(want)
    require(got.shape == want.shape and got.dtype == want.dtype,
            f"{what}: {got.dtype} {got.shape}, expected {want.dtype} {want.shape}")
    nan = np.isnan(want)
    require(np.isnan(got) == nan, f"{what}: NaN at {np.argwhere(np.isnan(got) != nan)[:4].tolist()} differs")
    differ = (got != want) | (np.signbit(got) != np.signbit(want))
    bad = np.argwhere(differ & ~nan)
    require(bad.size == 0, f"{what}: {len(bad)} values differ from the composition's bits; first at "
                           f"{bad[:1].tolist()}: got {got[tuple(bad[0])]!r}, expected "
                           f"{want[tuple(bad[0])]!r}" if bad.size else "")


def _dense_grad_composition(backend, y, g, activation, m):
    """The protocol's d, from the backend's own named ops."""
    gm = g if m is None else backend.multiply(g, m)
    if activation == "tanh":
        d = backend.tanh_grad(y, gm)
    elif activation == "relu":
        d = backend.relu_grad(y, gm)
    elif activation == "sigmoid":
        d = backend.multiply(gm, backend.multiply(y, backend.subtract(1.0, y)))
    elif activation == "softmax":
        d = backend.softmax_grad(y, gm, axis=-1)
    else:
        d = gm
    return d


@pytest.mark.parametrize("activation", DENSE_ACTIVATIONS)
def test_dense_activation_grad_is_the_composition(backend, dtype, activation, quiet_numpy):
    """The protocol defines d "as the named ops round it": the bits of act_grad(y, multiply(g, mask))
    from the backend's own ops (tanh_grad, relu_grad, softmax_grad, sigmoid's g * (y * (1 - y))),
    signed zeros included, and non-finite g (inf, NaN) give the composition's values. The float64
    test above bounds the error; this one pins d's bits, so a fused pass cannot group the products
    differently (e.g. act_grad(y, g) * mask) or contract them into a fused multiply-add.

    gb's bits are not pinned here: they depend on the order of the sum, which a backend may choose
    (a NumPy sum's order follows its operand's memory layout; the CuPy kernel adds the rows in the
    NumPy backend's order, not cupy.sum's). test_dense_activation_grad bounds gb, with zero columns
    summing to zero; the sum's exact bits (the sign of a zero included) are each backend's own bit
    tests' (tests/test_numpy_backend.py, tests/test_cupy_backend.py)."""
    rng = rng_for("dense_activation_grad_bits", activation, dtype)
    fails = Failures()
    cases = [c for c in _dense_grad_cases() if c[0] in ("rows", "one-row", "batch-300", "y-transposed",
                                                        "signed-zero-columns")] + [("non-finite", Layout("y", (8, 5)),
                                                                                    None, None)]
    for tag, (label, ly, lg, lm), masked, bias in _dense_grad_grid(cases):
        def one(label=label, ly=ly, lg=lg, lm=lm, masked=masked, bias=bias, tag=tag):
            (y, hy), (g, hg), (m, hm) = _dense_grad_inputs(backend, rng, activation, ly, lg, lm, masked,
                                                           label, dtype)
            if label == "non-finite":
                hg = hg.copy()
                hg[0, 0], hg[1, 1], hg[2, 2], hg[3, 0] = np.inf, -np.inf, np.nan, np.inf
                g = backend.asarray(hg)
            what = f"dense_activation_grad {activation} {dtype} [{tag}]"
            d, gb = backend.dense_activation_grad(y, g, activation, m, bias)
            want_d = _dense_grad_composition(backend, y, g, activation, m)
            _same_bits(backend.to_numpy(d), backend.to_numpy(want_d), f"{what} d")
            if bias:
                got_gb = backend.to_numpy(gb)
                require(got_gb.shape == tuple(hy.shape[1:]) and str(got_gb.dtype) == dtype,
                        f"{what}: gb is {got_gb.dtype} {got_gb.shape}")
            else:
                require(gb is None, f"{what}: gb must be None without the bias")
        fails.check(tag, one)
    fails.finish()


def test_dense_activation_grad_rejects_other_activations(backend):
    z = backend.zeros((2, 3), "float32")
    for activation in ("elu", "gelu", "TANH"):
        with pytest.raises(ValueError):
            backend.dense_activation_grad(z, z, activation)


# --- dense_activation: a Dense layer's step after its product ---------------------------------------
# y is the product x @ kernel (2-D, which the backend may overwrite), bias (units,) or None, dropout
# (rate, seed, counter) or None: a = activation(y + bias), out, mask = dropout(a, ...) (else out is a,
# mask None). Layouts: rows, a single row, a single column, 300 rows, rows wider than a few kilobytes
# (a blocked one-pass loop crosses its blocks inside a row), a transposed product and an empty batch.

def _dense_forward_grid():
    """(tag, layout, bias, dropout) for every layout, with and without a bias, at every dropout."""
    for label, ly in _dense_forward_cases():
        for bias in (True, False):
            for dropout in _DENSE_DROPOUTS:
                yield f"{label}, {'bias' if bias else 'no bias'}, {'no dropout' if dropout is None else dropout[0]}", \
                    ly, bias, dropout


def _dense_forward_cases():
    return [
        ("rows", Layout("y", (16, 10))),
        ("one-row", Layout("y", (1, 10))),
        ("one-column", Layout("y", (9, 1))),
        ("batch-300", Layout("y", (300, 7))),
        ("wide-rows", Layout("y", (3, 5000))),
        ("y-transposed", Layout("y", (10, 16), transpose=True)),
        ("empty-batch", Layout("y", (0, 5))),
    ]


_DENSE_DROPOUTS = (None, (_DROPOUT_RATE, 123456789, 7), (0.5, 2**64 + 5, 2**33))  # a 32-bit slot and a 1-bit one


def _dense_forward_inputs(backend, rng, ly, bias, dtype, specials=False):
    """(host y, host bias or None, a maker of device copies of y in ly's layout, device bias). y is
    uniform in [-4, 4] with signed zeros; ``specials`` adds subnormals, values that saturate tanh and
    sigmoid (40, -1e4) and sums y + bias that cancel to zero exactly."""
    base = rng.uniform(-4.0, 4.0, ly.base_shape)
    units = ly.shape[1]
    hb = rng.uniform(-2.0, 2.0, units).astype(dtype) if bias else None
    if hb is not None and specials:
        hb[::4] = -0.0
    hbase = np.where(rng.random(ly.base_shape) < 0.1, -0.0, base).astype(dtype)
    if specials and hbase.size:
        hy = ly.host(hbase)  # a view: the specials land in the host base
        flat = np.arange(hy.size).reshape(hy.shape)
        hy[flat % 7 == 1] = np.finfo(dtype).tiny / 4
        hy[flat % 11 == 3] = 40.0
        hy[flat % 13 == 4] = -1e4
        if hb is not None:
            cancel = flat % 9 == 2
            hy[cancel] = -np.broadcast_to(hb, hy.shape)[cancel]
    hy = ly.host(hbase).copy()
    # A fresh device copy per call: the backend may overwrite y (asarray may share the host memory).
    return (hy, hb, (lambda: ly.device(backend, backend.copy(backend.asarray(hbase)))),
            None if hb is None else backend.asarray(hb))


def dense_activation_reference(activation, y64, b64, dtype):
    """The float64 ``a`` and its bound (rel to the dtype's eps), from the rounded inputs.

    s = y + bias rounds once (eps/2 |s|, nothing without a bias), which the activation carries by its
    derivative; then:
    * linear: a = s — 4 eps |s| (one rounding), exact without a bias;
    * relu: a = max(s, 0) — the same (the maximum is exact);
    * tanh: TRANSCENDENTAL 8 eps |a|, plus the sum's rounding through tanh' = 1 - a^2: 4 eps |s| (1 - a^2);
    * sigmoid: 8 eps a, plus through sigmoid' = a (1 - a): 4 eps |s| a (1 - a) (as the GRU gates');
    * softmax: softmax_bound (a relative eps perturbation of the inputs, which covers the sum's
      rounding) plus 2 eps a (|s_i| + max|s|) for that rounding on its own.
    Every bound gets 2 tiny (subnormal results may be flushed)."""
    e = eps(dtype)
    s = y64 if b64 is None else y64 + b64
    add = 0.0 if b64 is None else 4 * e * np.abs(s)
    if activation == "linear":
        return s, add + 2 * tiny(dtype)
    if activation == "relu":
        ref = np.maximum(s, 0.0)
        return ref, add + 2 * tiny(dtype)
    if activation == "tanh":
        ref = np.tanh(s)
        return ref, 8 * e * np.abs(ref) + add * (1.0 - ref * ref) + 2 * tiny(dtype)
    if activation == "sigmoid":
        ref = ref_sigmoid(s)
        return ref, 8 * e * ref + add * ref * (1.0 - ref) + 2 * tiny(dtype)
    if not s.size:
        return s, np.zeros_like(s)
    ref = ref_softmax(s, -1)
    big = np.max(np.abs(s), axis=-1, keepdims=True)
    return ref, softmax_bound(s, -1, ref, dtype) + (0.0 if b64 is None else 2 * e * ref * (np.abs(s) + big))


@pytest.mark.parametrize("activation", DENSE_ACTIVATIONS)
def test_dense_activation(backend, dtype, activation):
    """(a, out, mask) = dense_activation(y, bias, activation, dropout): a = activation(y + bias) against
    a float64 reference from the same rounded inputs, for every activation, with and without the bias,
    without a dropout (out is a, mask None) and with one at a non-dyadic and a dyadic rate: the mask is
    dropout_mask(y.shape, rate, seed, counter, dtype) bit for bit and out is multiply(a, mask) bit for
    bit (within one rounding of a * mask); all of y's shape and dtype."""
    rng = rng_for("dense_activation", activation, dtype)
    fails = Failures()
    for tag, ly, bias, dropout in _dense_forward_grid():
        def one(ly=ly, bias=bias, dropout=dropout, tag=tag):
            hy, hb, make_y, b = _dense_forward_inputs(backend, rng, ly, bias, dtype)
            what = f"dense_activation {activation} {dtype} [{tag}]"
            res = backend.dense_activation(make_y(), b, activation, dropout)
            require(isinstance(res, tuple) and len(res) == 3, f"{what}: must return a triple (a, out, mask)")
            a, out, mask = res
            got_a = backend.to_numpy(a)
            require(got_a.shape == hy.shape and str(got_a.dtype) == dtype,
                    f"{what}: a is {got_a.dtype} {got_a.shape}, expected {dtype} {hy.shape}")
            ref, bound = dense_activation_reference(activation, hy.astype(np.float64),
                                                    None if hb is None else hb.astype(np.float64), dtype)
            require(np.isfinite(got_a), f"{what}: non-finite a")
            assert_close(got_a, ref, bound, f"{what} a", dtype=dtype)
            if dropout is None:
                require(out is a and mask is None, f"{what}: without a dropout out must be a and mask None")
                return
            got_mask = backend.to_numpy(mask)
            _same_bits(got_mask, backend.to_numpy(backend.dropout_mask(hy.shape, *dropout, dtype)),
                       f"{what} mask vs dropout_mask")
            got_out = backend.to_numpy(out)
            _same_bits(got_out, backend.to_numpy(backend.multiply(a, mask)), f"{what} out vs multiply(a, mask)")
            ref_out = got_a.astype(np.float64) * got_mask.astype(np.float64)
            assert_close(got_out, ref_out, 2 * eps(dtype) * np.abs(ref_out), f"{what} out", dtype=dtype)
        fails.check(tag, one)
    fails.finish()


@pytest.mark.parametrize("activation", DENSE_ACTIVATIONS)
def test_dense_activation_is_the_composition(backend, dtype, activation, quiet_numpy):
    """The protocol defines a "as add and the activation round it" and (out, mask) as dropout's: the
    bits of the base class's composition from the backend's own ops (ArrayBackend.dense_activation),
    signed zeros included, on inputs with subnormals, saturating values and sums that cancel to zero.
    The float64 test above bounds the error; this one pins the bits, so a fused pass cannot reorder
    or contract the steps (or flush subnormals the named ops keep)."""
    from lamina.backends.base import ArrayBackend
    rng = rng_for("dense_activation_bits", activation, dtype)
    fails = Failures()
    for tag, ly, bias, dropout in _dense_forward_grid():
        def one(ly=ly, bias=bias, dropout=dropout, tag=tag):
            _, _, make_y, b = _dense_forward_inputs(backend, rng, ly, bias, dtype, specials=True)
            what = f"dense_activation {activation} {dtype} [{tag}]"
            got = backend.dense_activation(make_y(), b, activation, dropout)
            want = ArrayBackend.dense_activation(backend, make_y(), b, activation, dropout)
            for name, g, w in zip(("a", "out", "mask"), got, want):
                if w is None:
                    require(g is None, f"{what}: {name} must be None")
                else:
                    _same_bits(backend.to_numpy(g), backend.to_numpy(w), f"{what} {name}")
        fails.check(tag, one)
    fails.finish()


def test_dense_activation_rejects_other_activations(backend):
    z = backend.zeros((2, 3), "float32")
    for activation in ("elu", "gelu", "TANH", "Linear"):
        with pytest.raises(ValueError):
            backend.dense_activation(backend.copy(z), None, activation)
        with pytest.raises(ValueError):
            backend.dense_activation(backend.copy(z), backend.zeros((3,), "float32"), activation, (0.5, 1, 2))
