"""matmul (batched, broadcast, 1-d, empty, non-contiguous) and the shape/indexing ops, which are
exact: they move values and must reproduce NumPy's result bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

from ._cases import MATMUL, matmul_bound
from ._checks import Failures, assert_close, assert_exact
from ._inputs import STRIDED, Layout, real, rng_for

L = Layout


def test_matmul(backend, dtype):
    rng = rng_for("matmul", dtype)
    fails = Failures()
    for label, la, lb in MATMUL:
        def one(la=la, lb=lb, label=label):
            a, ha = la.make(backend, real(-2, 2), rng, dtype)
            b, hb = lb.make(backend, real(-2, 2), rng, dtype)
            got = backend.to_numpy(backend.matmul(a, b))
            a64, b64 = ha.astype(np.float64), hb.astype(np.float64)
            ref = np.matmul(a64, b64)
            assert_close(got, ref, matmul_bound(a64, b64, ref, dtype), f"matmul {dtype} [{label}]", dtype=dtype)
        fails.check(label, one)

    def out():
        a, ha = L("a", (2, 3, 4)).make(backend, real(), rng, dtype)
        b, hb = L("b", (4, 5)).make(backend, real(), rng, dtype)
        o = backend.empty((2, 3, 5), dtype)
        assert backend.matmul(a, b, out=o) is o, "matmul(..., out=out) must return out"
        ref = np.matmul(ha.astype(np.float64), hb.astype(np.float64))
        assert_close(backend.to_numpy(o), ref, matmul_bound(ha.astype(np.float64), hb.astype(np.float64), ref, dtype),
                     f"matmul out= {dtype}", dtype=dtype)
    fails.check("out=", out)
    fails.finish()


def _dev_host(be, shape, dtype="float64", transpose=False, rng=None):
    rng = rng or rng_for("shape", shape)
    return L("x", shape, transpose).make(be, real(), rng, dtype)


def test_reshape(backend, dtype):
    rng = rng_for("reshape", dtype)
    for base, transpose, shape in [((2, 3, 4), False, (6, 4)), ((2, 3, 4), False, (-1,)),
                                   ((2, 3, 4), False, (4, -1)), ((), False, (1, 1)), ((1,), False, ()),
                                   ((0, 3), False, (3, 0)), ((4, 3), True, (2, 6)), ((4, 3), True, (-1,))]:
        x, hx = L("x", base, transpose).make(backend, real(), rng, dtype)
        got = backend.to_numpy(backend.reshape(x, shape))
        assert_exact(got, hx.reshape(shape), f"reshape {hx.shape}{' (transposed view)' if transpose else ''} -> {shape}",
                     dtype=dtype)


def test_transpose(backend, dtype):
    rng = rng_for("transpose", dtype)
    x, hx = L("x", (2, 3, 4)).make(backend, real(), rng, dtype)
    for axes in (None, (1, 0, 2), (2, 0, 1), (0, 1, 2)):
        got = backend.to_numpy(backend.transpose(x, axes))
        assert_exact(got, np.transpose(hx, axes), f"transpose axes={axes}", dtype=dtype)
    v, hv = L("v", (5, 6), key=STRIDED).make(backend, real(), rng, dtype)
    assert_exact(backend.to_numpy(backend.transpose(v)), hv.T, "transpose of a strided view")
    assert_exact(backend.to_numpy(backend.transpose(backend.asarray(np.asarray(2.0, dtype)))),
                 np.asarray(2.0, dtype), "transpose 0-d")


def test_expand_dims_squeeze(backend, dtype):
    rng = rng_for("expand", dtype)
    x, hx = L("x", (3, 4)).make(backend, real(), rng, dtype)
    for axis in (0, 1, 2, -1, -3):
        assert_exact(backend.to_numpy(backend.expand_dims(x, axis)), np.expand_dims(hx, axis), f"expand_dims axis={axis}")
    s0 = backend.asarray(np.asarray(1.5, dtype))
    assert_exact(backend.to_numpy(backend.expand_dims(s0, 0)), np.asarray([1.5], dtype), "expand_dims 0-d")
    y, hy = L("y", (1, 3, 1, 4)).make(backend, real(), rng, dtype)
    for axis in (None, 0, 2, -2, (0, 2)):
        assert_exact(backend.to_numpy(backend.squeeze(y, axis)), np.squeeze(hy, axis), f"squeeze axis={axis}", dtype=dtype)
    assert_exact(backend.to_numpy(backend.squeeze(y, axis=[0, 2])), np.squeeze(hy, (0, 2)), "squeeze axis=list")


def test_broadcast_to(backend, dtype):
    rng = rng_for("broadcast", dtype)
    for base, transpose, shape in [((3, 1), False, (2, 3, 4)), ((), False, (2, 2)), ((4,), False, (3, 4)),
                                   ((1, 3), True, (2, 3, 4)), ((2, 1), False, (2, 0)), ((3,), False, (3,))]:
        x, hx = L("x", base, transpose).make(backend, real(), rng, dtype)
        assert_exact(backend.to_numpy(backend.broadcast_to(x, shape)), np.broadcast_to(hx, shape),
                     f"broadcast_to {hx.shape} -> {shape}", dtype=dtype)


def test_concatenate_stack(backend, dtype):
    rng = rng_for("concat", dtype)
    a, ha = L("a", (2, 3)).make(backend, real(), rng, dtype)
    b, hb = L("b", (3, 4), transpose=True).make(backend, real(), rng, dtype)  # (4, 3) view
    e, he = L("e", (0, 3)).make(backend, real(), rng, dtype)
    assert_exact(backend.to_numpy(backend.concatenate([a, b, e], axis=0)), np.concatenate([ha, hb, he], 0),
                 "concatenate axis=0 (with a transposed and an empty piece)", dtype=dtype)
    c, hc = L("c", (2, 1)).make(backend, real(), rng, dtype)
    assert_exact(backend.to_numpy(backend.concatenate([a, c])), np.concatenate([ha, hc], -1),
                 "concatenate default axis is -1", dtype=dtype)
    assert_exact(backend.to_numpy(backend.concatenate((a, c), axis=1)), np.concatenate([ha, hc], 1), "concatenate tuple")
    d, hd = L("d", (2, 3)).make(backend, real(), rng, dtype)
    for axis in (0, 1, -1, 2):
        assert_exact(backend.to_numpy(backend.stack([a, d, a], axis=axis)), np.stack([ha, hd, ha], axis),
                     f"stack axis={axis}", dtype=dtype)
    assert_exact(backend.to_numpy(backend.stack([a, d])), np.stack([ha, hd], 0), "stack default axis is 0")
    s = [backend.asarray(np.asarray(v, dtype)) for v in (1.0, 2.0, 3.0)]
    assert_exact(backend.to_numpy(backend.stack(s)), np.asarray([1.0, 2.0, 3.0], dtype), "stack of 0-d arrays")


def test_take(backend, dtype):
    rng = rng_for("take", dtype)
    x, hx = L("x", (4, 5, 3)).make(backend, real(), rng, dtype)
    for idx, axis in [([0, 3, 3, 1], 0), ([-1, 0, 2], 1), ([[0, 2], [1, 1]], -1), ([2], 2), ([], 0)]:
        i = np.asarray(idx, dtype=np.int64)
        got = backend.to_numpy(backend.take(x, backend.asarray(i), axis=axis))
        assert_exact(got, np.take(hx, i, axis=axis), f"take indices={idx} axis={axis}", dtype=dtype)
    got = backend.to_numpy(backend.take(x, backend.asarray(np.asarray([1, 0])), 0))
    assert_exact(got, np.take(hx, [1, 0], axis=0), "take default axis is 0 (positional)")
    t, ht = L("t", (5, 4), transpose=True).make(backend, real(), rng, dtype)
    got = backend.to_numpy(backend.take(t, backend.asarray(np.asarray([4, 0])), axis=1))
    assert_exact(got, np.take(ht, [4, 0], axis=1), "take from a transposed view")


def _native_key(be, key):
    if isinstance(key, tuple):
        return tuple(_native_key(be, k) for k in key)
    if isinstance(key, np.ndarray):
        return be.asarray(key)
    return key


_MASK = np.array([[True, False, True, False, True], [False, False, True, True, False],
                  [True, True, False, False, False], [False, False, False, False, True]])

_KEYS = [
    ("int", 1), ("negative-int", -1), ("slice", np.s_[1:3]), ("step", np.s_[::2]),
    ("negative-step", np.s_[::-1, ::-2]), ("int-and-slice", np.s_[1, 2:4]), ("ellipsis", np.s_[..., 1]),
    ("newaxis", np.s_[:, None, 1]), ("empty-slice", np.s_[2:2]),
    ("int-array-repeats", np.array([2, 0, 2])), ("int-array-2d", (np.array([[0, 1], [3, 0]]),)),
    ("two-int-arrays", (np.array([0, 2, 3]), np.array([1, 4, 0]))),
    ("slice-and-int-array", (slice(None), np.array([3, 0, 3]))), ("bool-mask", _MASK),
    ("bool-row-mask", np.array([True, False, False, True])),
]


@pytest.mark.parametrize("label,key", _KEYS, ids=[k[0] for k in _KEYS])
def test_getitem(backend, dtype, label, key):
    rng = rng_for("getitem", label, dtype)
    x, hx = L("x", (4, 5)).make(backend, real(), rng, dtype)
    got = backend.to_numpy(backend.getitem(x, _native_key(backend, key)))
    assert_exact(got, np.asarray(hx[key]), f"getitem [{label}]", dtype=dtype)
    # The same on a non-contiguous view.
    t, ht = L("t", (5, 4), transpose=True).make(backend, real(), rng, dtype)
    got = backend.to_numpy(backend.getitem(t, _native_key(backend, key)))
    assert_exact(got, np.asarray(ht[key]), f"getitem [{label}] of a transposed view", dtype=dtype)


_SCATTER = [
    ("int-array-repeats", (5, 3), (np.array([0, 4, 0, 0, 2]),)),
    ("slice-and-array", (3, 5), (slice(None), np.array([1, 1, 4]))),
    ("two-arrays", (4, 4), (np.array([0, 3, 0]), np.array([1, 2, 1]))),
    ("basic-slice", (4, 6), np.s_[1:3, ::2]),
    ("int", (4, 3), 2),
    ("bool-mask", (4, 5), _MASK),
]


@pytest.mark.parametrize("label,shape,key", _SCATTER, ids=[s[0] for s in _SCATTER])
def test_scatter_add(backend, dtype, label, shape, key):
    """Repeated indices accumulate (values are small integers, so every order sums exactly)."""
    rng = rng_for("scatter", label, dtype)
    target_shape = np.zeros(shape)[key].shape
    values = rng.integers(-4, 5, target_shape).astype(dtype)
    got = backend.to_numpy(backend.scatter_add(shape, _native_key(backend, key), backend.asarray(values), dtype))
    ref = np.zeros(shape, dtype)
    np.add.at(ref, key, values)
    assert_exact(got, ref, f"scatter_add [{label}]", dtype=dtype)
    # out=: added into an existing array in place (the tape accumulates slice gradients this way)
    start = rng.integers(-4, 5, shape).astype(dtype)
    out = backend.asarray(start.copy())
    back = backend.scatter_add(shape, _native_key(backend, key), backend.asarray(values), dtype, out=out)
    assert back is out, "scatter_add(out=...) must return out"
    ref = start.copy()
    np.add.at(ref, key, values)
    assert_exact(backend.to_numpy(out), ref, f"scatter_add out= [{label}]", dtype=dtype)


def test_pad(backend, dtype):
    rng = rng_for("pad", dtype)
    for base, transpose, widths, value in [((2, 3), False, [(1, 2), (0, 1)], 0.0), ((4,), False, [(3, 0)], -3.5),
                                           ((2, 2, 2), False, [(0, 0), (1, 1), (2, 0)], 1.0),
                                           ((3, 2), True, [(1, 0), (0, 2)], 7.0), ((0, 2), False, [(1, 1), (0, 0)], 2.0)]:
        x, hx = L("x", base, transpose).make(backend, real(), rng, dtype)
        got = backend.to_numpy(backend.pad(x, widths, value))
        assert_exact(got, np.pad(hx, widths, constant_values=value), f"pad {hx.shape} {widths} value={value}", dtype=dtype)
    x, hx = L("x", (2, 3)).make(backend, real(), rng, dtype)
    assert_exact(backend.to_numpy(backend.pad(x, [(1, 1), (1, 1)])), np.pad(hx, 1), "pad default value is 0")


@pytest.mark.parametrize("out_dtype", ["float32", "float64", "int64"])
def test_one_hot(backend, out_dtype):
    """Out-of-range (negative or >= depth) indices give all-zero rows."""
    idx = np.array([[0, 3, -1], [4, 2, 7]], dtype=np.int64)
    got = backend.to_numpy(backend.one_hot(backend.asarray(idx), 4, out_dtype))
    ref = (idx[..., None] == np.arange(4)).astype(out_dtype)
    assert_exact(got, ref, f"one_hot depth 4 -> {out_dtype}", dtype=out_dtype)
    assert got[0, 2].sum() == 0 and got[1, 0].sum() == 0 and got[1, 2].sum() == 0
    got = backend.to_numpy(backend.one_hot(backend.asarray(np.asarray(2, np.int64)), 3, out_dtype))
    assert_exact(got, np.asarray([0, 0, 1], out_dtype), "one_hot of a 0-d index")
    got = backend.to_numpy(backend.one_hot(backend.asarray(np.zeros((0,), np.int64)), 3, out_dtype))
    assert got.shape == (0, 3)
    i32 = backend.asarray(np.asarray([1, 0], np.int32))
    assert_exact(backend.to_numpy(backend.one_hot(i32, 2, out_dtype)), np.eye(2, dtype=out_dtype)[[1, 0]], "one_hot of int32")


def test_channels(backend, dtype):
    rng = rng_for("channels", dtype)
    for shape in [(2, 3, 7), (2, 3, 4, 5), (1, 2, 3, 2, 2)]:
        x, hx = L("x", shape).make(backend, real(), rng, dtype)
        last = backend.to_channels_last(x)
        assert_exact(backend.to_numpy(last), np.moveaxis(hx, 1, -1), f"to_channels_last {shape}", dtype=dtype)
        first = backend.to_channels_first(last)
        assert_exact(backend.to_numpy(first), hx, f"to_channels_first(to_channels_last(x)) {shape}", dtype=dtype)
        assert_exact(backend.to_numpy(backend.to_channels_first(x)), np.moveaxis(hx, -1, 1),
                     f"to_channels_first {shape}", dtype=dtype)


_ERRORS = [
    ("matmul", lambda be, x: be.matmul(x((3, 4)), x((5, 2)))),
    ("reshape", lambda be, x: be.reshape(x((3, 4)), (5, 2))),
    ("concatenate", lambda be, x: be.concatenate([x((2, 3)), x((2, 4))], axis=0)),
    ("broadcast_to", lambda be, x: be.broadcast_to(x((3, 2)), (3, 4))),
    ("add", lambda be, x: be.add(x((3,)), x((4,)))),
    ("max-empty", lambda be, x: be.max(x((0,)))),
]


@pytest.mark.parametrize("label,call", _ERRORS, ids=[e[0] for e in _ERRORS])
def test_errors_are_value_or_type_errors(backend, label, call):
    """Shape mistakes raise ValueError/TypeError (not a crash, not a silent wrong answer)."""
    def x(shape):
        return backend.asarray(np.ones(shape, "float32"))
    with pytest.raises((ValueError, TypeError)):
        call(backend, x)
