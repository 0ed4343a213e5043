"""Reductions: values vs float64 references with summation-aware tolerances, empty inputs,
huge inputs for logsumexp, first-index ties for argmax/argmin, 0-d array results."""
from __future__ import annotations

import numpy as np
import pytest

from ._cases import REDUCTION_LAYOUTS, REDUCTIONS, lse_bound, ref_logsumexp, sum_bound
from ._checks import Failures, assert_close, assert_exact, require
from ._inputs import Layout, real, rng_for, sample

@pytest.mark.parametrize("case", REDUCTIONS, ids=[r.name for r in REDUCTIONS])
def test_reduction(backend, case, dtype):
    rng = rng_for("reduce", case.name, dtype)
    fails = Failures()
    method = getattr(backend, case.name)
    for label, base, transpose, key, axis, keepdims in REDUCTION_LAYOUTS:
        layout = Layout(label, base, transpose, key)

        def one(layout=layout, axis=axis, keepdims=keepdims):
            x, hx = layout.make(backend, case.domain, rng, dtype)
            res = method(x, axis=axis, keepdims=keepdims)
            assert backend.is_array(res), f"{case.name} must return a backend array, got {type(res).__name__}"
            got = backend.to_numpy(res)
            x64 = hx.astype(np.float64)
            ref = np.asarray(case.ref(x64, axis, keepdims))
            what = f"{case.name} {dtype} [{layout.name}, axis={axis}, keepdims={keepdims}]"
            if case.bound is None:
                assert_exact(got, ref.astype(dtype), what, dtype=dtype)
            else:
                assert_close(got, ref, case.bound(x64, axis, keepdims, ref, dtype), what, dtype=dtype)
        fails.check(layout.name, one)
    fails.finish()


def test_sum_accumulates_accurately(backend, dtype):
    """100k values of one sign: a float16 accumulator drifts far outside the bound, while any
    sound float32 summation order (naive, pairwise, tree) stays within the sqrt(n) rule."""
    rng = rng_for("long-sum", dtype)
    hx = sample(real(0.0, 1.0), rng, (100_000,), dtype)
    got = backend.to_numpy(backend.sum(backend.asarray(hx)))
    x64 = hx.astype(np.float64)
    ref = np.asarray(np.sum(x64))
    assert_close(got, ref, sum_bound(x64, None, False, ref, dtype), f"sum of 1e5 values {dtype}", dtype=dtype)


@pytest.mark.parametrize("values,expected", [
    ([1e4, 1e4], 1e4 + np.log(2.0)),
    ([-1e4, -1e4, -1e4], -1e4 + np.log(3.0)),
    ([1000.0, 0.0, -1000.0], 1000.0),
    ([80.0, 90.0, 100.0], 100.0 + np.log1p(np.exp(-10.0) + np.exp(-20.0))),
    ([-np.inf, -np.inf], -np.inf),
    ([-np.inf, 0.0], 0.0),
])
def test_logsumexp_extreme(backend, dtype, values, expected, quiet_numpy):
    """Max-subtraction: no overflow for huge inputs, no underflow for very negative ones."""
    x = np.asarray(values, dtype=dtype)
    res = backend.logsumexp(backend.asarray(x))
    got = backend.to_numpy(res)
    assert got.shape == ()
    ref = np.asarray(expected, dtype=np.float64)
    assert np.isfinite(got) == np.isfinite(ref), f"logsumexp({values}) = {got}, expected {ref}"
    assert_close(got, ref, lse_bound(x.astype(np.float64), None, False, ref, dtype) if np.isfinite(ref) else 0,
                 f"logsumexp({values}) {dtype}", dtype=dtype)


def test_logsumexp_huge_rows(backend, dtype):
    """Rows of logits 1e4 apart along both axes, with keepdims."""
    rng = rng_for("lse-rows", dtype)
    hx = (sample(real(-5, 5), rng, (4, 6), dtype).astype(np.float64) + np.array([[0.0], [1e4], [-1e4], [3e3]])).astype(dtype)
    for axis, keepdims in [(-1, False), (1, True), (0, False)]:
        got = backend.to_numpy(backend.logsumexp(backend.asarray(hx), axis=axis, keepdims=keepdims))
        x64 = hx.astype(np.float64)
        ref = ref_logsumexp(x64, axis, keepdims)
        require(np.isfinite(got), f"logsumexp of huge rows must be finite, got {got}")
        assert_close(got, ref, lse_bound(x64, axis, keepdims, ref, dtype),
                     f"logsumexp huge rows axis={axis} {dtype}", dtype=dtype)


def test_empty_reductions(backend, dtype):
    """Reductions with an identity accept empty input; max/min/argmax/argmin raise ValueError."""
    fails = Failures()
    e1 = backend.asarray(np.zeros((0,), dtype))
    e2 = backend.asarray(np.zeros((0, 3), dtype))

    def sums():
        assert_exact(backend.to_numpy(backend.sum(e1)), np.asarray(0, dtype), "sum of empty", dtype=dtype)
        assert_exact(backend.to_numpy(backend.sum(e2, axis=0)), np.zeros(3, dtype), "sum (0,3) axis 0")
        assert_exact(backend.to_numpy(backend.sum(e2, axis=1)), np.zeros(0, dtype), "sum (0,3) axis 1")
        assert_exact(backend.to_numpy(backend.prod(e1)), np.asarray(1, dtype), "prod of empty", dtype=dtype)
        assert_exact(backend.to_numpy(backend.prod(e2, axis=0)), np.ones(3, dtype), "prod (0,3) axis 0")
        assert_exact(backend.to_numpy(backend.all_finite(e1)), np.asarray(True), "all_finite of empty")
        # A non-empty reduced axis of an empty array is fine for max too: the result is empty.
        assert_exact(backend.to_numpy(backend.max(e2, axis=1)), np.zeros(0, dtype), "max (0,3) axis 1")

    def raises():
        for name, kwargs in [("max", {}), ("min", {}), ("max", {"axis": 0}), ("min", {"axis": 0}),
                             ("argmax", {"axis": 0}), ("argmin", {"axis": -1})]:
            x = e2 if "axis" in kwargs and kwargs["axis"] == 0 else e1
            with pytest.raises(ValueError):
                getattr(backend, name)(x, **kwargs)

    def lse():
        got = backend.to_numpy(backend.logsumexp(e1))
        assert_exact(got, np.asarray(-np.inf, dtype), "logsumexp of empty", dtype=dtype)
        got = backend.to_numpy(backend.logsumexp(e2, axis=0))
        assert_exact(got, np.full(3, -np.inf, dtype), "logsumexp (0,3) axis 0", dtype=dtype)

    fails.check("sum/prod/all_finite", sums)
    fails.check("max/min/argmax raise", raises)
    fails.check("empty", lse)
    fails.finish()


def test_argmax_argmin(backend, dtype):
    rng = rng_for("argmax", dtype)
    # Small integers: many ties, and the first occurrence must win.
    hx = rng.integers(0, 3, (4, 5, 6)).astype(dtype)
    x = backend.asarray(hx)
    for axis in (0, 1, -1, 2):
        for name, ref in (("argmax", np.argmax(hx, axis=axis)), ("argmin", np.argmin(hx, axis=axis))):
            got = backend.to_numpy(getattr(backend, name)(x, axis=axis))
            assert_exact(got, ref.astype(np.int64), f"{name} axis={axis} {dtype} (ties -> first index)",
                         dtype="int64")
    got = backend.to_numpy(backend.argmax(x))
    assert_exact(got, np.argmax(hx, axis=-1).astype(np.int64), "argmax default axis is -1")
    # Non-contiguous input.
    t = backend.transpose(x, (2, 0, 1))
    got = backend.to_numpy(backend.argmax(t, axis=1))
    assert_exact(got, np.argmax(hx.transpose(2, 0, 1), axis=1).astype(np.int64), "argmax transposed")
    # Several NaNs in a row, read through a transposed view: the first NaN wins, as in NumPy (CuPy's
    # own reduction gave a later one on an H200).
    hn = rng.standard_normal((6, 9)).astype(dtype)
    hn[0, [2, 7]] = np.nan
    hn[1, [0, 1, 8]] = np.nan
    hn[3, [5, 6]] = np.nan
    hn[4, 8] = np.nan
    tn = backend.transpose(backend.asarray(np.ascontiguousarray(hn.T)))
    for name, fn in (("argmax", np.argmax), ("argmin", np.argmin)):
        for axis in (-1, 0):
            for label, arr in (("contiguous", backend.asarray(hn)), ("transposed", tn)):
                got = backend.to_numpy(getattr(backend, name)(arr, axis=axis))
                assert_exact(got, fn(hn, axis=axis).astype(np.int64), f"{name} axis={axis} {dtype} NaNs, {label}")
    # 1-d: a 0-d int64 array.
    v = backend.asarray(np.asarray([1.0, 5.0, 5.0, -2.0], dtype))
    res = backend.argmax(v, axis=0)
    assert backend.is_array(res)
    assert_exact(backend.to_numpy(res), np.asarray(1, np.int64), "argmax 1-d", dtype="int64")
    assert_exact(backend.to_numpy(backend.argmin(v, axis=0)), np.asarray(3, np.int64), "argmin 1-d")


def test_argmax_equal(backend, dtype):
    """1 where the last-axis argmaxes agree, in the requested dtype: ties (the first maximum wins),
    a NaN (it counts as the maximum, and the first one wins), signed zeros, one column, rows of 3 to
    300 (both sides of the NumPy helper's 128), 3-D, transposed inputs and an empty batch."""
    rng = rng_for("argmax_equal", dtype)

    def ref(ha, hb):
        return (np.argmax(ha, axis=-1) == np.argmax(hb, axis=-1)).astype(dtype)

    cases = []
    for shape in ((40, 3), (40, 10), (6, 128), (6, 129), (5, 300), (3, 4, 10), (7, 1), (0, 10)):
        a = rng.integers(0, 3, shape).astype(dtype)  # many ties
        b = rng.integers(0, 3, shape).astype(dtype)
        cases.append((f"{shape}", a, b))
    a, b = rng.standard_normal((8, 6)).astype(dtype), rng.standard_normal((8, 6)).astype(dtype)
    a[0, 2], a[1, 0], a[2, 4], a[2, 1] = np.nan, np.nan, np.nan, np.nan  # b's argmax meets the first NaN or not
    b[0] = [0, 0, 5, 0, 0, 0]
    b[1] = [5, 0, 0, 0, 0, 0]
    b[2] = [0, 0, 0, 0, 5, 0]
    b[3] = [-0.0, 0.0, -1, -1, -1, -1]  # -0 and +0 tie: the first wins
    a[3] = [0.0, -0.0, -1, -1, -1, -1]
    cases.append(("nan-and-zeros", a, b))
    fails = Failures()
    for label, ha, hb in cases:
        def one(label=label, ha=ha, hb=hb):
            got = backend.to_numpy(backend.argmax_equal(backend.asarray(ha), backend.asarray(hb), dtype))
            require(got.dtype == np.dtype(dtype), f"argmax_equal [{label}]: dtype {got.dtype}, expected {dtype}")
            assert_exact(got, ref(ha, hb), f"argmax_equal {dtype} [{label}]", dtype=dtype)
            if ha.ndim == 2 and ha.size:  # the same rows as transposed views
                ta = backend.transpose(backend.asarray(np.ascontiguousarray(ha.T)))
                tb = backend.transpose(backend.asarray(np.ascontiguousarray(hb.T)))
                got = backend.to_numpy(backend.argmax_equal(ta, tb, dtype))
                assert_exact(got, ref(ha, hb), f"argmax_equal {dtype} [{label}, transposed]", dtype=dtype)
        fails.check(label, one)
    fails.finish()


def test_all_finite(backend, dtype, quiet_numpy):
    for values, expected in [([1.0, 2.0], True), ([1.0, np.nan], False), ([np.inf, 0.0], False),
                             ([[0.0, -np.inf]], False), ([[1e30, -1e30]], True)]:
        x = backend.asarray(np.asarray(values, dtype))
        res = backend.all_finite(x)
        assert backend.is_array(res), "all_finite must return a backend array (0-d), not a host bool"
        got = backend.to_numpy(res)
        assert_exact(got, np.asarray(expected), f"all_finite({values})", dtype="bool")
    # On a non-contiguous view that skips the non-finite entries.
    h = np.asarray([1.0, np.nan, 2.0, np.inf], dtype)
    assert bool(backend.to_numpy(backend.all_finite(backend.asarray(h)[::2])))
