"""Protocol membership, identity, creation, transfer and casting; results never alias inputs."""
from __future__ import annotations

import os

import numpy as np
import pytest

from lamina.backends import Backend

from ._checks import assert_exact, flush_subnormals
from ._inputs import Layout, real, rng_for, sample

ALL_DTYPES = ["float32", "float64", "int64", "int32", "uint8", "bool"]


def _protocol_members() -> tuple[list[str], list[str]]:
    attrs = [n for n in getattr(Backend, "__annotations__", {}) if not n.startswith("_")]
    methods = [n for n, v in vars(Backend).items() if callable(v) and not n.startswith("_")]
    return attrs, methods


def test_satisfies_protocol(backend):
    attrs, methods = _protocol_members()
    missing = [n for n in attrs + methods if not hasattr(backend, n)]
    assert not missing, f"backend {backend.name!r} lacks protocol members: {', '.join(missing)}"
    not_callable = [n for n in methods if not callable(getattr(backend, n))]
    assert not not_callable, f"not callable: {', '.join(not_callable)}"
    assert isinstance(backend, Backend)


def test_identity_attributes(backend, request):
    assert backend.name == request.node.callspec.params["backend"], \
        f"backend.name is {backend.name!r}; it must be the name it is registered under"
    assert isinstance(backend.host_sync_cheap, bool)
    d = backend.device_description()
    assert isinstance(d, str) and d.strip() and "\n" not in d, f"device_description must be one line, got {d!r}"
    assert backend.synchronize() is None
    assert backend.synchronize() is None


def test_can_hold(backend):
    """``fit`` asks whether the data set fits on the device; tiny data always must."""
    assert backend.can_hold(0) is True
    assert backend.can_hold(1024) is True
    assert isinstance(backend.can_hold(1 << 60), bool)


def test_memory_scope(backend):
    """Training loops run inside ``memory_scope``; arrays made there (also in nested scopes and in
    buffers the backend reuses) keep their values after the scopes end and the cache is released."""
    kept = []
    with backend.memory_scope(release=True):
        with backend.memory_scope():
            for i in range(3):  # later arrays may reuse the memory of freed earlier ones
                scratch = backend.full((64, 64), float(i), "float32")
                kept.append(backend.add(scratch, 1.0))
                del scratch
        kept.append(backend.full((64, 64), 7.0, "float32"))
    after = backend.zeros((64, 64), "float32")  # outside: must not hand out a kept array's memory
    for i, want in enumerate([1.0, 2.0, 3.0, 7.0]):
        np.testing.assert_array_equal(backend.to_numpy(kept[i]), np.full((64, 64), want, np.float32))
    np.testing.assert_array_equal(backend.to_numpy(after), np.zeros((64, 64), np.float32))


def _compiled_step(backend, w, bias):
    """A step shaped as lamina/ops/replay.py compiles one: ``step(inputs, draws=None)`` and
    ``step.next_draws()``; a product, a Dense forward with tanh and dropout, a sum, and the two
    products of a backward pass."""
    counter = [100]

    def next_draws():
        counter[0] += 1
        return [(7, counter[0])]

    def step(inputs, draws=None, next_draws=next_draws):
        if draws is None:
            draws = next_draws()
        seed, count = draws[0]
        x = inputs[0]
        _, out, mask = backend.dense_activation(backend.matmul(x, w), bias, "tanh", dropout=(0.5, seed, count))
        # the backward pass's products: transposed operands (a weight and an input gradient)
        return backend.sum(out), out, mask, backend.matmul(backend.transpose(x), out), backend.matmul(out, backend.transpose(w))

    step.next_draws = next_draws
    return step


def test_graph_step(backend):
    """``graph_step`` runs a compiled training step with the results of calling it: each of five
    batches gets its own dropout mask and values, bit for bit, and a loss kept from an earlier step
    keeps its value (``fit`` reads the losses at its next progress update). NumPy calls the step
    itself (None); on a GPU CuPy launches a CUDA graph from the second call on."""
    rng = rng_for("graph_step")
    w = backend.asarray(rng.standard_normal((6, 5)).astype(np.float32))
    bias = backend.asarray(rng.standard_normal((5,)).astype(np.float32))
    batches = [backend.asarray(rng.standard_normal((4, 6)).astype(np.float32)) for _ in range(5)]
    plain = _compiled_step(backend, w, bias)
    want = [[backend.to_numpy(a).copy() for a in plain([x])] for x in batches]
    assert not np.array_equal(want[1][2], want[2][2])  # the steps draw different masks
    graphed = backend.graph_step(_compiled_step(backend, w, bias))
    if graphed is None:  # the backend calls the step itself (NumPy, plugins)
        assert (backend.name != "cupy" or os.environ.get("LAMINA_CUDA_GRAPHS", "").strip() == "0"
                or getattr(backend, "tf32_allowed", False))  # the settings that turn CuPy's graphs off
        return
    kept = []
    for x, wanted in zip(batches, want):
        got = graphed([x])
        kept.append(got[0])
        assert len(got) == len(wanted)
        for g, w_ in zip(got, wanted):
            assert backend.to_numpy(g).tobytes() == w_.tobytes()
    for k, wanted in zip(kept, want):
        assert backend.to_numpy(k).tobytes() == wanted[0].tobytes()
    if backend.name == "cupy" and not getattr(backend.xp, "FAKE", False):
        assert graphed.failed is None and graphed.launches == 4, graphed.failed  # warm-up, then the graph


def test_release_memory(backend):
    """``release_memory`` gives cached memory back (``clear_session`` calls it); arrays still in use
    keep their values and new ones are correct."""
    with backend.memory_scope():  # a non-releasing scope fills the cache, as train_on_batch does
        kept = backend.full((128, 128), 3.0, "float32")
        for i in range(3):
            scratch = backend.full((128, 128), float(i), "float32")
            del scratch
    assert backend.release_memory() is None
    fresh = backend.zeros((128, 128), "float32")
    np.testing.assert_array_equal(backend.to_numpy(kept), np.full((128, 128), 3.0, np.float32))
    np.testing.assert_array_equal(backend.to_numpy(fresh), np.zeros((128, 128), np.float32))


def test_is_array(backend):
    x = backend.asarray(np.ones(3))
    assert backend.is_array(x)
    assert backend.is_array(backend.add(x, x))
    assert backend.is_array(backend.sum(x))
    assert backend.is_array(backend.transpose(backend.asarray(np.ones((2, 3)))))
    for other in ([1.0, 2.0], 1.5, None, "array", (1, 2)):
        assert not backend.is_array(other), f"is_array({other!r}) must be False"


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_asarray(backend, dtype):
    cases = [
        ("list", [[1, 2], [3, 4]]),
        ("numpy float64", np.asarray([0.1, -2.5, 3.0])),
        ("numpy int32", np.asarray([1, 2, 3], np.int32)),
        ("python scalar", 2),
        ("non-contiguous numpy", np.arange(12.0).reshape(3, 4)[:, ::2].T),
        ("empty", np.zeros((0, 2))),
    ]
    for what, value in cases:
        got = backend.to_numpy(backend.asarray(value, dtype=dtype))
        assert_exact(got, np.asarray(value, dtype=dtype), f"asarray({what}, dtype={dtype})", dtype=dtype)
    native = backend.asarray(np.asarray([1.0, 2.0], dtype))
    again = backend.asarray(native)
    assert backend.is_array(again) and backend.dtype_name(again) == dtype
    assert_exact(backend.to_numpy(again), np.asarray([1.0, 2.0], dtype), "asarray(native array)")


def test_asarray_default_dtypes(backend):
    assert backend.dtype_name(backend.asarray(np.ones(2, np.float32))) == "float32", "asarray must keep float32"
    assert backend.dtype_name(backend.asarray([True, False])) == "bool"
    assert backend.dtype_name(backend.asarray(np.zeros(2, np.uint64))) == "uint64"


def test_to_numpy(backend):
    rng = rng_for("to_numpy")
    for layout in (Layout("0-d", ()), Layout("m", (3, 4)), Layout("t", (4, 3), transpose=True),
                   Layout("s", (3, 8), key=np.s_[::-1, ::3]), Layout("e", (0, 3))):
        x, hx = layout.make(backend, real(), rng, "float32")
        got = backend.to_numpy(x)
        assert isinstance(got, np.ndarray), f"to_numpy must return numpy.ndarray, got {type(got).__name__}"
        assert_exact(got, hx, f"to_numpy [{layout.name}]", dtype="float32")
    for dt, v in (("bool", [True, False]), ("int64", [-3, 4]), ("uint64", [2**64 - 1, 0]), ("uint8", [255, 1])):
        got = backend.to_numpy(backend.asarray(np.asarray(v, dt)))
        assert_exact(got, np.asarray(v, dt), f"to_numpy {dt}", dtype=dt)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_filled(backend, dtype):
    for shape in [(), (0,), (2, 3), (1, 0, 2)]:
        for name, value, ref in (("zeros", None, np.zeros(shape, dtype)), ("ones", None, np.ones(shape, dtype)),
                                 ("full", 1 if dtype == "bool" else 7, np.full(shape, 1 if dtype == "bool" else 7, dtype))):
            x = getattr(backend, name)(shape, dtype) if value is None else backend.full(shape, value, dtype)
            assert backend.dtype_name(x) == dtype, f"{name}{shape} dtype_name is {backend.dtype_name(x)!r}, expected {dtype!r}"
            assert isinstance(backend.dtype_name(x), str)
            assert_exact(backend.to_numpy(x), ref, f"{name}({shape}, {dtype})", dtype=dtype)
    if dtype.startswith("float"):
        assert_exact(backend.to_numpy(backend.full((2,), 0.1, dtype)), np.full((2,), 0.1, dtype), "full 0.1 rounds like NumPy")


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_empty(backend, dtype):
    x = backend.empty((2, 3), dtype)
    assert backend.to_numpy(x).shape == (2, 3) and backend.dtype_name(x) == dtype
    assert backend.to_numpy(backend.empty((0,), dtype)).shape == (0,)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32"])
def test_arange(backend, dtype):
    for n in (0, 1, 7):
        assert_exact(backend.to_numpy(backend.arange(n, dtype)), np.arange(n, dtype=dtype), f"arange({n}, {dtype})",
                     dtype=dtype)


def test_copy(backend, dtype):
    rng = rng_for("copy", dtype)
    x, hx = Layout("t", (4, 3), transpose=True).make(backend, real(), rng, dtype)
    c = backend.copy(x)
    assert_exact(backend.to_numpy(c), hx, "copy of a transposed view", dtype=dtype)
    backend.assign(c, backend.zeros((3, 4), dtype))
    assert_exact(backend.to_numpy(x), hx, "writing into a copy must not change the original")
    y = backend.asarray(hx.copy())
    c = backend.copy(y)
    backend.assign(y, backend.ones((3, 4), dtype))
    assert_exact(backend.to_numpy(c), hx, "writing into the original must not change the copy")


_CASTS = [
    ("float64", "float32", [0.1, 1e-40, 3.4e38, -2.5, 1 / 3]),
    ("float32", "float64", [0.1, -2.5, 1e-30]),
    ("float64", "int64", [1.0, -3.0, 0.0, 2.0 ** 52]),
    ("float32", "int32", [7.0, -8.0]),
    ("int64", "float32", [1, -7, 2 ** 24 + 1]),
    ("int64", "float64", [2 ** 53, -5]),
    ("bool", "float32", [True, False]),
    ("float32", "bool", [0.0, -0.0, 2.5, np.nan]),
    ("uint8", "float32", [0, 255]),
    ("float32", "float32", [1.5, -2.0]),
]


@pytest.mark.parametrize("src,dst,values", _CASTS, ids=[f"{s}->{d}" for s, d, _ in _CASTS])
def test_cast(backend, src, dst, values, quiet_numpy):
    h = np.asarray(values, src)
    x = backend.asarray(h)
    y = backend.cast(x, dst)
    assert backend.dtype_name(y) == dst
    # 1e-40 -> float32 is a subnormal: a flush-to-zero backend gives 0 (flushed_subnormal_dtypes)
    assert_exact(backend.to_numpy(y), flush_subnormals(backend, h.astype(dst)), f"cast {src} -> {dst}", dtype=dst)
    # A new array, even for the same dtype: writing into it leaves x alone.
    backend.assign(y, backend.zeros(h.shape, dst))
    assert_exact(backend.to_numpy(x), h, f"cast {src} -> {dst} must not alias its input")


def test_flushed_subnormal_dtypes_say_what_the_backend_does(backend, dtype):
    """``flushed_subnormal_dtypes`` names exactly the dtypes whose subnormals the device flushes:
    multiplying subnormals by one keeps them where it does not, and gives zeros of their sign where it does."""
    t = np.finfo(dtype).tiny
    h = np.asarray([t / 4, -t / 4, t / 1024, t, -2.5], dtype)
    got = backend.to_numpy(backend.multiply(backend.asarray(h), backend.ones((), dtype)))
    want = flush_subnormals(backend, h)
    assert_exact(got, want, f"subnormals of {dtype} times 1 (flushed: {backend.flushed_subnormal_dtypes})", dtype=dtype)
    assert (np.signbit(got) == np.signbit(want)).all(), f"signs of {got}, expected those of {want}"


_ALIAS_OPS = [
    ("copy", lambda be, x: be.copy(x)),
    ("cast-same-dtype", lambda be, x: be.cast(x, be.dtype_name(x))),
    ("add", lambda be, x: be.add(x, be.zeros((), be.dtype_name(x)))),
    ("multiply-scalar", lambda be, x: be.multiply(x, 1.0)),
    ("exp", lambda be, x: be.exp(x)),
    ("abs", lambda be, x: be.abs(x)),
    ("maximum", lambda be, x: be.maximum(x, x)),
    ("clip", lambda be, x: be.clip(x, -100.0, 100.0)),
    ("where", lambda be, x: be.where(be.asarray(True), x, x)),
    ("getitem-advanced", lambda be, x: be.getitem(x, be.asarray(np.array([0, 1])))),
    ("take", lambda be, x: be.take(x, be.asarray(np.array([0, 1])), axis=0)),
    ("concatenate-one", lambda be, x: be.concatenate([x], axis=0)),
    ("stack-one", lambda be, x: be.stack([x])),
    ("pad-zero-width", lambda be, x: be.pad(x, [(0, 0)] * 4)),
    ("softmax", lambda be, x: be.softmax(x)),
    ("sum-keepdims-axis0", lambda be, x: be.sum(x[:1], axis=0, keepdims=True)),
]


@pytest.mark.parametrize("label,op", _ALIAS_OPS, ids=[a[0] for a in _ALIAS_OPS])
def test_result_does_not_alias_input(backend, label, op):
    """'Without out the result is a new array that never aliases an input' (protocol rules; the
    view-returning ops it lists — reshape, transpose, …, getitem with basic indexing — are not
    here): overwrite the input in place and check the earlier result did not change."""
    h = sample(real(), rng_for("alias", label), (3, 2, 2, 2), "float64")
    x = backend.asarray(h.copy())
    r = op(backend, x)
    before = backend.to_numpy(r).copy()
    backend.assign(x, backend.zeros(h.shape, "float64"))
    assert_exact(backend.to_numpy(r), before, f"{label}: result changed when its input was overwritten (aliasing)")
