"""The NumPy backend's fast paths — the compiled helper (``_kernels.cpp``) and the cache-blocked
NumPy code it falls back to — equal the shared base code bit for bit (the CUDA kernels round in
the same order, so all backends agree exactly)."""
from __future__ import annotations

import itertools
import math
import os
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

import lamina_numpy
from lamina.backends.base import ArrayBackend
from lamina_numpy import NumpyBackend, _CHUNK

from conformance._updates import RULES, apply_update

SHAPES = [(3,), (_CHUNK + 17,), (301, 129)]


@pytest.fixture(params=["compiled", "compiled-scalar", "numpy"])
def path(request, monkeypatch):
    """Run a test through the compiled helper (with and without its vector loops) and through the
    NumPy code."""
    if request.param.startswith("compiled"):
        kernels = _need_helper()
        has_vector = kernels.use_vector_paths(request.param == "compiled")
        if request.param == "compiled-scalar" and not has_vector:
            pytest.skip("this CPU has no vector path, so 'compiled' already ran the scalar loops")
        yield request.param
        kernels.use_vector_paths(True)
        return
    monkeypatch.setattr(lamina_numpy, "_KERNELS", None)
    yield request.param


def _need_helper():
    """The compiled helper; the test is skipped where it was not built."""
    if not lamina_numpy.compiled_kernels():
        pytest.skip("lamina_numpy._kernels is not built here (no C++ compiler at install time)")
    return lamina_numpy._KERNELS


class _HelperWith:
    """The real helper with some of its functions replaced, e.g. by one that disagrees with NumPy."""

    def __init__(self, **replaced):
        self._real, self._replaced = lamina_numpy._KERNELS, replaced

    def __getattr__(self, name):
        return self._replaced[name] if name in self._replaced else getattr(self._real, name)


def state(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for _ in range(5)]


class PlainNumpy(ArrayBackend):
    xp = np


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rule", RULES)
def test_fast_update_equals_base(shape, dtype, rule, path):
    results = []
    for be in (NumpyBackend(), PlainNumpy()):
        p, g, a, b, c = state(shape, dtype, 0)
        b = np.abs(b)  # second moments are non-negative
        c = np.abs(c)
        for _ in range(3):
            apply_update(be, rule, p, g, a, b, c)
        results.append((p, a, b, c))
    for x, y in zip(*results):
        np.testing.assert_array_equal(x, y)


def _many_state(shapes, dtype, seed):
    """Per parameter: param, grad and three states (the last two non-negative second moments)."""
    out = []
    for i, shape in enumerate(shapes):
        p, g, a, b, c = (np.array(x) for x in state(shape, dtype, seed + i))  # 0-d arrays, not scalars
        out.append([p, g, a, np.abs(b, out=b), np.abs(c, out=c)])
    return out


def _update_all(be, rule, arrays, many):
    """One step of ``rule`` for every parameter: through the ``*_many`` op, or one ``*_update``
    call per parameter."""
    if many:
        return apply_update(be, rule, *(list(col) for col in zip(*arrays)), many=True)
    for arr in arrays:
        apply_update(be, rule, *arr)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rule", RULES)
def test_update_many_equals_one_update_per_parameter(dtype, rule, path, monkeypatch):
    shapes = [(3,), (0,), (_CHUNK + 17,), (31, 7), (), (1, 500)]
    if path.startswith("compiled"):  # the helper must do all of it: no per-parameter fallback
        for name in ("sgd_update_many", "adam_update_many", "rmsprop_update_many"):
            monkeypatch.setattr(ArrayBackend, name, None)
    got, want = _many_state(shapes, dtype, 5), _many_state(shapes, dtype, 5)
    for _ in range(3):
        _update_all(NumpyBackend(), rule, got, many=True)
        _update_all(PlainNumpy(), rule, want, many=False)
    for g_arrays, w_arrays in zip(got, want):
        for x, y in zip(g_arrays, w_arrays):
            assert x.tobytes() == y.tobytes()


@pytest.mark.parametrize("odd", ["transposed-grad", "transposed-param", "float16-param", "mixed-dtypes",
                                 "read-only-grad"])
def test_update_many_with_an_odd_array_falls_back_whole(odd, path, monkeypatch):
    """One array the helper cannot take sends the whole call to the per-parameter code, before
    anything was written (so no parameter is updated twice); a strided gradient is copied and a
    read-only one taken as it is, by the helper itself."""
    if path.startswith("compiled") and odd in ("transposed-grad", "read-only-grad"):
        monkeypatch.setattr(ArrayBackend, "sgd_update_many", None)  # no fallback for these
    arrays = _many_state([(4, 6), (6, 4), (5,)], "float32", 9)
    if odd == "transposed-grad":
        arrays[1][1] = np.ascontiguousarray(arrays[1][1].T).T
    elif odd == "transposed-param":
        arrays[1][0] = np.ascontiguousarray(arrays[1][0].T).T
    elif odd == "float16-param":
        arrays[2] = [a.astype(np.float16) for a in arrays[2]]
    elif odd == "mixed-dtypes":
        arrays[0] = [a.astype(np.float64) for a in arrays[0]]
    else:
        arrays[2][1].flags.writeable = False  # only read: the helper takes it
    want = [[a.copy() for a in arr] for arr in arrays]
    _update_all(NumpyBackend(), "nesterov", arrays, many=True)
    _update_all(PlainNumpy(), "nesterov", want, many=False)
    for g_arrays, w_arrays in zip(arrays, want):
        for x, y in zip(g_arrays, w_arrays):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("grad_shape", [(6, 4), (24,)])
def test_update_many_rejects_a_gradient_of_another_shape(grad_shape, path):
    """Same length, other shape: an error, as with one update per parameter, never a flat update."""
    p = np.ones((4, 6), "float32")
    with pytest.raises(ValueError):
        NumpyBackend().sgd_update_many([p], [np.ones(grad_shape, "float32")], None, 0.5, 0.0, False)
    np.testing.assert_array_equal(p, 1.0)


def test_update_many_keeps_a_subclass_single_update():
    calls = []

    class Counting(NumpyBackend):
        def sgd_update(self, param, grad, velocity, lr, momentum, nesterov):
            calls.append(param.shape)
            super().sgd_update(param, grad, velocity, lr, momentum, nesterov)

    p = [np.ones(3, "float32"), np.ones((2, 2), "float32")]
    Counting().sgd_update_many(p, [np.ones(3, "float32"), np.ones((2, 2), "float32")], None, 0.5, 0.0, False)
    assert calls == [(3,), (2, 2)]
    assert all((x == 0.5).all() for x in p)


def test_non_contiguous_parameters_fall_back_to_the_base_code():
    be = NumpyBackend()
    p, g, v = (np.ones((8, 6), "float32").T for _ in range(3))
    be.sgd_update(p, g, v, 0.5, 0.9, True)
    np.testing.assert_allclose(p, 1.0 + 0.9 * (0.9 - 0.5) - 0.5, rtol=1e-6)


@pytest.mark.parametrize("rate, bits", [(0.5, 1), (0.25, 2), (0.75, 2), (0.375, 4), (3 / 256, 8),
                                        (7 / 2 ** 16, 16), (0.2, 32), (0.3, 32)])
def test_dropout_mask_reads_the_fewest_exact_bits(rate, bits):
    """Element i reads bits [s i, s i + s) of the draw's words, s the fewest bits that decide the
    rate exactly; computed here with shifts on the words, independently of the byte views."""
    from lamina.backends import philox
    assert philox.dropout_slot(rate)[0] == bits
    n = 100 * 1000
    mask = NumpyBackend().dropout_mask((100, 1000), rate, 3, 9, "float32").reshape(-1)
    words = philox.philox_words(3, 9, (n * bits + 63) // 64)
    first = np.arange(n, dtype=np.uint64) * np.uint64(bits)
    slots = (words[first // np.uint64(64)] >> (first % np.uint64(64))) & np.uint64((1 << bits) - 1)
    if bits == 32:
        keep = (slots >> np.uint64(8)) >= math.ceil(rate * 2 ** 24)
    else:
        keep = slots >= round(rate * 2 ** bits)
    np.testing.assert_array_equal(mask > 0, keep)
    assert mask.dtype == np.float32 and set(np.unique(mask)) == {0.0, np.float32(1 / (1 - rate))}
    # A dyadic rate is exact: the kept share of many draws is 1 - rate within sampling noise.
    frac = np.mean(mask > 0)
    assert abs(frac - (1 - rate)) <= 5 * math.sqrt(rate * (1 - rate) / n) + 1e-12


def test_weights_are_stored_in_c_order():
    """BLAS is several times slower on column-major operands, and updates keep the layout."""
    import lamina
    wide = lamina.initializers.Orthogonal(seed=1)((4, 16))
    assert wide.flags.c_contiguous
    np.testing.assert_allclose(wide @ wide.T, np.eye(4), atol=1e-5)
    layer = lamina.layers.LSTM(16)
    layer(np.zeros((2, 3, 4), "float32"))
    assert all(w.value.flags.c_contiguous for w in layer.weights)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, rate", [((200, 500), 0.5), ((7,), 0.3), ((33, 3), 0.999), ((0,), 0.5),
                                         ((1,), 0.0), ((5, 2), 1.0 - 2.0 ** -30), ((64,), 0.2),
                                         ((8 * 8 * 3 + 8 + 5,), 0.1), ((40, 9), 1.0 - 2.0 ** -30),
                                         ((129, 7), 0.0), ((256 * 3 + 100,), 0.5), ((256,), 0.5),
                                         ((128 * 2 + 77,), 0.25), ((64 * 5 + 3,), 0.625),
                                         ((32 * 4 + 31,), 201 / 256), ((16 * 7 + 9,), 1 - 2 ** -16),
                                         ((1, 15), 0.75)])
def test_dropout_mask_equals_base(shape, rate, dtype, path):
    # 32-bit slots: shapes cover whole 8-block vector tiles, leftover whole blocks and a ragged last
    # block; the rates a keep-all, a keep-nothing (threshold 2^32) and ordinary thresholds. Narrow
    # slots (dyadic rates, 1 to 16 bits): whole blocks of 256 / s elements and ragged ends.
    got = NumpyBackend().dropout_mask(shape, rate, 11, 4, dtype)
    want = PlainNumpy().dropout_mask(shape, rate, 11, 4, dtype)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert got.tobytes() == want.tobytes()  # bit for bit, +0.0 and -0.0 told apart


def test_float16_dropout_and_updates_use_the_numpy_code():
    be = NumpyBackend()
    np.testing.assert_array_equal(be.dropout_mask((9,), 0.5, 2, 3, "float16"),
                                  PlainNumpy().dropout_mask((9,), 0.5, 2, 3, "float16"))
    p, g = np.ones(4, np.float16), np.ones(4, np.float16)
    be.sgd_update(p, g, None, 0.5, 0.0, False)
    np.testing.assert_array_equal(p, np.full(4, 0.5, np.float16))


def test_bad_dropout_rate_keeps_the_base_error():
    with pytest.raises(ValueError, match="rate must be in"):
        NumpyBackend().dropout_mask((3,), 1.0, 0, 0, "float32")


def test_compiled_helper_is_built_where_a_compiler_is():
    """CI installs with a C++ compiler present, so a silently failed build would hide here."""
    cxx = sysconfig.get_config_var("CXX") or "c++"
    if shutil.which(cxx.split()[0]) is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler on this machine: the NumPy code serves")
    if os.environ.get("LAMINA_NUMPY_KERNELS", "1") == "0":
        pytest.skip("LAMINA_NUMPY_KERNELS=0 switches the helper off")
    assert lamina_numpy.compiled_kernels(), (
        "lamina_numpy._kernels was not built although a C++ compiler is installed; reinstall with "
        "pip install -e . and read the build log")


def test_environment_switch_turns_the_helper_off():
    code = "import lamina_numpy; print(lamina_numpy.compiled_kernels())"
    env = dict(os.environ, LAMINA_NUMPY_KERNELS="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(200, 500), (7,), (0, 3)])
def test_tanh_grad_equals_base(shape, dtype, path):
    rng = np.random.default_rng(5)
    y = np.tanh(rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    want = PlainNumpy().tanh_grad(y, g)
    got = NumpyBackend().tanh_grad(y, g)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    out = np.empty_like(g)
    assert NumpyBackend().tanh_grad(y, g, out=out) is out and out.tobytes() == want.tobytes()
    NumpyBackend().tanh_grad(y, g, out=g)  # in place into the incoming gradient
    assert g.tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(128, 24, 24, 64), (7,), (0, 3), (33, 65)])
def test_relu_grad_equals_base(shape, dtype, path):
    """Relu outputs with zeros of both signs, NaN and inf against gradients with NaN, inf and both
    signs: 0 * a negative gradient is -0 and inf * 0 is NaN, as in the base's multiply."""
    rng = np.random.default_rng(6)
    y = np.maximum(rng.standard_normal(shape), 0).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    flat_y, flat_g = y.reshape(-1), g.reshape(-1)
    for k, v in enumerate([-0.0, np.nan, np.inf, 1e-45]):
        flat_y[k::11] = v
    for k, v in enumerate([np.nan, np.inf, -np.inf, -0.0]):
        flat_g[k + 3::13] = v
    with np.errstate(invalid="ignore"):
        want = PlainNumpy().relu_grad(y, g)
        got = NumpyBackend().relu_grad(y, g)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
        out = np.empty_like(g)
        assert NumpyBackend().relu_grad(y, g, out=out) is out and out.tobytes() == want.tobytes()
        assert NumpyBackend().relu_grad(y.T, g.T).tobytes() == PlainNumpy().relu_grad(y.T, g.T).tobytes()  # strided
        NumpyBackend().relu_grad(y, g, out=g)  # in place into the incoming gradient
    assert g.tobytes() == want.tobytes()


@pytest.mark.parametrize("op", ["relu_grad", "tanh_grad"])
def test_activation_grads_with_odd_outputs_take_the_base_code(op):
    """An out that overlaps g or y at an offset (the one pass would read what it wrote), a read-only
    out, 0-d arrays and a signalling-NaN gradient: the base class's values, types and errors."""
    fast, base = NumpyBackend(), PlainNumpy()
    for make in (lambda buf: (np.ones(39, "float32"), buf[:-1], buf[1:]),  # out one element past g
                 lambda buf: (buf[1:], np.full(39, 2.0, "float32"), buf[:-1])):  # out one element before y
        got_buf, want_buf = np.arange(1, 41, dtype="float32") / 40, np.arange(1, 41, dtype="float32") / 40
        y, g, out = make(got_buf)
        getattr(fast, op)(y, g, out=out)
        y, g, out = make(want_buf)
        getattr(base, op)(y, g, out=out)
        assert got_buf.tobytes() == want_buf.tobytes()
    frozen = np.zeros(5, "float32")
    frozen.flags.writeable = False
    for be in (fast, base):
        with pytest.raises(ValueError):
            getattr(be, op)(np.ones(5, "float32"), np.ones(5, "float32"), out=frozen)
    y0, g0 = np.array(0.5, "float32"), np.array(-2.0, "float32")
    got, want = getattr(fast, op)(y0, g0), getattr(base, op)(y0, g0)
    assert type(got) is type(want) and got.tobytes() == want.tobytes()
    signalling = np.full(16, 0x7F800001, np.uint32).view(np.float32)  # quiet after a multiply
    with np.errstate(invalid="ignore"):
        got, want = getattr(fast, op)(np.full(16, 0.5, "float32"), signalling), getattr(base, op)(np.full(16, 0.5, "float32"), signalling)
    assert got.tobytes() == want.tobytes()


def test_relu_grad_of_a_python_number_keeps_the_gradients_type():
    g = np.arange(-2, 3, dtype="int32")
    for y in (2, 0, 1.5, -0.0):
        got, want = PlainNumpy().relu_grad(y, g), g * (y > 0)
        assert got.dtype == want.dtype and (got == want).all()
    assert PlainNumpy().relu_grad(2.0, np.float32(-3.0)).dtype == np.float32


def test_raw_dropout_kernel_drops_as_zero_times_scale_like_the_cuda_kernel():
    """With a keep-nothing threshold (past every slot value) every element is 0 * scale, as the CUDA
    kernel writes it (so -0.0 for a negative scale and NaN for an infinite one), on every path and
    for every slot width."""
    _need_helper()
    from lamina.backends import philox

    kernels = lamina_numpy._KERNELS
    args = philox.kernel_args(5, 2)
    try:
        for vector in (True, False):
            kernels.use_vector_paths(vector)
            for scale in (-2.0, float("inf")):
                for n, bits in itertools.product((3, 64, 77, 300), (1, 2, 4, 8, 16, 32)):
                    out = np.empty(n, np.float32)
                    kernels.dropout(out, *args, bits, 1 << bits, scale)
                    with np.errstate(invalid="ignore"):  # 0 * inf is NaN, on purpose
                        want = np.full(n, np.float32(0.0) * np.float32(scale))
                    assert out.tobytes() == want.tobytes()
    finally:
        kernels.use_vector_paths(True)


@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8", "int64"])
@pytest.mark.parametrize("shape", [(50, 784), (40, 28, 28, 1), (30, 3, 100), (9, 8)])
def test_batch_gather_equals_numpy_take(dtype, shape):
    """The helper's row gather (rows of >= 256 bytes) gives NumPy's take, negative indices included;
    small rows, other index dtypes and strided arrays go to NumPy itself."""
    rng = np.random.default_rng(7)
    x = (rng.random(shape) * 200).astype(dtype)
    be = NumpyBackend()
    for idx in (rng.permutation(shape[0]), np.array([0, -1, 3, -shape[0], 3], np.int64),
                np.array([], np.int64), rng.integers(0, shape[0], 7).astype(np.int32)):
        got = be.take(x, idx, 0)
        want = np.take(x, idx, axis=0)
        assert got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()
    strided = x[::2]
    np.testing.assert_array_equal(be.take(strided, np.array([1, 0]), 0), strided[[1, 0]])


def test_batch_gather_out_of_range_raises_numpys_error():
    be = NumpyBackend()
    x = np.zeros((10, 100), np.float32)
    for bad in (10, -11):
        with pytest.raises(IndexError, match="out of bounds"):
            be.take(x, np.array([0, bad, 1]), 0)


def test_raw_row_gather_rejects_sizes_that_disagree():
    _need_helper()
    kernels = lamina_numpy._KERNELS
    x = np.arange(40, dtype=np.float32).reshape(4, 10)
    out = np.empty((2, 10), np.float32)
    assert kernels.take_rows(x, 4, np.array([3, -4]), out) is True
    np.testing.assert_array_equal(out, x[[3, 0]])
    assert kernels.take_rows(x, 4, np.array([4, 0]), out) is False  # out of range: NumPy raises
    with pytest.raises(ValueError, match="do not agree"):
        kernels.take_rows(x, 3, np.array([0, 1]), out)  # 160 bytes are not 3 rows
    with pytest.raises(ValueError, match="do not agree"):
        kernels.take_rows(x, 4, np.array([0, 1, 2]), out)  # three rows into two


def test_batch_gather_of_python_objects_keeps_their_references():
    """Object arrays go to NumPy's take (which counts references); the helper refuses them."""
    be = NumpyBackend()
    x = np.empty((4, 40), dtype=object)
    for i in range(4):
        x[i] = [{"row": i} for _ in range(40)]
    out = be.take(x, np.array([1, 1, 2], np.int64), 0)
    del out
    assert x[1, 0] == {"row": 1} and x[2, 39] == {"row": 2}
    if lamina_numpy.compiled_kernels():
        with pytest.raises(TypeError, match="Python objects"):
            lamina_numpy._KERNELS.take_rows(x, 4, np.array([0], np.int64), np.empty((1, 40), dtype=object))


def test_sigmoid_of_unsigned_integers_does_not_wrap():
    values = np.array([0, 1, 2, 100, 200], np.uint32)
    want = (1 / (1 + np.exp(-values.astype(np.float64)))).astype(np.uint32)
    np.testing.assert_array_equal(NumpyBackend().sigmoid(values), want)


# --- small ops called without NumPy's wrappers: the base class's results, dtype and type included --

_WRAPPER_INPUTS = [
    np.array(2.5, "float32"),
    np.float64(-1.5),
    np.array([True, False, True]),
    np.arange(12, dtype=np.int8).reshape(3, 4),
    np.array([[1.0, np.nan, -0.0], [3.0, -2.0, 0.0]], "float32"),
    np.random.default_rng(3).standard_normal((6, 5, 4)).astype("float64")[:, ::2].transpose(2, 0, 1),
]


def _same(got, want):
    assert type(got) is type(want)
    assert np.asarray(got).dtype == np.asarray(want).dtype and np.shape(got) == np.shape(want)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("x", _WRAPPER_INPUTS, ids=lambda x: f"{np.asarray(x).dtype}{np.shape(x)}")
def test_unwrapped_small_ops_equal_the_base_class(x):
    fast, base = NumpyBackend(), PlainNumpy()
    ndim = np.ndim(x)
    axes = [None, ()] + ([0, -1, (0,), list(range(ndim))] if ndim else [])
    for axis in axes:
        for keepdims in (False, True):
            for op in ("sum", "max", "min"):
                _same(getattr(fast, op)(x, axis=axis, keepdims=keepdims), getattr(base, op)(x, axis=axis, keepdims=keepdims))
    _same(fast.clip(x, -1, 2), base.clip(x, -1, 2))
    _same(fast.clip(x, None, 0), base.clip(x, None, 0))
    _same(fast.transpose(x), base.transpose(x))
    _same(fast.reshape(x, (-1,)), base.reshape(x, (-1,)))
    if ndim:
        _same(fast.transpose(x, tuple(reversed(range(ndim)))), base.transpose(x, tuple(reversed(range(ndim)))))
        _same(fast.argmax(x, axis=0), base.argmax(x, axis=0))
        _same(fast.argmax(x, axis=-1), base.argmax(x, axis=-1))
        _same(fast.argmax(x, axis=-1), np.asarray(np.argmax(x, axis=-1)).astype("int64"))  # NumPy's own answer


def test_unwrapped_reductions_keep_the_errors():
    fast = NumpyBackend()
    with pytest.raises(ValueError, match="empty axis"):
        fast.max(np.zeros((0, 3), "float32"), axis=0)
    with pytest.raises(ValueError, match="empty axis"):
        fast.argmax(np.zeros((2, 0), "float32"), axis=-1)
    np.testing.assert_array_equal(fast.sum(np.zeros((0, 3), "float32"), axis=0), np.zeros(3, "float32"))
    assert fast.sum(np.ones(4, "float16")).dtype == np.float16  # float16 keeps its float32 accumulation


def test_unwrapped_clip_keeps_numpys_integer_bounds():
    """np.clip accepts a Python-int bound outside an integer dtype's range (it drops it); the
    backend must too."""
    fast, base = NumpyBackend(), PlainNumpy()
    for x, lo, hi in [(np.array([0, 100, 250], "uint8"), 0, 300), (np.array([1, 2], "int32"), 0, 2 ** 40),
                      (np.array(5, "int8"), -1000, 3)]:
        _same(fast.clip(x, lo, hi), base.clip(x, lo, hi))


# --- sigmoid around NumPy's exp, and the LSTM step's backward pass in one loop ---------------------

def _sigmoid_inputs(dtype):
    """Random values over the whole useful range plus the awkward ones: signed zeros, infinities,
    subnormals, the overflow edge of exp, and NaNs with distinct payloads (quiet and signalling,
    both signs), whose bits must come through as the base code's."""
    rng = np.random.default_rng(11)
    values = rng.standard_normal(1000) * 30
    info = np.finfo(dtype)
    special = [0.0, -0.0, np.inf, -np.inf, info.tiny, -info.tiny, info.tiny / 8, -info.tiny / 8, 88.7, -88.7,
               103.9, -103.9, 709.0, -709.0, 750.0, -750.0, info.max, -info.max, 1e-30, -1e-30]
    x = np.concatenate([values, special]).astype(dtype)
    words = ([0x7FC00001, 0xFFC12345, 0x7F800001, 0xFF812345] if dtype == "float32" else
             [0x7FF8000000000001, 0xFFF8000000012345, 0x7FF0000000000001, 0xFFF0000000012345])
    nans = np.array(words, np.uint32 if dtype == "float32" else np.uint64).view(dtype)
    return np.concatenate([x, nans])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["vector", "matrix", "gate-block", "transposed", "3-d", "3-d-strided", "0-d",
                                    "empty", "empty-block"])
def test_sigmoid_equals_base(layout, dtype, path):
    flat = _sigmoid_inputs(dtype)
    x = {
        "vector": flat,
        "matrix": flat[:1020].reshape(60, 17),
        "gate-block": flat[:1020].reshape(15, 68)[:, 17:34],  # an LSTM gate block: rows 68 apart
        "transposed": flat[:1020].reshape(60, 17).T,
        "3-d": flat[:1020].reshape(5, 12, 17),
        "3-d-strided": flat[:1020].reshape(5, 12, 17)[:, ::2],
        "0-d": flat[1013].reshape(()),
        "empty": flat[:0],
        "empty-block": flat[:0].reshape(0, 8)[:, 2:4],
    }[layout]
    with np.errstate(all="ignore"):
        want = PlainNumpy().sigmoid(x)
        got = NumpyBackend().sigmoid(x)
    assert type(got) is type(want) and got.dtype == want.dtype and got.shape == want.shape
    assert np.asarray(got).tobytes() == np.asarray(want).tobytes()


def _lstm_step_arrays(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    gates = [rng.uniform(0, 1, shape) for _ in range(3)]  # i, f, o: sigmoid outputs
    g, tc = np.tanh(rng.standard_normal(shape) * 2), np.tanh(rng.standard_normal(shape) * 2)
    c, gh, gc = (rng.standard_normal(shape) for _ in range(3))
    i, f, o = gates
    return [a.astype(dtype) for a in (i, f, g, o, tc, c, gh, gc)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(128, 128), (5, 3), (3, 37), (0, 4), (2, 0)])
@pytest.mark.parametrize("grads", ["h-and-c", "h-only", "c-only"])
def test_lstm_cell_grad_equals_base(grads, shape, dtype, path):
    i, f, g, o, tc, c, gh, gc = _lstm_step_arrays(shape, dtype, 7)
    gh = None if grads == "c-only" else gh
    gc = None if grads == "h-only" else gc
    dz_shape = (shape[0], 4 * shape[1])
    want_dz, got_dz = np.full(dz_shape, np.nan, dtype), np.full(dz_shape, np.nan, dtype)
    want = PlainNumpy().lstm_cell_grad(i, f, g, o, tc, c, gh, gc, want_dz, axis=-1)
    got = NumpyBackend().lstm_cell_grad(i, f, g, o, tc, c, gh, gc, got_dz, axis=1)
    assert got.dtype == want.dtype and got.shape == want.shape == shape
    assert got.tobytes() == want.tobytes() and got_dz.tobytes() == want_dz.tobytes()


@pytest.mark.parametrize("odd", ["strided-gradient", "broadcast-gradient", "float16", "3-d", "dz-strided"])
def test_lstm_cell_grad_odd_arrays_take_the_base_code(odd):
    i, f, g, o, tc, c, gh, gc = _lstm_step_arrays((6, 5), "float32", 8)
    dz = np.empty((6, 20), np.float32)
    if odd == "strided-gradient":
        gh = np.asfortranarray(gh)
    elif odd == "broadcast-gradient":
        gc = np.broadcast_to(gc[:1], gc.shape)
    elif odd == "float16":
        i, f, g, o, tc, c, gh, gc = (a.astype(np.float16) for a in (i, f, g, o, tc, c, gh, gc))
        dz = dz.astype(np.float16)
    elif odd == "3-d":
        i, f, g, o, tc, c, gh, gc = (a.reshape(6, 5, 1) for a in (i, f, g, o, tc, c, gh, gc))
        dz = dz.reshape(6, 20, 1)
    else:
        dz = np.empty((6, 40), np.float32)[:, ::2]
    want_dz, got_dz = dz.copy(), dz
    want = PlainNumpy().lstm_cell_grad(i, f, g, o, tc, c, gh, gc, want_dz, axis=1)
    got = NumpyBackend().lstm_cell_grad(i, f, g, o, tc, c, gh, gc, got_dz, axis=1)
    assert got.tobytes() == want.tobytes() and np.array_equal(got_dz, want_dz)


def test_raw_lstm_cell_grad_rejects_inconsistent_arrays():
    _need_helper()
    i, f, g, o, tc, c, gh, gc = _lstm_step_arrays((4, 3), "float32", 9)
    k = lamina_numpy._KERNELS
    with pytest.raises(ValueError, match="both be None"):
        k.lstm_cell_grad(i, f, g, o, tc, c, None, None, np.empty((4, 12), np.float32), np.empty((4, 3), np.float32))
    with pytest.raises(ValueError, match="dz must be"):
        k.lstm_cell_grad(i, f, g, o, tc, c, gh, gc, np.empty((4, 11), np.float32), np.empty((4, 3), np.float32))
    with pytest.raises(ValueError, match="must match"):
        k.lstm_cell_grad(i, f, g, o, tc, c[:2], gh, gc, np.empty((4, 12), np.float32), np.empty((4, 3), np.float32))
    with pytest.raises(TypeError, match="sigmoid|2-D|contiguous"):
        k.sigmoid_prepare(np.ones((4, 6), np.float32).T, np.empty(24, np.float32))


def _pre_activations(shape, blocks, dtype, seed, layout):
    """A step's (batch, blocks * units) pre-activations, laid out as ``layout`` says, with NaN, the
    infinities and values past exp's overflow among them; and the generator for the other inputs."""
    batch, units = shape
    rng = np.random.default_rng(seed)
    wide = (rng.standard_normal((batch, (blocks + 2) * units)) * 4).astype(dtype)
    wide.reshape(-1)[:5] = [np.nan, np.inf, -np.inf, 90.0, -90.0][:wide.size]
    if layout == "rows-of-a-wider-array":
        return wide[:, units:(blocks + 1) * units], rng
    a = np.ascontiguousarray(wide[:, :blocks * units])
    return (np.ascontiguousarray(a.T).T if layout == "transposed" else a), rng


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(128, 128), (5, 3), (1, 7), (0, 4), (2, 0)])
@pytest.mark.parametrize("layout", ["contiguous", "rows-of-a-wider-array", "into-h_out", "transposed"])
def test_lstm_cell_forward_equals_base(layout, shape, dtype, path):
    z, rng = _pre_activations(shape, 4, dtype, 12, layout)
    c = rng.standard_normal(shape).astype(dtype)
    outs = [np.full((3,) + shape, 7, dtype) if layout == "into-h_out" else None for _ in range(2)]
    with np.errstate(all="ignore"):
        want = PlainNumpy().lstm_cell_forward(z, c, axis=-1, h_out=None if outs[0] is None else outs[0][1])
        got = NumpyBackend().lstm_cell_forward(z, c, axis=1, h_out=None if outs[1] is None else outs[1][1])
    for name, w, g in zip(("i", "f", "g", "o", "c_new", "tc", "h"), want, got):
        assert g.shape == w.shape == shape and g.dtype == w.dtype, name
        assert g.tobytes() == w.tobytes(), name
    if layout == "into-h_out":
        assert got[6].base is outs[1] or got[6] is outs[1][1]
        assert outs[0].tobytes() == outs[1].tobytes()


def _gru_step_arrays(shape, dtype, seed, inner_layout="block"):
    rng = np.random.default_rng(seed)
    batch, units = shape
    z, r = rng.uniform(0, 1, shape), rng.uniform(0, 1, shape)
    hh = np.tanh(rng.standard_normal(shape) * 2)
    inner = rng.standard_normal((batch, 3 * units))
    inner_h = inner[:, 2 * units:] if inner_layout == "block" else np.ascontiguousarray(inner[:, 2 * units:])
    h_prev, dh = rng.standard_normal(shape), rng.standard_normal(shape)
    return [a.astype(dtype) for a in (z, r, hh, inner_h, h_prev, dh)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(128, 128), (5, 3), (1, 7), (0, 4), (2, 0)])
@pytest.mark.parametrize("inner_layout", ["block", "contiguous"])
def test_gru_cell_grad_equals_base(inner_layout, shape, dtype, path):
    arrays = _gru_step_arrays(shape, dtype, 13, inner_layout)
    wide = (shape[0], 3 * shape[1])
    want_dx, want_du = np.full(wide, np.nan, dtype), np.full(wide, np.nan, dtype)
    got_dx, got_du = np.full(wide, np.nan, dtype), np.full(wide, np.nan, dtype)
    want = PlainNumpy().gru_cell_grad(*arrays, want_dx, want_du)
    got = NumpyBackend().gru_cell_grad(*arrays, got_dx, got_du)
    assert got.shape == want.shape == shape and got.dtype == want.dtype
    assert got.tobytes() == want.tobytes()
    assert got_dx.tobytes() == want_dx.tobytes() and got_du.tobytes() == want_du.tobytes()


@pytest.mark.parametrize("odd", ["strided-dh", "float16", "transposed-inner", "dx-strided"])
def test_gru_cell_grad_odd_arrays_take_the_base_code(odd):
    z, r, hh, inner_h, h_prev, dh = _gru_step_arrays((6, 5), "float32", 14)
    dx, du = np.empty((6, 15), np.float32), np.empty((6, 15), np.float32)
    if odd == "strided-dh":
        dh = np.asfortranarray(dh)
    elif odd == "float16":
        z, r, hh, inner_h, h_prev, dh = (a.astype(np.float16) for a in (z, r, hh, inner_h, h_prev, dh))
        dx, du = dx.astype(np.float16), du.astype(np.float16)
    elif odd == "transposed-inner":
        inner_h = np.ascontiguousarray(inner_h.T).T
    else:
        dx = np.empty((6, 30), np.float32)[:, ::2]
    want_dx, want_du = dx.copy(), du.copy()
    want = PlainNumpy().gru_cell_grad(z, r, hh, inner_h, h_prev, dh, want_dx, want_du)
    got = NumpyBackend().gru_cell_grad(z, r, hh, inner_h, h_prev, dh, dx, du)
    assert got.tobytes() == want.tobytes() and np.array_equal(dx, want_dx) and np.array_equal(du, want_du)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(128, 128), (5, 3), (1, 7), (0, 4), (2, 0)])
@pytest.mark.parametrize("layout", ["contiguous", "rows-of-a-wider-array", "into-h_out", "transposed"])
def test_gru_cell_forward_equals_base(layout, shape, dtype, path):
    x, rng = _pre_activations(shape, 3, dtype, 15, layout)
    inner = (rng.standard_normal((shape[0], 3 * shape[1])) * 3).astype(dtype)
    if layout == "rows-of-a-wider-array":  # the recurrent product as a block too
        inner = np.concatenate([inner, inner[:, :1]], axis=1)[:, :3 * shape[1]]
    h = np.tanh(rng.standard_normal(shape)).astype(dtype)
    outs = [np.full((3,) + shape, 7, dtype) if layout == "into-h_out" else None for _ in range(2)]
    with np.errstate(all="ignore"):
        want = PlainNumpy().gru_cell_forward(x, inner, h, h_out=None if outs[0] is None else outs[0][1])
        got = NumpyBackend().gru_cell_forward(x, inner, h, h_out=None if outs[1] is None else outs[1][1])
    for name, w, g in zip(("z", "r", "hh", "inner_h", "h_new"), want, got):
        assert g.shape == w.shape == shape and g.dtype == w.dtype, name
        assert g.tobytes() == w.tobytes(), name
    assert np.shares_memory(got[3], inner) or got[3].size == 0
    if layout == "into-h_out":
        assert got[4].base is outs[1] and outs[0].tobytes() == outs[1].tobytes()


def test_raw_gru_passes_reject_inconsistent_arrays():
    _need_helper()
    k = lamina_numpy._KERNELS
    x, inner = np.ones((4, 9), np.float32), np.ones((4, 9), np.float32)
    with pytest.raises(ValueError, match="3 \\* units"):
        k.gru_gates(x, inner[:, :6], np.empty((2, 4, 3), np.float32), np.empty((2, 4, 3), np.float32))
    with pytest.raises(ValueError, match="3 \\* units"):
        k.gru_candidate(x, inner, np.ones((4, 2), np.float32), np.empty((4, 2), np.float32))
    with pytest.raises(ValueError, match="must match"):
        k.gru_mix(np.ones((4, 3), np.float32), np.ones((4, 3), np.float32), np.ones((4, 2), np.float32),
                  np.empty((4, 3), np.float32))


def test_recurrent_steps_with_overlapping_or_read_only_outputs_take_the_base_code():
    """The one-pass loops read and write element by element, so an output that overlaps an input
    (other than being that input exactly), or that cannot be written, goes to the base class, which
    reads every input whole first; the results (and errors) are then the base class's."""
    rng = np.random.default_rng(16)
    x, inner = rng.standard_normal((2, 9)).astype("f4"), rng.standard_normal((2, 9)).astype("f4")
    results = []
    for backend in (NumpyBackend(), PlainNumpy()):
        flat = np.arange(8, dtype="f4") / 8  # h_out one element past h: a partial overlap
        backend.gru_cell_forward(x, inner, flat[:6].reshape(2, 3), h_out=flat[1:7].reshape(2, 3))
        dz = np.linspace(-1, 1, 12, dtype="f4").reshape(1, 12)  # gh is a block of dz
        gates = [np.full((1, 3), 0.5, "f4")] * 6
        prev = backend.lstm_cell_grad(*gates, dz[:, 1:4], None, dz)
        du = np.linspace(-1, 1, 9, dtype="f4").reshape(1, 9)  # dh is a block of du
        small = [np.full((1, 3), 0.25, "f4")] * 3
        direct = backend.gru_cell_grad(*small, du[:, 6:], small[0], du[:, :3], np.empty((1, 9), "f4"), du)
        results.append([flat, prev, dz, direct, du])
    for got, want in zip(*results):
        assert got.tobytes() == want.tobytes()
    h = np.full((2, 3), 0.5, "f4")  # h_out that is h itself, element for element: the helper's pass is fine
    want = PlainNumpy().gru_cell_forward(x, inner, h.copy())[4]
    got = NumpyBackend().gru_cell_forward(x, inner, h, h_out=h)[4]
    assert got is h and got.tobytes() == want.tobytes()
    read_only = np.zeros((2, 12), "f4")
    read_only.flags.writeable = False
    for backend in (NumpyBackend(), PlainNumpy()):
        with pytest.raises(ValueError, match="read-only"):
            backend.lstm_cell_grad(*[np.full((2, 3), 0.5, "f4")] * 8, read_only)


class _Tagged(np.ndarray):
    """An ndarray subclass, as a user's array type might be."""


def test_sigmoid_of_an_ndarray_subclass_keeps_its_type():
    m = np.linspace(-3, 3, 6, dtype="f4").reshape(2, 3).view(_Tagged)
    got, want = NumpyBackend().sigmoid(m), PlainNumpy().sigmoid(m)
    assert type(got) is type(want) is _Tagged and got.tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, pool, strides, padding", [
    ((16, 24, 24, 8), 2, None, "valid"), ((3, 7, 9, 5), 2, None, "valid"), ((3, 7, 9, 5), 2, None, "same"),
    ((2, 8, 8, 3), (3, 2), (3, 2), "valid"), ((2, 9, 4), 3, None, "valid"), ((2, 9, 4), 2, 3, "same"),
    ((2, 5, 5, 2), 2, 1, "valid"), ((0, 4, 4, 2), 2, None, "valid"), ((2, 1, 1, 3), 2, None, "same")])
def test_max_pool_grad_equals_base(shape, pool, strides, padding, dtype, path):
    """Ties (small integers) go to the first maximum in row-major window order, NaN windows and the
    signs of zero (0 * a negative gradient) come out as the base class's; overlapping windows
    (strides 1) and 1-D pools included."""
    rng = np.random.default_rng(17)
    x = rng.integers(-3, 3, shape).astype(dtype)
    x.reshape(-1)[::7] = np.nan
    pooled = PlainNumpy().max_pool(x, pool, strides, padding)
    grad = rng.standard_normal(pooled.shape).astype(dtype)
    with np.errstate(invalid="ignore"):
        want = PlainNumpy().max_pool_grad(x, pooled, grad, pool, strides, padding)
        got = NumpyBackend().max_pool_grad(x, pooled, grad, pool, strides, padding)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("epsilon", [1e-7, 0.1])
def test_adadelta_update_equals_base(shape, dtype, epsilon, path):
    """Three steps of the helper's one-pass Adadelta against the base class's composition (which the
    optimizer ran before), bit for bit, the Python scalars rounded to the dtype as NumPy rounds them;
    a transposed gradient goes to the base code."""
    p, g, a, d, _ = state(shape, dtype, 6)
    a, d = np.abs(a), np.abs(d)
    got, want = [x.copy() for x in (p, a, d)], [x.copy() for x in (p, a, d)]
    for step in range(3):
        grad = g * dtype_scale(step, dtype)
        NumpyBackend().adadelta_update(got[0], grad, got[1], got[2], 1.0, 0.95, epsilon)
        PlainNumpy().adadelta_update(want[0], grad, want[1], want[2], 1.0, 0.95, epsilon)
    for x, y in zip(got, want):
        assert x.tobytes() == y.tobytes()
    if len(shape) == 2:
        q, r = p.copy(), p.copy()
        NumpyBackend().adadelta_update(q, np.ascontiguousarray(g.T).T, a.copy(), d.copy(), 0.5, 0.9, epsilon)
        PlainNumpy().adadelta_update(r, np.ascontiguousarray(g.T).T, a.copy(), d.copy(), 0.5, 0.9, epsilon)
        assert q.tobytes() == r.tobytes()


def dtype_scale(step, dtype):
    return np.asarray(1.0 + 0.5 * step, dtype=dtype)


# --- reductions over a short last axis (softmax's, the cross-entropy's) -----------------------------

def _short_row_inputs(dtype):
    """Layouts the helper takes and ones it leaves to NumPy, with rows NumPy's order would decide:
    a zero maximum met as 0.0 then -0.0 (NumPy keeps the later one here), a NaN, signed zeros."""
    rng = np.random.default_rng(23)
    x = (rng.standard_normal((40, 10)) * rng.uniform(1e-3, 1e5, (40, 1))).astype(dtype)
    x[0] = -0.0
    x[1] = [-5.0, 0.0, -0.0, -1.0, -2.0, -3.0, -4.0, -6.0, -7.0, -8.0]
    x[2, 3] = np.inf
    wide = rng.standard_normal((6, 300)).astype(dtype)
    return {
        "classes": x, "one-column": x[:, :1].copy(), "rows-of-a-wider-array": wide[:, 40:50],
        "128": wide[:, :128].copy(), "129": wide[:, :129].copy(), "3-d": wide[:, :240].reshape(6, 4, 60),
        "transposed": wide[:, :10].T, "no-rows": np.zeros((0, 7), dtype), "vector": wide[0, :33].copy(),
        "with-nan": np.where(x == x[5, 4], np.nan, x)[3:],  # no zero maximum here: the NaN alone decides
        "two-nans": _two_nans(x[3:]),
    }


def _two_nans(x):
    """Rows holding a NaN and a NaN of the other sign at a few places: which one a sum keeps depends
    on the order of its operands."""
    x = x.copy()
    for row, (a, b) in enumerate([(0, 1), (2, 3), (4, 6), (1, 0), (8, 9)]):
        x[row, a], x[row, b] = np.nan, -np.nan
    return x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["classes", "one-column", "rows-of-a-wider-array", "128", "129", "3-d",
                                    "transposed", "no-rows", "vector", "with-nan", "two-nans"])
def test_short_row_reductions_equal_base(layout, dtype, path):
    x = _short_row_inputs(dtype)[layout]
    fast, base = NumpyBackend(), PlainNumpy()
    for axis in (-1, x.ndim - 1, (x.ndim - 1,), [-1]):
        for keepdims in (False, True):
            for op in ("sum", "max"):
                with np.errstate(invalid="ignore"):
                    got, want = getattr(fast, op)(x, axis=axis, keepdims=keepdims), getattr(base, op)(x, axis=axis, keepdims=keepdims)
                _same(got, want)
                assert got.tobytes() == want.tobytes()  # signed zeros and NaN payloads too
    if x.shape[-1]:
        with np.errstate(invalid="ignore", over="ignore"):
            for op in ("softmax", "log_softmax"):
                got, want = getattr(fast, op)(x, axis=-1), getattr(base, op)(x, axis=-1)
                assert got.dtype == want.dtype and got.shape == want.shape
                assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes()


def test_short_row_reductions_keep_numpys_warnings_and_argument_errors():
    """A sum that overflows or meets inf - inf is NumPy's to form (and to warn about); a keepdims that
    is not a bool and a list axis for softmax get the base class's answer or error."""
    fast, base = NumpyBackend(), PlainNumpy()
    big = np.full((3, 10), 3e38, "float32")
    for be in (fast, base):
        with np.errstate(over="raise"), pytest.raises(FloatingPointError):
            be.sum(big, axis=-1)
        with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
            be.sum(np.array([[np.inf, -np.inf, 1.0]]), axis=-1)
    x = np.random.default_rng(2).standard_normal((4, 10)).astype("float32")

    def outcome(fn):
        try:
            return fn().tobytes()
        except Exception as exc:  # the kind of error must be the same
            return type(exc)
    for keepdims in (np.True_, None, 1):
        for op in ("sum", "max"):
            assert outcome(lambda: getattr(fast, op)(x, axis=-1, keepdims=keepdims)) == \
                outcome(lambda: getattr(base, op)(x, axis=-1, keepdims=keepdims))
    for op in ("softmax", "log_softmax"):
        for axis in ([-1], (1,), np.int64(-1)):
            assert outcome(lambda: getattr(fast, op)(x, axis=axis)) == outcome(lambda: getattr(base, op)(x, axis=axis))


def _count_helper_calls(monkeypatch) -> list:
    """The names of the helper's functions called from now on (the test is skipped without a helper)."""
    real, calls = _need_helper(), []

    class Counting:
        def __getattr__(self, name):
            fn = getattr(real, name)
            return lambda *args: calls.append(name) or fn(*args)

    monkeypatch.setattr(lamina_numpy, "_KERNELS", Counting())
    return calls


def test_softmax_and_cross_entropy_reductions_run_in_the_helper(monkeypatch):
    """The fast path is really taken for a classifier's (batch, classes) block: softmax and
    log_softmax make one helper maximum and one helper sum each."""
    calls = _count_helper_calls(monkeypatch)
    x = np.random.default_rng(3).standard_normal((200, 10)).astype("float32")
    NumpyBackend().sum(x, axis=-1)  # the one-time order check runs here, if it has not yet
    calls.clear()
    NumpyBackend().softmax(x)
    NumpyBackend().log_softmax(x, axis=1)
    assert calls == ["row_max", "row_sum", "row_max", "row_sum"]


def _flip_last_bit(a):
    """Change every float of ``a`` in place by one unit in its last place (a helper's wrong sums)."""
    a.view(np.uint32 if a.dtype == np.float32 else np.uint64)[:] ^= 1


def test_helper_row_sum_is_dropped_where_numpy_sums_in_another_order(monkeypatch):
    """The once-per-process check: a helper whose row sum differs from np.add.reduce in one bit is
    never used for sums (NumPy's reduction gives the answer), while one that agrees is."""
    real = _need_helper()

    def row_sum_off_by_one_bit(x, out):
        real.row_sum(x, out)
        _flip_last_bit(out)
        return True

    x = np.random.default_rng(5).standard_normal((200, 10)).astype("float32")
    want = np.add.reduce(x, axis=-1)
    monkeypatch.setattr(lamina_numpy, "_KERNELS", _HelperWith(row_sum=row_sum_off_by_one_bit))
    monkeypatch.setattr(lamina_numpy, "_ROW_SUM_EXACT", None)
    assert NumpyBackend().sum(x, axis=-1).tobytes() == want.tobytes()
    assert lamina_numpy._ROW_SUM_EXACT is False
    monkeypatch.setattr(lamina_numpy, "_KERNELS", real)
    monkeypatch.setattr(lamina_numpy, "_ROW_SUM_EXACT", None)
    assert NumpyBackend().sum(x, axis=-1).tobytes() == want.tobytes()
    assert lamina_numpy._ROW_SUM_EXACT is True


def test_raw_row_reductions_reject_what_they_do_not_take():
    k = _need_helper()
    x = np.ones((4, 10), "float32")
    for bad_x, bad_out in [(np.ones((4, 129), "float32"), np.empty(4, "float32")), (x, np.empty(5, "float32")),
                           (x, np.empty(4, "float64")), (np.ones((4, 0), "float32"), np.empty(4, "float32")),
                           (np.ones((2, 2, 10), "float32"), np.empty(4, "float32"))]:
        for fn in (k.row_sum, k.row_max):
            with pytest.raises(ValueError, match="row_sum/row_max"):
                fn(bad_x, bad_out)
    out = np.empty(4, "float32")
    assert k.row_max(x * 2, out) is True and (out == 2).all()
    assert k.row_max(x * 0, out) is False  # a zero maximum: the sign NumPy keeps depends on its order


# --- the classifier's output layer: softmax_grad and the cross-entropy of probabilities ----------
def _classifier_inputs(dtype):
    """(y, target) pairs: softmax outputs the helper takes, and layouts and values it leaves to the
    base class (long rows, strided, a NaN, a row of zeros, overflowing products)."""
    rng = np.random.default_rng(41)

    def probs(shape, spread=3.0):
        z = rng.standard_normal(shape) * spread
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(dtype)

    def onehot(shape):
        return np.eye(shape[-1], dtype=dtype)[rng.integers(0, shape[-1], shape[:-1])]

    y = probs((200, 10), spread=12.0)  # confident rows: entries below eps and above 1 - eps
    y[0, :3] = [1e-7, np.nextafter(np.asarray(1e-7, dtype), 0), np.nextafter(np.asarray(1e-7, dtype), 1)]
    y[1, :2] = [1 - 1e-7, np.nextafter(np.asarray(1 - 1e-7, dtype), 2)]
    soft = rng.dirichlet(np.ones(10), 200).astype(dtype)
    wide = probs((6, 300))
    zero_row = probs((4, 10))
    zero_row[2] = 0.0
    nan = probs((4, 10))
    nan[1, 3] = np.nan
    return {
        "classes": (y, onehot(y.shape)),
        "soft-targets-unnormalised": ((y * rng.uniform(0.5, 2.0, (200, 1))).astype(dtype), soft),
        "one-column": (probs((7, 1)), onehot((7, 1))),
        "128": (probs((5, 128)), onehot((5, 128))),
        "129": (probs((5, 129)), onehot((5, 129))),
        "3-d": (probs((3, 4, 10)), onehot((3, 4, 10))),
        "transposed": (probs((10, 6)).T, onehot((6, 10))),
        "no-rows": (np.zeros((0, 10), dtype), np.zeros((0, 10), dtype)),
        "zero-row": (zero_row, onehot((4, 10))),
        "with-nan": (nan, onehot((4, 10))),
        "huge-target": (probs((4, 10)), np.full((4, 10), np.finfo(dtype).max / 4, dtype)),
        "wide-rows": (wide, onehot(wide.shape)),
    }


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["classes", "soft-targets-unnormalised", "one-column", "128", "129", "3-d",
                                    "transposed", "no-rows", "zero-row", "with-nan", "huge-target", "wide-rows"])
def test_classifier_output_ops_equal_base(layout, dtype):
    """Every result and saved array of the helper's loops has the base class's bits, NaN and
    clipped entries included; what the loops do not take reaches the base class's composition.
    (The loops have no vector variants, so the helper's one path is compared with the base.)"""
    _need_helper()
    y, t = _classifier_inputs(dtype)[layout]
    fast, base = NumpyBackend(), PlainNumpy()
    rng = np.random.default_rng(7)
    with np.errstate(all="ignore"):
        got, want = fast.categorical_crossentropy(t, y, 1e-7), base.categorical_crossentropy(t, y, 1e-7)
        for a, b in zip((got[0],) + got[1], (want[0],) + want[1]):
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        per_shape = y.shape[:-1]
        for g in ((rng.standard_normal(per_shape) * 0.1).astype(dtype),
                  np.broadcast_to(np.asarray(1.0 / max(y.size, 1), dtype), per_shape)):  # a mean's gradient
            a, b = fast.categorical_crossentropy_grad(g, t, got[1], 1e-7), base.categorical_crossentropy_grad(g, t, want[1], 1e-7)
            assert a.dtype == b.dtype and a.shape == b.shape and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
        if layout == "classes":  # probabilities exactly at the clip's bounds and one ulp either side
            lo, hi = np.asarray(1e-7, dtype), np.asarray(1 - 1e-7, dtype)
            p = np.tile(np.array([np.nextafter(lo, 0), lo, np.nextafter(lo, 1), np.nextafter(hi, 0), hi,
                                  np.nextafter(hi, 2)], dtype), (3, 1))
            saved = (np.ones((3, 1), dtype), p, np.clip(p, lo, hi), np.log(np.clip(p, lo, hi)))
            g, tt = np.ones(3, dtype), np.full(p.shape, 0.5, dtype)
            a, b = fast.categorical_crossentropy_grad(g, tt, saved, 1e-7), base.categorical_crossentropy_grad(g, tt, saved, 1e-7)
            assert a.tobytes() == b.tobytes()
            # the clipped ends keep only the renormalisation's term; the four inside also their own
            assert (a[:, 0] == a[:, 5]).all() and (a[:, 1:5] != a[:, :1]).all()
        g = rng.standard_normal(y.shape).astype(dtype)
        a, b = fast.softmax_grad(y, g), base.softmax_grad(y, g)
        assert a.dtype == b.dtype and a.shape == b.shape and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
        a, b = fast.softmax_grad(y, g, axis=0), base.softmax_grad(y, g, axis=0)  # another axis: the base code
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


@pytest.mark.parametrize("epsilon", [1e-3, np.float64(1e-3), np.float32(1e-3), float("nan"), 0.0, -1e-7, 1.0, 2.0,
                                     float("inf"), 1e-300, 0.7])
def test_classifier_loss_with_any_epsilon_equals_base(epsilon):
    """Epsilons that are not Keras' usual Python float: a NumPy float64 scalar widens the base's
    clip, NaN makes every clipped value NaN, and bounds that are not both positive make the log
    warn. The same values, dtypes and number of warnings as the base class."""
    import warnings

    y, t = _classifier_inputs("float32")["classes"]
    y = y[:6].copy()
    y[0, :2] = [0.0, 1.0]
    y[1, :2] = [np.float32(1 - 1e-3), np.float32(1e-3)]
    t = t[:6].copy()
    g = np.full(6, 0.25, "float32")
    outcomes = []
    for be in (NumpyBackend(), PlainNumpy()):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            per, saved = be.categorical_crossentropy(t, y, epsilon)
            grad = be.categorical_crossentropy_grad(g, t, saved, epsilon)
        outcomes.append(([(a.dtype, np.asarray(a).tobytes()) for a in (per, *saved, grad)], len(caught)))
    assert outcomes[0] == outcomes[1]


def test_classifier_output_ops_keep_the_base_types():
    """A 1-D probability vector and an ndarray subclass get what the base class returns."""
    fast, base = NumpyBackend(), PlainNumpy()
    y, t = _classifier_inputs("float32")["classes"]
    for a, b in [(fast.categorical_crossentropy(t[0], y[0], 1e-7)[0], base.categorical_crossentropy(t[0], y[0], 1e-7)[0]),
                 (fast.softmax_grad(y, np.ma.masked_less(t, 0.5)), base.softmax_grad(y, np.ma.masked_less(t, 0.5)))]:
        assert type(a) is type(b) and np.asarray(a).tobytes() == np.asarray(b).tobytes()
        assert getattr(a, "mask", None) is None or (a.mask == b.mask).all()


def test_classifier_output_ops_keep_numpys_warnings():
    """A row of zeros divides by zero and a huge target overflows: NumPy's warnings, from either class."""
    y, t = _classifier_inputs("float32")["zero-row"]
    y_big, t_big = _classifier_inputs("float32")["huge-target"]
    for be in (NumpyBackend(), PlainNumpy()):
        with np.errstate(divide="raise", invalid="raise"), pytest.raises(FloatingPointError):
            be.categorical_crossentropy(t, y, 1e-7)
        with np.errstate(over="raise"), pytest.raises(FloatingPointError):
            be.categorical_crossentropy(t_big, y_big, 1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_argmax_equal_equals_base(dtype):
    """The helper's row argmax is NumPy's: ties go to the first maximum, a NaN is the maximum (the
    first NaN), -0 and +0 tie; other layouts, dtypes and 1-D inputs get the base class's answer."""
    _need_helper()
    rng = np.random.default_rng(12)
    fast, base = NumpyBackend(), PlainNumpy()
    for shape in ((200, 10), (9, 1), (5, 128), (5, 129), (3, 4, 10), (0, 10)):
        a, b = rng.integers(0, 3, shape).astype(dtype), rng.integers(0, 3, shape).astype(dtype)
        flat = a.reshape(-1)
        flat[::7] = np.nan
        flat[1::11] = -0.0
        strided = (a.T, b.T, dtype) if a.ndim == 2 and a.size else (a, b, dtype)  # (the transpose of (0, 10) has empty rows)
        for x, y, out in ((a, b, dtype), (a, a, dtype), (b, a, dtype), strided, (a, b, "float16"), (a[..., 0], b[..., 0], dtype)):
            if x.ndim == 1 and not x.size:  # an empty 1-D input: the same error from both
                for be in (fast, base):
                    with pytest.raises(ValueError, match="empty axis"):
                        be.argmax_equal(x, y, out)
                continue
            got, want = fast.argmax_equal(x, y, out), base.argmax_equal(x, y, out)
            assert got.dtype == want.dtype and got.shape == want.shape and np.asarray(got).tobytes() == np.asarray(want).tobytes()


@pytest.mark.parametrize("loops", [True, False])
def test_classifier_output_ops_run_in_the_helper(loops, monkeypatch):
    """A (batch, classes) block takes one helper call for softmax's gradient, one for the loss (its
    rows, NumPy's own log loop, its rows again; without NumPy's loops in the helper, two calls around
    NumPy's log), and one for its gradient (given as a mean's broadcast gradient)."""
    _need_helper()
    ok = lamina_numpy._numpy_loops_ok()  # the one-time checks run here, if they have not yet
    if loops and not ok:
        pytest.skip("the helper was built without NumPy's headers: no ce_forward_loss")
    monkeypatch.setattr(lamina_numpy, "_NUMPY_LOOPS", loops)
    calls = _count_helper_calls(monkeypatch)
    y, t = _classifier_inputs("float32")["classes"]
    be = NumpyBackend()
    be.sum(y, axis=-1)  # the one-time order check runs here, if it has not yet
    calls.clear()
    per, saved = be.categorical_crossentropy(t, y, 1e-7)
    be.categorical_crossentropy_grad(np.broadcast_to(np.float32(0.005), per.shape), t, saved, 1e-7)
    be.softmax_grad(y, t)
    be.argmax_equal(t, y, "float32")
    loss = ["ce_forward_loss"] if loops else ["ce_forward", "ce_loss"]
    assert calls == loss + ["ce_grad", "softmax_grad", "argmax_equal"]
    want = PlainNumpy().categorical_crossentropy(t, y, 1e-7)
    assert [a.tobytes() for a in (per, *saved)] == [a.tobytes() for a in (want[0], *want[1])]


def test_ce_forward_loss_check_failure_keeps_the_three_calls(monkeypatch):
    """A helper whose one-call cross-entropy is one bit off fails the once-per-process check: the
    loss then takes the three calls (the composition's bits), and ce_forward_loss is not called again."""
    _need_dense_forward()
    real = lamina_numpy._KERNELS

    def off_by_one_bit(y, target, s, p, c, logp, per, *args):
        done = real.ce_forward_loss(y, target, s, p, c, logp, per, *args)
        _flip_last_bit(per[-1:])
        return done

    monkeypatch.setattr(lamina_numpy, "_KERNELS", _HelperWith(ce_forward_loss=off_by_one_bit))
    monkeypatch.setattr(lamina_numpy, "_NUMPY_LOOPS", "unchecked")
    y, t = _classifier_inputs("float32")["classes"]
    got = NumpyBackend().categorical_crossentropy(t, y, 1e-7)
    assert lamina_numpy._NUMPY_LOOPS is False
    want = PlainNumpy().categorical_crossentropy(t, y, 1e-7)
    assert [a.tobytes() for a in (got[0], *got[1])] == [a.tobytes() for a in (want[0], *want[1])]
    calls = _count_helper_calls(monkeypatch)
    NumpyBackend().categorical_crossentropy(t, y, 1e-7)
    assert "ce_forward_loss" not in calls and "ce_forward" in calls


@pytest.mark.parametrize("where", ["y", "target"])
def test_ce_forward_loss_sees_a_non_finite_first_row(where):
    """One overflowing row before finite ones (in the forward rows: y; in the loss rows: the target)
    sends the loss to the composition, whose overflow NumPy reports; read-only inputs are taken."""
    _need_dense_forward()
    assert lamina_numpy._numpy_loops_ok() is True
    rng = np.random.default_rng(55)
    y = rng.uniform(0.1, 1, (4, 10)).astype("float32")
    t = np.eye(10, dtype="float32")[[1, 2, 3, 4]]
    big = np.finfo(np.float32).max / 4
    if where == "y":
        y[0] = big
    else:
        t[0] = big
    for be in (NumpyBackend(), PlainNumpy()):
        with np.errstate(over="raise"), pytest.raises(FloatingPointError, match="overflow"):
            be.categorical_crossentropy(t, y, 1e-7)
    y2, t2 = rng.uniform(0.1, 1, (4, 10)).astype("float32"), np.eye(10, dtype="float32")[[0, 1, 2, 3]]
    y2.flags.writeable = t2.flags.writeable = False
    got, want = NumpyBackend().categorical_crossentropy(t2, y2, 1e-7), PlainNumpy().categorical_crossentropy(t2, y2, 1e-7)
    assert [a.tobytes() for a in (got[0], *got[1])] == [a.tobytes() for a in (want[0], *want[1])]


def test_raw_ce_forward_loss_rejects_what_it_does_not_take():
    _need_dense_forward()
    lamina_numpy._numpy_loops_ok()
    k = lamina_numpy._KERNELS
    y, t = np.full((4, 10), 0.1, "float32"), np.eye(10, dtype="float32")[:4]
    s, per = np.empty((4, 1), "float32"), np.empty(4, "float32")
    p, c, logp = (np.empty((4, 10), "float32") for _ in range(3))
    with pytest.raises(ValueError, match="per must hold 4"):
        k.ce_forward_loss(y, t, s, p, c, logp, np.empty(5, "float32"), 10, 1e-7, 1 - 1e-7)
    with pytest.raises(ValueError, match="target must have y's dtype"):
        k.ce_forward_loss(y, t.astype("float64"), s, p, c, logp, per, 10, 1e-7, 1 - 1e-7)
    with pytest.raises(ValueError, match="1 to 128"):
        k.ce_forward_loss(y, t, s, p, c, logp, per, 0, 1e-7, 1 - 1e-7)
    assert k.ce_forward_loss(y, t, s, p, c, logp, per, 10, 1e-7, 1 - 1e-7) is True
    s2, p2, c2, per2 = np.empty_like(s), np.empty_like(p), np.empty_like(c), np.empty_like(per)
    assert k.ce_forward(y, s2, p2, c2, 10, 1e-7, 1 - 1e-7) and k.ce_loss(t, np.log(c2), per2, 10)
    assert [a.tobytes() for a in (s, p, c, logp, per)] == [a.tobytes() for a in (s2, p2, c2, np.log(c2), per2)]
    assert np.allclose(per, -np.log(0.1), rtol=1e-6)
    bad = y.copy()
    bad[2, 3] = np.nan
    assert k.ce_forward_loss(bad, t, s, p, c, logp, per, 10, 1e-7, 1 - 1e-7) is False


def test_raw_classifier_loops_reject_what_they_do_not_take():
    k = _need_helper()
    x, out = np.full((4, 10), 0.1, "float32"), np.empty((4, 10), "float32")
    with pytest.raises(ValueError, match="1 to 128"):
        k.softmax_grad(x, x, out, 0)
    with pytest.raises(ValueError, match="1 to 128"):
        k.softmax_grad(np.ones((2, 129), "float32"), np.ones((2, 129), "float32"), np.empty((2, 129), "float32"), 129)
    with pytest.raises(ValueError, match="out must hold 40"):
        k.softmax_grad(x, x, np.empty((4, 9), "float32"), 10)
    with pytest.raises(ValueError, match="not a multiple of the row length 7"):
        k.softmax_grad(x, x, out, 7)
    with pytest.raises(ValueError, match="g must have y's dtype"):
        k.softmax_grad(x, x.astype("float64"), out, 10)
    frozen = np.empty((4, 10), "float32")
    frozen.flags.writeable = False
    with pytest.raises(TypeError, match="writable"):
        k.softmax_grad(x, x, frozen, 10)
    with pytest.raises(ValueError, match="s must hold 4"):
        k.ce_forward(x, np.empty(5, "float32"), out, out.copy(), 10, 1e-7, 1 - 1e-7)
    with pytest.raises(TypeError, match="C-contiguous"):
        k.ce_loss(x, np.ones((10, 4), "float32").T, np.empty(4, "float32"), 10)
    assert k.ce_grad(x, np.ones(4, "float32"), np.ones(4, "float32"), x, x, out, 10, 1e-7, 1 - 1e-7) is True


def _fit_classifier(make_layers, samples: int) -> tuple[bytes, list]:
    """A small classifier of ``make_layers()`` (seeded), 3 epochs of SGD on ``samples`` random rows of
    12 features and 5 one-hot classes: its weights as bytes and its loss history."""
    import lamina
    rng = np.random.default_rng(3)
    x = rng.standard_normal((samples, 12)).astype("float32")
    y = np.eye(5, dtype="float32")[rng.integers(0, 5, samples)]
    previous = lamina.backends.current().name
    lamina.backends.set_backend("numpy")  # the helper is the NumPy backend's, whatever LAMINA_BACKEND says
    try:
        lamina.utils.set_random_seed(5)
        model = lamina.Sequential(make_layers())
        model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
        lamina.utils.set_random_seed(7)  # the Dropout layers' draws
        history = model.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=False)
        return b"".join(w.tobytes() for w in model.get_weights()), history.history["loss"]
    finally:
        lamina.backends.set_backend(previous)


def test_classifier_trains_to_the_same_weights_with_and_without_the_helper(monkeypatch):
    """Dense + softmax + categorical cross-entropy + accuracy for a few steps: the same weights, bit for
    bit, with the helper's loops and with NumPy's code."""
    _need_helper()
    from lamina import layers

    def make_layers():
        return [layers.Dense(16, activation="tanh", input_shape=(12,)), layers.Dense(5), layers.Activation("softmax")]

    with_helper = _fit_classifier(make_layers, 96)
    monkeypatch.setattr(lamina_numpy, "_KERNELS", None)
    without = _fit_classifier(make_layers, 96)
    assert with_helper[0] == without[0] and with_helper[1] == without[1]
    assert with_helper[1][-1] < with_helper[1][0]  # it trained


# --- a Dense layer's backward pass and dropout in one call each ---------------------------------------

_SPECIALS = np.array([0.0, -0.0, 1e-40, -1e-40, 1.0, -1.0, 3e38, -3e38, 1e-30])


def _with_specials(rng, shape, dtype, share=0.3):
    a = np.asarray(rng.standard_normal(shape) * 10.0 ** rng.uniform(-5, 5))
    pick = np.asarray(rng.random(shape) < share)
    a[pick] = rng.choice(_SPECIALS, size=int(pick.sum()))
    return a.astype(dtype)


def _same_with_warnings(fast, slow):
    """Both calls' results (tuples of arrays or None) and warning messages."""
    import warnings
    got = []
    for fn in (fast, slow):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fn()
        got.append(([None if r is None else (r.dtype, r.shape, r.tobytes()) for r in result],
                     [str(w.message) for w in caught]))
    return got[0] == got[1]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_activation_grad_equals_base(dtype, path):
    rng = np.random.default_rng(41)
    be = NumpyBackend()
    for trial in range(120):
        shape = (int(rng.integers(1, 40)), int(rng.integers(1, 70))) if trial else (200, 500)
        y, g = _with_specials(rng, shape, dtype), _with_specials(rng, shape, dtype)
        if trial % 2:
            y = np.tanh(y)
        mask = be.dropout_mask(shape, float(rng.choice([0.5, 0.2, 0.75])), int(rng.integers(2 ** 62)), trial, dtype)
        act = ("tanh", "relu", "linear", "sigmoid", "softmax")[trial % 5]
        m = mask if trial % 3 else None
        bias = trial % 4 != 3
        assert _same_with_warnings(lambda: be.dense_activation_grad(y, g, act, m, bias),
                                   lambda: ArrayBackend.dense_activation_grad(be, y, g, act, m, bias)), \
            (trial, shape, act, m is None, bias)


def test_dense_activation_grad_keeps_numpys_warnings_and_signed_zeros():
    be = NumpyBackend()
    g = np.array([[3e38, 3e38], [3e38, 1.0]], "float32")  # the first column's sum overflows
    y = np.zeros((2, 2), "float32")
    assert _same_with_warnings(lambda: be.dense_activation_grad(y, g, "tanh"),
                               lambda: ArrayBackend.dense_activation_grad(be, y, g, "tanh"))
    neg = np.full((1, 3), -1.0, "float32")  # relu of y <= 0: -1 * 0 = -0 in d; the sum starts at +0
    d, gb = be.dense_activation_grad(np.zeros((1, 3), "float32"), neg, "relu")
    assert np.signbit(d).all() and gb.tobytes() == np.add.reduce(d, axis=0).tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_equals_base(dtype, path):
    rng = np.random.default_rng(42)
    be = NumpyBackend()
    for trial, rate in enumerate([0.5, 0.2, 0.25, 0.0, 0.9, 0.5, 0.1, 0.75]):
        shape = [(200, 500), (1,), (3, 1), (17, 33), (2, 3, 5), (), (0, 4), (9,)][trial]
        x = _with_specials(rng, shape, dtype)
        seed, counter = int(rng.integers(2 ** 63)), int(rng.integers(1000))
        assert _same_with_warnings(lambda: be.dropout(x, rate, seed, counter),
                                   lambda: ArrayBackend.dropout(be, x, rate, seed, counter)), (shape, rate)
        with np.errstate(all="ignore"):
            y, mask = be.dropout(x, rate, seed, counter)
        assert mask.tobytes() == be.dropout_mask(shape, rate, seed, counter, dtype).tobytes()
    with pytest.raises(ValueError, match="rate"):
        be.dropout(np.ones(3, dtype), 1.0, 1, 2)


def test_dense_grad_and_dropout_run_in_the_helper(monkeypatch):
    """W1's shapes take the helper (one call each), so the fast path is not silently unused."""
    calls = _count_helper_calls(monkeypatch)
    be = NumpyBackend()
    x = np.random.default_rng(3).standard_normal((200, 500)).astype("float32")
    be.dense_activation_grad(np.tanh(x), x, "tanh")  # the one-time column-sum order check, if not run yet
    calls.clear()
    y, mask = be.dropout(np.tanh(x), 0.5, 7, 1)
    be.dense_activation_grad(np.tanh(x), x, "tanh", mask)
    be.dense_activation_grad(np.tanh(x), x, "relu")
    assert calls == ["apply_dropout", "dense_grad", "dense_grad"]


def test_helper_column_sums_are_dropped_where_numpy_sums_in_another_order(monkeypatch):
    """The once-per-process check of the bias-gradient sums: a helper whose sums differ from
    np.add.reduce(axis=0) in one bit is never used for them, while one that agrees is."""
    real = _need_helper()

    def dense_grad_off_by_one_bit(y, g, mask, kind, d, gb, start):
        ok = real.dense_grad(y, g, mask, kind, d, gb, start)
        if gb is not None:
            _flip_last_bit(gb)
        return ok

    rng = np.random.default_rng(6)
    y, g = np.tanh(rng.standard_normal((50, 30))).astype("float32"), rng.standard_normal((50, 30)).astype("float32")
    want = ArrayBackend.dense_activation_grad(NumpyBackend(), y, g, "tanh")
    for kernels, start in ((_HelperWith(dense_grad=dense_grad_off_by_one_bit), None), (real, True)):
        monkeypatch.setattr(lamina_numpy, "_KERNELS", kernels)
        monkeypatch.setattr(lamina_numpy, "_COLUMN_SUM_START", "unchecked")
        d, gb = NumpyBackend().dense_activation_grad(y, g, "tanh")
        assert d.tobytes() == want[0].tobytes() and gb.tobytes() == want[1].tobytes()
        assert lamina_numpy._COLUMN_SUM_START is start


def test_raw_dense_grad_and_dropout_reject_what_they_do_not_take():
    k = _need_helper()
    a = np.ones((4, 3), "float32")
    with pytest.raises(ValueError, match="kind"):
        k.dense_grad(a, a, None, 3, np.empty_like(a), None, True)
    with pytest.raises(ValueError):
        k.dense_grad(a, a.astype("float64"), None, 1, np.empty_like(a), None, True)
    with pytest.raises(ValueError, match="one entry per column"):
        k.dense_grad(a, a, None, 1, np.empty_like(a), np.empty(4, "float32"), True)
    with pytest.raises(ValueError, match="2-D"):
        k.dense_grad(a.ravel(), a.ravel(), None, 1, np.empty(12, "float32"), None, True)
    with pytest.raises(TypeError):
        k.dense_grad(a, a[:, ::2], None, 1, np.empty_like(a), None, True)
    with pytest.raises(ValueError, match="slot width"):
        k.apply_dropout(a, np.empty_like(a), np.empty_like(a), 1, 2, 3, 4, 5, 3, 1, 2.0)
    with pytest.raises(TypeError):
        k.apply_dropout(a, np.empty_like(a), a.T, 1, 2, 3, 4, 5, 1, 1, 2.0)


@pytest.mark.parametrize("rows", [1, 7, 8, 32, 300])
def test_one_unit_bias_gradient_is_numpys_pairwise_sum(rows):
    """A one-unit Dense layer: NumPy sums its (rows, 1) gradient along a contiguous axis, pairwise
    from 8 rows on, not row after row; the bias gradient keeps those bits (found by a reviewer)."""
    be = NumpyBackend()
    rng = np.random.default_rng(rows)
    for dtype in ("float32", "float64"):
        y = np.tanh(rng.standard_normal((rows, 1))).astype(dtype)
        g = (rng.standard_normal((rows, 1)) * 10.0 ** rng.uniform(-4, 4, (rows, 1))).astype(dtype)
        mask = be.dropout_mask((rows, 1), 0.3, 5, rows, dtype)
        for act, m in (("tanh", None), ("relu", mask), ("linear", mask)):
            d, gb = be.dense_activation_grad(y, g, act, m)
            want_d, want_gb = ArrayBackend.dense_activation_grad(be, y, g, act, m)
            assert d.tobytes() == want_d.tobytes() and gb.tobytes() == want_gb.tobytes(), (dtype, act)


def test_dropout_of_a_0d_array_keeps_numpys_scalar():
    be = NumpyBackend()
    x = np.asarray(1.5, np.float32)
    out, mask = be.dropout(x, 0.5, 3, 1)
    want, want_mask = ArrayBackend.dropout(be, x, 0.5, 3, 1)
    assert type(out) is type(want) and out == want and mask.tobytes() == want_mask.tobytes()


# --- a Dense layer's bias, tanh and dropout after its product: one pass ---------------------------------

def _need_dense_forward():
    _need_helper()
    if not hasattr(lamina_numpy._KERNELS, "dense_forward"):
        pytest.skip("the helper was built without NumPy's headers: no dense_forward (np.tanh serves)")


def _forward_outcome(fn, y):
    """``fn()``'s (a, out, mask) as (dtype, shape, bytes) or None, whether a is the passed ``y``, out is
    a and mask None, and the warnings (category and message); or the exception's type and message."""
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            a, out, mask = fn()
        except Exception as exc:
            result = (type(exc), str(exc))
        else:
            result = ([None if r is None else (r.dtype, r.shape, r.tobytes()) for r in (a, out, mask)],
                      a is y, out is a, mask is None)
    return result, [(w.category, str(w.message)) for w in caught]


def _same_forward(be, y, bias, activation, dropout=None):
    """be.dense_activation and the base's composition, each on its own copy of ``y``: the outcomes of
    _forward_outcome; the first (the backend's) for further checks."""
    y1, y2 = y.copy(), y.copy()
    got = _forward_outcome(lambda: be.dense_activation(y1, bias, activation, dropout), y1)
    want = _forward_outcome(lambda: ArrayBackend.dense_activation(be, y2, bias, activation, dropout), y2)
    return got, want


def _forward_inputs(rng, shape, dtype):
    """A product y (rows of magnitudes 1e-3 to 30) and a bias, with the special values the one pass
    must keep: signed zeros (-0 + -0 is -0), subnormals, values that saturate tanh and sums y + b
    that cancel to +0 exactly."""
    rows, units = shape
    t = np.dtype(dtype).type
    y = (rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 1.5, (rows, 1))).astype(dtype)
    b = (rng.standard_normal(units) * 2).astype(dtype)
    b[::4] = -0.0
    b[1::6] = np.finfo(dtype).tiny / 8
    flat = y.reshape(-1)
    flat[::5] = -0.0
    flat[1::7] = np.finfo(dtype).tiny / 4
    flat[3::11] = t(40.0)
    flat[4::13] = t(-1e4)
    picks = np.arange(flat.size)[2::9]
    flat[2::9] = -b[picks % units]  # y + b = 0 exactly
    return y, b


def _one_pass_on(path, monkeypatch):
    """On the helper's paths, the one pass even where its once-per-process check would have turned it
    off: the bit tests below then test dense_forward itself (the check is tested on its own)."""
    if path.startswith("compiled") and hasattr(lamina_numpy._KERNELS, "dense_forward"):
        lamina_numpy._numpy_loops_ok()  # gives the helper np.tanh's loops
        monkeypatch.setattr(lamina_numpy, "_NUMPY_LOOPS", True)


_FORWARD_DROPOUTS = (None, (0.5, 7, 1), (0.25, 2 ** 70 + 3, 5), (0.3, 11, 2 ** 40))  # 1, 2 and 32-bit slots


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_activation_equals_base(dtype, path, monkeypatch):
    """tanh and linear (the one pass) and the other activations, with and without the bias and a
    dropout: the bits, the dtypes and the identities of the base composition. Shapes: one value, a
    few rows, 200 x 500 (many blocks of whole rows), a number of rows that is not a multiple of a
    block's, a row exactly one block wide and a row wider than one block (~16 KB a block)."""
    _one_pass_on(path, monkeypatch)
    rng = np.random.default_rng(43)
    be = NumpyBackend()
    wide = (3, 5000) if dtype == "float32" else (3, 2500)
    exact = (2, 4096) if dtype == "float32" else (2, 2048)
    for shape in [(1, 1), (3, 7), (200, 500), (37, 130), wide, exact, (1000, 3)]:
        y, b = _forward_inputs(rng, shape, dtype)
        for activation in ("tanh", "linear"):
            for bias in (b, None):
                for dropout in _FORWARD_DROPOUTS:
                    got, want = _same_forward(be, y, bias, activation, dropout)
                    assert got == want, (shape, activation, bias is None, dropout)
                    (_, is_y, out_is_a, no_mask), _ = got
                    assert is_y  # in place, in the product's own buffer
                    assert out_is_a == no_mask == (dropout is None)
    y, b = _forward_inputs(rng, (40, 30), dtype)
    for activation in ("sigmoid", "relu", "softmax"):
        for dropout in _FORWARD_DROPOUTS[:2]:
            got, want = _same_forward(be, y, b, activation, dropout)
            assert got == want, (activation, dropout)


def _with_non_finite(y, value, where):
    y = y.copy()
    row = {"first": 0, "middle": y.shape[0] // 2, "last": y.shape[0] - 1}[where]
    y[row, (row * 7) % y.shape[1]] = value
    return y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_activation_keeps_numpys_nans_and_warnings(dtype, path, monkeypatch):
    """NaN, inf and -inf in the first, a middle or the last row (the pass stops at that row's block and
    NumPy finishes): the composition's bits and warnings, category and message."""
    _one_pass_on(path, monkeypatch)
    rng = np.random.default_rng(44)
    be = NumpyBackend()
    for shape in [(3, 7), (200, 500), (3, 5000) if dtype == "float32" else (3, 2500)]:
        y, b = _forward_inputs(rng, shape, dtype)
        for value, where in itertools.product([np.nan, np.inf, -np.inf], ["first", "middle", "last"]):
            yv = _with_non_finite(y, value, where)
            for activation, bias, dropout in itertools.product(("tanh", "linear"), (b, None), _FORWARD_DROPOUTS[::3]):
                if activation == "linear" and bias is None and dropout is None:
                    continue  # nothing to do: the base's return
                got, want = _same_forward(be, yv, bias, activation, dropout)
                assert got == want, (shape, value, where, activation, bias is None, dropout)
                assert got[0][1]  # in place on the way through NumPy too


def test_dense_activation_keeps_numpys_overflow_warnings(path, monkeypatch):
    """A sum y + bias that overflows (3e38 + 3e38 in float32) and a product a * mask that does (3e38 kept
    at rate 0.5: times 2; 1.5e308 at 0.3 in float64), in a middle row of many blocks, with and without a
    bias (which the rows already done must not get twice): NumPy's inf and its RuntimeWarnings."""
    _one_pass_on(path, monkeypatch)
    be = NumpyBackend()
    y = np.random.default_rng(45).standard_normal((300, 500)).astype("float32")
    y[150] = 3e38
    big = np.zeros(500, "float32")
    big[:250] = 3e38
    for activation, bias, dropout, expect in [
            ("tanh", big, None, ["overflow encountered in add"]),
            ("linear", big, None, ["overflow encountered in add"]),
            ("tanh", big, (0.5, 3, 1), ["overflow encountered in add"]),
            ("linear", None, (0.5, 3, 1), ["overflow encountered in multiply"]),
            ("linear", np.zeros(500, "float32"), (0.5, 3, 1), ["overflow encountered in multiply"]),
            ("linear", np.full(500, 1e37, "float32"), (0.5, 3, 1), ["overflow encountered in multiply"]),
            ("linear", np.full(500, 1e307), (0.3, 3, 1), ["overflow encountered in multiply"])]:
        yy = y if bias is None or bias.dtype == y.dtype else np.where(y == y[150], 1.5e308, y.astype(bias.dtype))
        got, want = _same_forward(be, yy, bias, activation, dropout)
        assert got == want, (activation, bias is None, dropout)
        assert [m for c, m in got[1]] == expect and all(c is RuntimeWarning for c, m in got[1])
        if activation == "linear":  # the overflow is there (tanh saturates it to 1)
            assert np.isinf(np.frombuffer(got[0][0][1][2], yy.dtype)).any()


def test_dense_activation_runs_in_the_helper(monkeypatch):
    """Dense + tanh (+ dropout) and a linear Dense with a bias take the one pass: one helper call, no
    dropout call of its own; NumPy finishes only where a value is not finite."""
    _need_dense_forward()
    assert lamina_numpy._numpy_loops_ok() is True and lamina_numpy._NUMPY_LOOPS is True
    calls = _count_helper_calls(monkeypatch)
    be = NumpyBackend()
    y, b = _forward_inputs(np.random.default_rng(46), (200, 500), "float32")
    for activation, bias, dropout in [("tanh", b, None), ("tanh", None, (0.5, 1, 2)), ("tanh", b, (0.3, 1, 2)),
                                      ("linear", b, None), ("linear", None, (0.5, 1, 2))]:
        calls.clear()
        a, out, mask = be.dense_activation(y.copy(), bias, activation, dropout)
        assert calls == ["dense_forward"], (activation, bias is None, dropout)
    calls.clear()
    be.dense_activation(_with_non_finite(y, np.nan, "middle"), b, "tanh", (0.5, 1, 2))
    assert calls == ["dense_forward"]


def _odd_forward_input(odd, rng):
    """(y, bias, activation, dropout) that the one pass must leave to the base class."""
    y, b = _forward_inputs(rng, (300, 300), "float32")
    if odd == "transposed-y":
        return np.ascontiguousarray(y.T).T, b, "tanh", None
    if odd == "strided-y":
        return np.repeat(y, 2, axis=1)[:, ::2], b, "tanh", (0.5, 1, 2)
    if odd == "read-only-y":
        y.flags.writeable = False
        return y, b, "tanh", None
    if odd == "read-only-y-no-bias":
        y.flags.writeable = False
        return y, None, "tanh", None
    if odd == "float64-bias":
        return y, b.astype("float64"), "tanh", None
    if odd == "strided-bias":
        return y, np.repeat(b, 2)[::2], "tanh", None
    if odd == "bias-view-of-y":  # NumPy's add reads a copy of the overlapping bias; a pass would not
        return y, y[0], "tanh", (0.5, 1, 2)
    if odd == "1-d":
        return y[0].copy(), b, "tanh", (0.5, 1, 2)
    if odd == "3-d":
        return y.reshape(3, 100, 300), b, "tanh", (0.5, 1, 2)
    if odd == "float16":
        return y.astype("float16"), b.astype("float16"), "tanh", (0.5, 1, 2)
    if odd == "empty":
        return y[:0], b, "tanh", (0.5, 1, 2)
    if odd == "subclass":
        return y.view(_Tagged), b, "tanh", None
    if odd == "linear-alone":
        return y, None, "linear", None
    if odd == "row-over-1-MiB":  # the helper would stage a whole row: left to the composition
        return np.ascontiguousarray(np.tile(y[:2], (1, 900))), np.tile(b, 900), "tanh", (0.5, 1, 2)
    if odd in ("sigmoid", "relu", "softmax"):
        return y, b, odd, (0.5, 1, 2)
    if odd == "rate-1.0":
        return y, b, "tanh", (1.0, 1, 2)
    if odd == "rate-negative":
        return y, b, "tanh", (-0.1, 1, 2)
    raise AssertionError(odd)


@pytest.mark.parametrize("odd", ["transposed-y", "strided-y", "read-only-y", "read-only-y-no-bias", "float64-bias",
                                 "strided-bias", "bias-view-of-y", "1-d", "3-d", "float16", "empty", "subclass",
                                 "linear-alone", "row-over-1-MiB", "sigmoid", "relu", "softmax", "rate-1.0",
                                 "rate-negative"])
def test_dense_activation_odd_inputs_take_the_base_code(odd, monkeypatch):
    """Arrays and arguments the one pass does not take run the base class: its bits, its identities
    and its errors (a read-only product: NumPy's; a rate outside [0, 1): dropout's ValueError)."""
    _need_dense_forward()
    lamina_numpy._numpy_loops_ok()
    calls = _count_helper_calls(monkeypatch)
    y, bias, activation, dropout = _odd_forward_input(odd, np.random.default_rng(47))
    be = NumpyBackend()
    results = []  # each call on its own y (a view of y as the bias: of that y)
    for fn in (be.dense_activation, lambda *a: ArrayBackend.dense_activation(be, *a)):
        yy = _odd_forward_input(odd, np.random.default_rng(47))[0]  # the same values and layout
        bb = yy[0] if odd == "bias-view-of-y" else bias
        results.append(_forward_outcome(lambda: fn(yy, bb, activation, dropout), yy))
    assert results[0] == results[1]
    assert "dense_forward" not in calls, calls
    if odd.startswith("rate-"):
        with pytest.raises(ValueError, match="rate must be in"):
            ArrayBackend.dropout(be, y.copy(), dropout[0], 1, 2)
        assert results[0][0][0] is ValueError and "rate must be in" in results[0][0][1]
    if odd.startswith("read-only"):
        assert results[0][0][0] is ValueError  # NumPy's "output array is read-only"


def test_dense_activation_unknown_activation_keeps_the_base_error():
    with pytest.raises(ValueError, match="dense_activation supports"):
        NumpyBackend().dense_activation(np.ones((2, 3), "float32"), None, "TANH")


def test_dense_forward_check_passes_here_and_a_failed_one_keeps_the_bits(monkeypatch):
    """The once-per-process check passes on this NumPy; where it fails (a helper whose dense_forward
    is off by one bit, or one without np.tanh's loops) or is switched off, the backend gives the
    composition's bits without calling dense_forward."""
    _need_dense_forward()
    monkeypatch.setattr(lamina_numpy, "_NUMPY_LOOPS", "unchecked")
    assert lamina_numpy._numpy_loops_ok() is True and lamina_numpy._NUMPY_LOOPS is True
    real = lamina_numpy._KERNELS

    def off_by_one_bit(y, *args):
        done = real.dense_forward(y, *args)
        _flip_last_bit(y.reshape(-1)[-1:])
        return done

    def reports_nothing_done(y, *args):  # the right bits, but a stop reported at the first row
        real.dense_forward(y, *args)
        return 0, 0

    y, b = _forward_inputs(np.random.default_rng(48), (200, 500), "float32")
    for kernels, state in ((_HelperWith(dense_forward=off_by_one_bit), "unchecked"),
                           (_HelperWith(use_numpy_loops=lambda *ufuncs: False), "unchecked"),
                           (_HelperWith(dense_forward=reports_nothing_done), "unchecked"), (real, False)):
        monkeypatch.setattr(lamina_numpy, "_KERNELS", kernels)
        monkeypatch.setattr(lamina_numpy, "_NUMPY_LOOPS", state)
        got, want = _same_forward(NumpyBackend(), y, b, "tanh", None)
        assert got == want and lamina_numpy._NUMPY_LOOPS is False  # the first call made the check
        calls = _count_helper_calls(monkeypatch)
        for dropout in (None, (0.3, 5, 6)):
            got, want = _same_forward(NumpyBackend(), y, b, "tanh", dropout)
            assert got == want
        assert "dense_forward" not in calls and "use_numpy_loops" not in calls  # checked once
        monkeypatch.setattr(lamina_numpy, "_KERNELS", real)
    # The raw helper: all done, np.tanh's bits; with an inf in row 150 it stops at the start of a row
    # at or before it, the rows before done, the rows from there on untouched.
    rows = np.random.default_rng(49).standard_normal((300, 500)).astype("float32")
    got = rows.copy()
    assert real.dense_forward(got, None, 1, None, None) == (rows.size, rows.size)
    assert got.tobytes() == np.tanh(rows).tobytes()
    stop = _with_non_finite(rows, np.inf, "middle")
    got = stop.copy()
    done, done_out = real.dense_forward(got, None, 1, None, None)
    assert done == done_out and done % 500 == 0 and 0 < done <= 150 * 500
    assert got[:done // 500].tobytes() == np.tanh(stop[:done // 500]).tobytes()
    assert got[done // 500:].tobytes() == stop[done // 500:].tobytes()


def test_dense_dropout_model_trains_to_the_same_weights_with_the_one_pass(monkeypatch):
    """Dense + tanh + Dropout, Dense + linear + Dropout, Dense + softmax (fused in training) for a few
    SGD steps: the same weights and losses, bit for bit, with the one pass and with the base class's
    composition; and the one pass really ran."""
    _need_dense_forward()
    from lamina import layers

    def make_layers():
        return [layers.Dense(300, input_shape=(12,)), layers.Activation("tanh"), layers.Dropout(0.5),
                layers.Dense(40), layers.Activation("linear"), layers.Dropout(0.3),
                layers.Dense(5), layers.Activation("softmax")]

    lamina_numpy._numpy_loops_ok()
    calls = _count_helper_calls(monkeypatch)
    one_pass = _fit_classifier(make_layers, 64)
    assert calls.count("dense_forward") >= 3 * 6  # two hidden layers and the softmax a step, 6 steps
    monkeypatch.setattr(NumpyBackend, "dense_activation", ArrayBackend.dense_activation)
    composed = _fit_classifier(make_layers, 64)
    assert one_pass[0] == composed[0] and one_pass[1] == composed[1]
    assert one_pass[1][-1] < one_pass[1][0]  # it trained


# --- broadcast_to of a 0-d array: the view np.broadcast_to makes, without its setup ---------------
@pytest.mark.parametrize("value", [np.float32(0.5), np.float64(-2.0), np.int64(3), np.bool_(True), np.complex64(1j)])
@pytest.mark.parametrize("shape", [(200,), (), (3, 0, 2), (2, 3, 4)])
def test_broadcast_to_of_a_0d_array_is_numpys_view(value, shape):
    be = NumpyBackend()
    x = np.asarray(value)
    got, want = be.broadcast_to(x, shape), np.broadcast_to(x, shape)
    assert (got.shape, got.dtype, got.strides) == (want.shape, want.dtype, want.strides)
    assert not got.flags.writeable and (np.shares_memory(got, x) or not got.size) and got.tobytes() == want.tobytes()
    x[...] = 0  # a view: it follows its source, as NumPy's does
    assert got.tobytes() == want.tobytes()


def test_broadcast_to_leaves_other_cases_to_numpy():
    be = NumpyBackend()
    row = np.arange(3.0)
    assert be.broadcast_to(row, (2, 3)).tolist() == [[0.0, 1.0, 2.0]] * 2
    obj = np.asarray(None, dtype=object)
    assert be.broadcast_to(obj, (2,)).tolist() == [None, None]
    assert be.broadcast_to(np.asarray(1.0), [2]).shape == (2,)  # a list shape: NumPy's path
    with pytest.raises(ValueError):
        be.broadcast_to(np.asarray(1.0), (-1,))
    with pytest.raises(ValueError):
        be.broadcast_to(row, (4,))


def test_dense_activation_with_np_tanh_replaced_keeps_the_composition(monkeypatch):
    """A np.tanh replaced by a plain function (instrumentation) before the first check: the check
    fails quietly and every call takes the base composition, which calls the replacement."""
    _need_dense_forward()
    seen = []
    real = np.tanh

    def traced(x, *args, **kwargs):
        seen.append(x.shape)
        return real(x, *args, **kwargs)
    monkeypatch.setattr(np, "tanh", traced)
    monkeypatch.setattr(lamina_numpy, "_NUMPY_LOOPS", "unchecked")
    y = np.full((4, 6), 0.5, "float32")
    a, out, mask = NumpyBackend().dense_activation(y, np.zeros(6, "float32"), "tanh")
    assert lamina_numpy._NUMPY_LOOPS is False and (4, 6) in seen
    assert a.tobytes() == real(np.full((4, 6), 0.5, "float32")).tobytes() and out is a and mask is None
    monkeypatch.setattr(np, "tanh", real)
    assert lamina_numpy._numpy_loops_ok() is True  # and a later check with NumPy's own tanh passes


# --- the output layer's bias and softmax in the same pass -------------------------------------------

def _same_softmax(be, y, bias):
    """``_same_forward`` for softmax, plus y after the call (y + bias in place, as the composition
    leaves it) from each side."""
    y1, y2 = y.copy(), y.copy()
    got = _forward_outcome(lambda: be.dense_activation(y1, bias, "softmax"), y1)
    want = _forward_outcome(lambda: ArrayBackend.dense_activation(be, y2, bias, "softmax"), y2)
    return got + (y1.tobytes(),), want + (y2.tobytes(),)


def _softmax_inputs(rng, shape, dtype):
    """Logits for a classifier's output layer: _forward_inputs' special values, and rows spread so
    widely that exp underflows to subnormals and zeros (the confident predictions of a trained model)."""
    y, b = _forward_inputs(rng, shape, dtype)
    y[::3] *= 60
    return y, b


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_softmax_equals_base(dtype, path, monkeypatch):
    """Softmax after the bias (rows of 1 to 128 classes: the helper's pass; wider rows: the base's
    composition): the composition's bits, a new array for the probabilities and y + bias left in y."""
    _one_pass_on(path, monkeypatch)
    rng = np.random.default_rng(50)
    be = NumpyBackend()
    for shape in [(1, 1), (3, 7), (200, 10), (450, 10), (37, 128), (5, 129), (2, 1)]:
        y, b = _softmax_inputs(rng, shape, dtype)
        for bias in (b, None):
            got, want = _same_softmax(be, y, bias)
            assert got == want, (shape, bias is None)
            (_, is_y, out_is_a, no_mask), _, _ = got
            assert not is_y and out_is_a and no_mask


def _with_overflowing_difference(y, row):
    """Row ``row`` of a float32 or float64 y with its largest and smallest finite values: finite, but
    the difference from the row maximum overflows (NumPy warns in its subtract)."""
    y = y.copy()
    big = np.finfo(y.dtype).max
    y[row, 0], y[row, -1] = big, -big
    return y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_softmax_keeps_numpys_nans_and_warnings(dtype, path, monkeypatch):
    """NaN, inf and -inf in the first, a middle or the last row, an overflowing bias and an overflowing
    difference from the row maximum: the pass stops at that row's block and NumPy finishes, with the
    composition's bits and warnings (and y + bias added once)."""
    _one_pass_on(path, monkeypatch)
    rng = np.random.default_rng(51)
    be = NumpyBackend()
    for shape in [(3, 7), (900, 10), (3, 128)]:
        y, b = _softmax_inputs(rng, shape, dtype)
        cases = [_with_non_finite(y, value, where)
                 for value, where in itertools.product([np.nan, np.inf, -np.inf], ["first", "middle", "last"])]
        cases += [_with_overflowing_difference(y, row) for row in (0, shape[0] // 2, shape[0] - 1)]
        for yv in cases:
            for bias in (b, None):
                got, want = _same_softmax(be, yv, bias)
                assert got == want, (shape, bias is None)
        big = np.full(shape[1], np.finfo(dtype).max, dtype)
        yv = y.copy()
        yv[shape[0] // 2] = np.finfo(dtype).max
        got, want = _same_softmax(be, yv, big)
        assert got == want and [m for c, m in got[1]][:1] == ["overflow encountered in add"]


def test_dense_softmax_runs_in_the_helper_only_where_numpy_ignores_underflow(monkeypatch):
    """One helper call for a 200 x 10 output layer; where NumPy's exp would warn of or raise on an
    underflow (np.errstate), the composition runs, so the warning or FloatingPointError is NumPy's;
    rows wider than 128 and a dropout after the softmax take the composition too."""
    _need_dense_forward()
    assert lamina_numpy._numpy_loops_ok() is True
    calls = _count_helper_calls(monkeypatch)
    be = NumpyBackend()
    y, b = _softmax_inputs(np.random.default_rng(52), (200, 10), "float32")
    be.dense_activation(y.copy(), b, "softmax")
    assert calls == ["dense_forward"]
    for under in ("warn", "raise"):
        calls.clear()
        with np.errstate(under=under):
            got, want = _same_softmax(be, y, b)
        assert got == want and "dense_forward" not in calls, under
        if under == "raise":
            assert got[0][0] is FloatingPointError
        else:
            assert any("underflow" in m for c, m in got[1])
    wide, wb = _softmax_inputs(np.random.default_rng(53), (20, 129), "float32")
    for args in ((wide, wb, "softmax"), (y, b, "softmax", (0.5, 1, 2))):
        calls.clear()
        be.dense_activation(args[0].copy(), *args[1:])
        assert "dense_forward" not in calls


def test_dense_softmax_needs_numpys_row_sums_and_a_passing_check(monkeypatch):
    """Where the helper's row sums are not NumPy's (_ROW_SUM_EXACT False) the softmax takes the
    composition while tanh keeps the pass; a helper whose softmax is one bit off fails the
    once-per-process check, and the composition's bits come out without another dense_forward call."""
    _need_dense_forward()
    lamina_numpy._numpy_loops_ok()
    real = lamina_numpy._KERNELS
    y, b = _softmax_inputs(np.random.default_rng(54), (200, 10), "float32")
    monkeypatch.setattr(lamina_numpy, "_ROW_SUM_EXACT", False)
    calls = _count_helper_calls(monkeypatch)
    got, want = _same_softmax(NumpyBackend(), y, b)
    assert got == want and "dense_forward" not in calls
    calls.clear()
    NumpyBackend().dense_activation(np.ones((4, 6), "float32"), np.zeros(6, "float32"), "tanh")
    assert calls == ["dense_forward"]
    monkeypatch.setattr(lamina_numpy, "_ROW_SUM_EXACT", None)  # unchecked: the first softmax checks
    monkeypatch.setattr(lamina_numpy, "_KERNELS", real)

    def softmax_off_by_one_bit(y, bias, kind, mask, out, *args):
        done = real.dense_forward(y, bias, kind, mask, out, *args)
        if kind == 2:
            _flip_last_bit(out.reshape(-1)[-1:])
        return done

    monkeypatch.setattr(lamina_numpy, "_KERNELS", _HelperWith(dense_forward=softmax_off_by_one_bit))
    monkeypatch.setattr(lamina_numpy, "_NUMPY_LOOPS", "unchecked")
    got, want = _same_softmax(NumpyBackend(), y, b)
    assert got == want and lamina_numpy._NUMPY_LOOPS is False and lamina_numpy._ROW_SUM_EXACT is True
    calls = _count_helper_calls(monkeypatch)
    got, want = _same_softmax(NumpyBackend(), y, b)
    assert got == want and "dense_forward" not in calls


def test_helper_dense_forward_softmax_rejects_bad_arguments():
    """The raw helper: softmax with a mask, rows of more than 128, no output, an unknown kind."""
    _need_dense_forward()
    lamina_numpy._numpy_loops_ok()
    real = lamina_numpy._KERNELS
    y = np.ones((4, 10), "float32")
    with pytest.raises(ValueError, match="kind must be"):
        real.dense_forward(y, None, 2, np.ones_like(y), np.empty_like(y), 1, 2, 3, 4, 5, 1, 1, 2.0)
    with pytest.raises(ValueError, match="kind must be"):
        real.dense_forward(y, None, 3, None, None)
    with pytest.raises(ValueError, match="rows of 1 to 128"):
        real.dense_forward(np.ones((4, 129), "float32"), None, 2, None, np.empty((4, 129), "float32"))
    with pytest.raises((TypeError, ValueError)):
        real.dense_forward(y, None, 2, None, None)
    out = np.empty_like(y)
    assert real.dense_forward(y, None, 2, None, out) == (40, 40)
    assert (out == np.float32(1) / np.float32(10)).all()


@pytest.mark.parametrize("settings", [{"all": "raise"}, {"under": "warn"}, {"all": "warn"}])
def test_dense_forward_check_ignores_the_callers_errstate(settings, monkeypatch):
    """The once-per-process check's references underflow (softmax of spread logits): made under a
    caller's np.errstate that raises or warns on underflow, the check neither raises nor warns, and
    it passes, so the first tanh layer and every later one run as usual."""
    import warnings
    _need_dense_forward()
    monkeypatch.setattr(lamina_numpy, "_NUMPY_LOOPS", "unchecked")
    y = np.full((4, 6), 0.5, "float32")
    with np.errstate(**settings), warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            a, out, mask = NumpyBackend().dense_activation(y.copy(), np.zeros(6, "float32"), "tanh")
    assert lamina_numpy._NUMPY_LOOPS is True and a.tobytes() == np.tanh(y).tobytes()
