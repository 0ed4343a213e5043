"""Element-wise protocol ops against float64 NumPy references, on every input layout."""
from __future__ import annotations

import numpy as np
import pytest

from ._cases import BINARY, COMPARISONS, UNARY
from ._checks import EXACT, Failures, assert_close, assert_exact, flush_subnormals
from ._inputs import (BINARY_LAYOUTS, UNARY_LAYOUTS, Layout, make_operand, real, rng_for,
                      sample)


def check_against_reference(case, got, host_inputs, dtype, what):
    """Compare ``got`` (host array) with ``case.ref`` evaluated in float64 on the same values."""
    inputs64 = tuple(np.asarray(h, dtype=np.float64) for h in host_inputs)
    with np.errstate(all="ignore"):
        ref = np.asarray(case.ref(*inputs64))
    if case.result == "bool":
        assert_exact(got, ref.astype(bool), what, dtype="bool")
    elif case.tol is EXACT:
        assert_exact(got, ref.astype(dtype), what, dtype=dtype)
    else:
        assert_close(got, ref, case.tol.bound(dtype, ref, inputs64), what, dtype=dtype)


def run_layouts(be, case, fn, dtype, layouts, tag):
    """Run ``fn`` (backend operands -> backend/host result) on every layout; report all failures."""
    rng = rng_for(tag, case.name, dtype)
    fails = Failures(case.known_bugs)
    for layout in layouts:
        def one(layout=layout):
            if isinstance(layout, Layout):
                operands = [layout.make(be, case.domains[0], rng, dtype)]
            else:
                operands = [make_operand(layout.a, be, case.domains[0], rng, dtype),
                            make_operand(layout.b, be, case.domains[1], rng, dtype)]
            got = fn(*[dev for dev, _ in operands])
            got = got if isinstance(got, np.ndarray) else be.to_numpy(got)
            check_against_reference(case, got, [host for _, host in operands], dtype,
                                    f"{case.name} {dtype} [{layout.name}]")
        fails.check(layout.name, one)
    fails.finish()


@pytest.mark.parametrize("case", UNARY, ids=[c.name for c in UNARY])
def test_unary(backend, case, dtype, quiet_numpy):
    run_layouts(backend, case, getattr(backend, case.method), dtype, UNARY_LAYOUTS, "unary")


@pytest.mark.parametrize("case", BINARY, ids=[c.name for c in BINARY])
def test_binary(backend, case, dtype, quiet_numpy):
    run_layouts(backend, case, getattr(backend, case.method), dtype, BINARY_LAYOUTS, "binary")


@pytest.mark.parametrize("case", COMPARISONS, ids=[c.name for c in COMPARISONS])
def test_comparison(backend, case, dtype, quiet_numpy):
    """Comparisons with ties, ±inf and NaN (NaN compares unequal to everything)."""
    run_layouts(backend, case, getattr(backend, case.method), dtype, BINARY_LAYOUTS, "compare")


_OUT_CASES = [c for c in UNARY + BINARY if c.out]


@pytest.mark.parametrize("case", _OUT_CASES, ids=[c.name for c in _OUT_CASES])
def test_out_argument(backend, case, dtype):
    """``out=`` is filled and returned (the same object)."""
    rng = rng_for("out", case.name, dtype)
    layout = Layout("matrix", (3, 4))
    operands = [layout.make(backend, d, rng, dtype) for d in case.domains]
    out = backend.empty((3, 4), dtype)
    res = getattr(backend, case.method)(*[d for d, _ in operands], out=out)
    assert res is out, f"{case.method}(..., out=out) must return out itself"
    check_against_reference(case, backend.to_numpy(out), [h for _, h in operands], dtype,
                            f"{case.method} {dtype} [out=]")


@pytest.mark.parametrize("case", UNARY + BINARY, ids=[c.name for c in UNARY + BINARY])
def test_noncontiguous_equals_contiguous(backend, case, quiet_numpy):
    """An op on a strided/transposed view gives what it gives on a contiguous copy."""
    dtype = "float32"
    rng = rng_for("view", case.name)
    layouts = [Layout("transposed", (6, 5), transpose=True), Layout("strided", (5, 12), key=np.s_[:, ::2]),
               Layout("reversed", (5, 6), key=np.s_[::-1, ::-1])][: 3 if len(case.domains) == 1 else 2]
    views = [layouts[i % len(layouts)].make(backend, d, rng, dtype) for i, d in enumerate(case.domains)]
    fn = getattr(backend, case.method)
    got_view = backend.to_numpy(fn(*[v for v, _ in views]))
    got_copy = backend.to_numpy(fn(*[backend.asarray(np.ascontiguousarray(h)) for _, h in views]))
    if case.tol is EXACT or case.result == "bool":
        assert_exact(got_view, got_copy, f"{case.name} on a view vs a contiguous copy")
    else:
        ref = got_copy.astype(np.float64)
        assert_close(got_view, ref, 2 * case.tol.bound(dtype, ref, tuple(np.asarray(h, dtype=np.float64) for _, h in views)),
                     f"{case.name} on a view vs a contiguous copy", dtype=dtype)


@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (0.0, 0.5), (-1.1, -1.1), (-np.inf, 0.3)])
def test_clip(backend, dtype, lo, hi):
    rng = rng_for("clip", lo, hi, dtype)
    fails = Failures()
    for layout in UNARY_LAYOUTS:
        def one(layout=layout):
            x, hx = layout.make(backend, real(-3, 3), rng, dtype)
            got = backend.to_numpy(backend.clip(x, lo, hi))
            ref = np.clip(hx, np.asarray(lo, dtype), np.asarray(hi, dtype))
            assert_exact(got, ref, f"clip({lo}, {hi}) {dtype} [{layout.name}]", dtype=dtype)
        fails.check(layout.name, one)
    fails.finish()


def test_where(backend, dtype):
    rng = rng_for("where", dtype)
    cond = rng.random((3, 1, 4)) < 0.5
    a = sample(real(), rng, (2, 4), dtype)
    b = sample(real(), rng, (3, 2, 1), dtype)
    c_ = backend.asarray(cond)
    got = backend.to_numpy(backend.where(c_, backend.asarray(a), backend.asarray(b)))
    assert_exact(got, np.where(cond, a, b), f"where {dtype} [broadcast]", dtype=dtype)
    # Python scalar branches take the array's dtype.
    got = backend.to_numpy(backend.where(c_, backend.asarray(a), 0.5))
    assert_exact(got, np.where(cond, a, np.asarray(0.5, dtype)), f"where {dtype} [scalar]", dtype=dtype)
    # Non-contiguous operands.
    at = sample(real(), rng, (4, 2), dtype)
    got = backend.to_numpy(backend.where(backend.asarray(cond[0]), backend.transpose(backend.asarray(at)), backend.asarray(b[0])))
    assert_exact(got, np.where(cond[0], at.T, b[0]), f"where {dtype} [transposed]", dtype=dtype)


def test_logical(backend):
    rng = rng_for("logical")
    a = rng.random((3, 4)) < 0.5
    b = rng.random((1, 4)) < 0.5
    da, db = backend.asarray(a), backend.asarray(b)
    assert_exact(backend.to_numpy(backend.logical_and(da, db)), a & b, "logical_and", dtype="bool")
    assert_exact(backend.to_numpy(backend.logical_or(da, db)), a | b, "logical_or", dtype="bool")
    assert_exact(backend.to_numpy(backend.logical_not(da)), ~a, "logical_not", dtype="bool")
    assert_exact(backend.to_numpy(backend.logical_not(backend.transpose(da))), ~a.T, "logical_not [transposed]")
    e = backend.asarray(np.zeros((0, 2), bool))
    assert backend.to_numpy(backend.logical_and(e, e)).shape == (0, 2)


# IEEE special values: (method, inputs, expected). Expected values are exact.
_SPECIAL = [
    ("divide", ([1.0, -1.0, 0.0, 3.0], [0.0, 0.0, 0.0, np.inf]), [np.inf, -np.inf, np.nan, 0.0]),
    ("log", ([0.0, -1.0, np.inf, 1.0],), [-np.inf, np.nan, np.inf, 0.0]),
    ("log1p", ([-1.0, -2.0, 0.0],), [-np.inf, np.nan, 0.0]),
    ("exp", ([1000.0, -1000.0, -np.inf, 0.0],), [np.inf, 0.0, 0.0, 1.0]),
    ("expm1", ([-np.inf, 1000.0, 0.0],), [-1.0, np.inf, 0.0]),
    ("sqrt", ([-1.0, 0.0, np.inf],), [np.nan, 0.0, np.inf]),
    ("tanh", ([np.inf, -np.inf, 50.0, -50.0],), [1.0, -1.0, 1.0, -1.0]),
    ("sigmoid", ([np.inf, -np.inf, 1000.0, -1000.0, 0.0],), [1.0, 0.0, 1.0, 0.0, 0.5]),
    ("maximum", ([np.nan, 1.0, np.nan], [1.0, np.nan, np.nan]), [np.nan, np.nan, np.nan]),
    ("minimum", ([np.nan, 1.0, -np.inf], [1.0, np.nan, 2.0]), [np.nan, np.nan, -np.inf]),
    ("sign", ([np.nan, -np.inf, np.inf, 0.0],), [np.nan, -1.0, 1.0, 0.0]),
    ("abs", ([-np.inf, -0.0],), [np.inf, 0.0]),
    ("isfinite", ([np.nan, np.inf, -np.inf, 1.0],), [False, False, False, True]),
    ("round", ([0.5, 1.5, 2.5, -0.5, -1.5],), [0.0, 2.0, 2.0, -0.0, -2.0]),
    ("erf", ([np.inf, -np.inf, 0.0, 10.0],), [1.0, -1.0, 0.0, 1.0]),
]


@pytest.mark.parametrize("method,inputs,expected", _SPECIAL, ids=[s[0] for s in _SPECIAL])
def test_special_values(backend, dtype, method, inputs, expected, quiet_numpy):
    args = [backend.asarray(np.asarray(v, dtype=dtype)) for v in inputs]
    got = backend.to_numpy(getattr(backend, method)(*args))
    exp = np.asarray(expected)
    assert_exact(got, exp if exp.dtype == bool else exp.astype(dtype),
                 f"{method}{tuple(inputs)} {dtype}")


def test_integer_ops(backend):
    """int64 arithmetic and reductions are exact and stay int64."""
    rng = rng_for("int")
    a = rng.integers(-50, 50, (3, 4)).astype(np.int64)
    b = rng.integers(-50, 50, (4,)).astype(np.int64)
    da, db = backend.asarray(a), backend.asarray(b)
    for name, ref in [("add", a + b), ("subtract", a - b), ("multiply", a * b),
                      ("maximum", np.maximum(a, b)), ("minimum", np.minimum(a, b))]:
        assert_exact(backend.to_numpy(getattr(backend, name)(da, db)), ref, f"{name} int64", dtype="int64")
    for name, ref in [("negative", -a), ("abs", np.abs(a)), ("sign", np.sign(a)), ("square", a * a)]:
        assert_exact(backend.to_numpy(getattr(backend, name)(da)), ref, f"{name} int64", dtype="int64")
    assert_exact(backend.to_numpy(backend.sum(da, axis=0)), a.sum(axis=0), "sum int64", dtype="int64")
    assert_exact(backend.to_numpy(backend.max(da)), a.max(), "max int64", dtype="int64")
    assert_exact(backend.to_numpy(backend.min(da, axis=1)), a.min(axis=1), "min int64", dtype="int64")
    assert_exact(backend.to_numpy(backend.equal(da, db)), a == b, "equal int64", dtype="bool")
    assert_exact(backend.to_numpy(backend.add(da, 3)), a + 3, "add int64 + python int", dtype="int64")


def test_relu_grad_multiplies_by_one_or_zero(backend, dtype):
    """``relu_grad`` is a multiply by the mask, not a select: 0 times a negative gradient is -0, an
    infinite gradient where the mask is 0 gives NaN, a NaN gradient stays NaN where it is 1 (the
    sign bit of a NaN is left free: a GPU may return its canonical NaN)."""
    y = np.array([0.0, -0.0, 1.0, np.nan, np.inf, 2.0, 0.0, 3.0, -1.0, 5e-39], dtype)
    g = np.array([-1.0, -2.0, -3.0, -4.0, 5.0, np.inf, np.inf, np.nan, -np.inf, -6.0], dtype)
    with np.errstate(invalid="ignore"):  # 5e-39 is a float32 subnormal: 0 where the backend flushes it
        want = (g.astype(np.float64) * (flush_subnormals(backend, y) > 0)).astype(dtype)
        got = backend.to_numpy(backend.relu_grad(backend.asarray(y), backend.asarray(g)))
    assert got.dtype == want.dtype
    nan = np.isnan(want)
    assert (np.isnan(got) == nan).all(), f"relu_grad {dtype}: NaN at {np.isnan(got)}, expected at {nan}"
    assert (got[~nan] == want[~nan]).all() and (np.signbit(got[~nan]) == np.signbit(want[~nan])).all(), \
        f"relu_grad {dtype}: got {got}, expected {want} (signs of zero included)"
