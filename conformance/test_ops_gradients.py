"""Every differentiable lamina.ops function: the tape's gradient vs central finite differences.

Both sides run through lamina.ops on the backend under test, in float64. The loss is
sum(f(x) * w) with a random cotangent ``w`` (so every output element's VJP is exercised, not
just their sum). Step h = 1e-6 * max(1, |x_i|): truncation error ~ h^2 |f'''| / 6 ~ 1e-13,
rounding error ~ eps * |loss| / h ~ 1e-10 * |loss|, so 1e-5 relative + 1e-6 * scale absolute
separates them from any real VJP mistake (which is O(1) wrong).
"""
from __future__ import annotations

import numpy as np
import pytest

import lamina.ops as ops

from ._cases import GRAD_CASES
from ._checks import Failures, assert_close
from ._inputs import real, rng_for

RTOL, ATOL = 1e-5, 1e-6


def _tensors(be, arrays):
    return [ops.convert_to_tensor(be.asarray(a)) for a in arrays]


def _forward(be, fn, arrays) -> np.ndarray:
    return np.asarray(fn(*_tensors(be, arrays)).numpy(), dtype=np.float64)


def numerical_gradient(be, fn, arrays, i, w):
    x = arrays[i]
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        h = 1e-6 * max(1.0, abs(float(x[idx])))
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        fp = _forward(be, fn, arrays[:i] + [xp] + arrays[i + 1:])
        fm = _forward(be, fn, arrays[:i] + [xm] + arrays[i + 1:])
        grad[idx] = np.sum((fp - fm) * w) / (xp[idx] - xm[idx])
    return grad


def tape_gradient(be, fn, arrays, w):
    ts = _tensors(be, arrays)
    with ops.GradientTape() as tape:
        for t in ts:
            tape.watch(t)
        y = fn(*ts)
        grads = tape.gradient(y, ts, output_gradients=be.asarray(w))
    return y, grads


# Known library bugs, by case name: the case is reported as xfail with this reason while the
# bug lasts, and passes (no marker to remove) once it is fixed.
KNOWN_GRAD_BUGS: dict[str, str] = {}


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.name for c in GRAD_CASES])
def test_gradient(backend, case):
    rng = rng_for("grad", case.name)
    arrays = case.arrays(rng)
    y0 = _forward(backend, case.fn, arrays)
    w = rng.standard_normal(y0.shape)
    fails = Failures(known={"vjp": KNOWN_GRAD_BUGS[case.name]} if case.name in KNOWN_GRAD_BUGS else None)
    result = []
    fails.check("vjp", lambda: result.append(tape_gradient(backend, case.fn, arrays, w)))
    if not result:
        fails.finish()
    y, grads = result[0]
    assert y.dtype == "float64", f"{case.name}: float64 inputs gave a {y.dtype} result"
    for i, g in enumerate(grads):
        def one(i=i, g=g):
            assert g is not None, f"{case.name}: no gradient for input {i} (shape {arrays[i].shape})"
            assert isinstance(g, ops.Tensor)
            got = g.numpy()
            num = numerical_gradient(backend, case.fn, arrays, i, w)
            scale = max(1.0, float(np.max(np.abs(num)))) if num.size else 1.0
            assert_close(got, num, RTOL * np.abs(num) + ATOL * scale,
                         f"d {case.name} / d input{i} (tape vs finite differences)", dtype="float64")
        fails.check(f"input{i}", one)
    fails.finish()


_NON_DIFFERENTIABLE = [
    ("sign", ops.sign), ("floor", ops.floor), ("round", ops.round), ("stop_gradient", ops.stop_gradient),
]


@pytest.mark.parametrize("name,fn", _NON_DIFFERENTIABLE, ids=[n for n, _ in _NON_DIFFERENTIABLE])
def test_piecewise_constant_ops_pass_no_gradient(backend, name, fn):
    """d/dx sum(op(x) * x) = op(x): op itself contributes nothing (it is constant almost everywhere)."""
    x = ops.convert_to_tensor(backend.asarray(np.asarray([[-1.7, 0.3, 2.5], [1.2, -0.4, 3.6]])))
    with ops.GradientTape() as tape:
        tape.watch(x)
        loss = ops.sum(ops.multiply(fn(x), x))
        g = tape.gradient(loss, x)
    np.testing.assert_array_equal(g.numpy(), fn(x).numpy(), err_msg=f"{name} must be treated as a constant")


@pytest.mark.parametrize("name,fn", [("argmax", ops.argmax), ("argmin", ops.argmin), ("equal", lambda x: ops.equal(x, 0.3)),
                                     ("greater", lambda x: ops.greater(x, 0.0)), ("isfinite", ops.isfinite),
                                     ("one_hot", lambda x: ops.one_hot(ops.argmax(x), 3))],
                         ids=["argmax", "argmin", "equal", "greater", "isfinite", "one_hot"])
def test_integer_and_bool_results_have_no_gradient(backend, name, fn):
    x = ops.convert_to_tensor(backend.asarray(np.asarray([[-1.7, 0.3, 2.5], [1.2, -0.4, 3.6]])))
    with ops.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        g = tape.gradient(y, x)
    assert g is None or not np.any(g.numpy()), f"{name}: expected no gradient, got {g}"


def test_cast_gradient_returns_source_dtype(backend):
    """cast float32 -> float64 passes the gradient back unchanged, in float32."""
    x = ops.convert_to_tensor(backend.asarray(np.asarray([1.5, -2.0, 0.25], np.float32)))
    w = np.asarray([2.0, -1.0, 3.0])
    with ops.GradientTape() as tape:
        tape.watch(x)
        y = ops.cast(x, "float64")
        g = tape.gradient(y, x, output_gradients=backend.asarray(w))
    assert g.dtype == "float32"
    np.testing.assert_array_equal(g.numpy(), w.astype(np.float32))
    assert y.dtype == "float64"


def test_variables_are_watched_automatically(backend):
    v = ops.Variable(backend.asarray(np.asarray([1.0, -2.0, 3.0])), name="w")
    frozen = ops.Variable(backend.asarray(np.asarray([4.0, 5.0, 6.0])), name="frozen", trainable=False)
    with ops.GradientTape() as tape:
        loss = ops.sum(ops.multiply(ops.square(v), frozen))
    gv, gf = tape.gradient(loss, [v, frozen])  # after the block, as in Keras/TF custom training loops
    np.testing.assert_allclose(gv.numpy(), 2 * np.asarray([1.0, -2.0, 3.0]) * np.asarray([4.0, 5.0, 6.0]), rtol=1e-15)
    assert gf is None, "a non-trainable Variable gets no gradient"
    v.assign(np.asarray([0.5, 0.5, 0.5]))
    np.testing.assert_array_equal(v.numpy(), [0.5, 0.5, 0.5])
    with pytest.raises(ValueError):
        v.assign(np.zeros(4))


def test_unconnected_source_gets_none(backend):
    x = ops.convert_to_tensor(backend.asarray(np.ones(3)))
    z = ops.convert_to_tensor(backend.asarray(np.ones(3)))
    with ops.GradientTape() as tape:
        tape.watch(x)
        tape.watch(z)
        y = ops.sum(ops.exp(x))
        gx, gz = tape.gradient(y, [x, z])
    assert gz is None
    np.testing.assert_allclose(gx.numpy(), np.exp(1.0) * np.ones(3), rtol=1e-15)


def test_gradient_after_tape_exit(backend):
    """The TF pattern: record inside ``with``, call ``tape.gradient`` after it."""
    x = ops.convert_to_tensor(backend.asarray(np.asarray([0.5, -1.0])))
    with ops.GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(ops.square(x))
    g = tape.gradient(y, x)
    assert g is not None, "gradient w.r.t. a watched tensor is None when taken after the with-block"
    np.testing.assert_array_equal(g.numpy(), [1.0, -2.0])


def test_gradient_of_large_composite_is_finite(backend):
    """A float32 dense+softmax+cross-entropy step at ordinary scales: finite and close to float64."""
    rng = rng_for("composite")
    x, wt = real(-1, 1)(rng, (8, 20)), real(-0.3, 0.3)(rng, (20, 10))
    labels = rng.integers(0, 10, 8)
    grads = {}
    for dtype in ("float32", "float64"):
        w = ops.Variable(backend.asarray(wt.astype(dtype)))
        with ops.GradientTape() as tape:
            logits = ops.matmul(ops.convert_to_tensor(backend.asarray(x.astype(dtype))), w)
            loss = ops.negative(ops.mean(ops.sum(ops.multiply(ops.one_hot(labels, 10, dtype), ops.log_softmax(logits)), axis=-1)))
            grads[dtype] = tape.gradient(loss, [w])[0].numpy()
    assert np.all(np.isfinite(grads["float32"]))
    np.testing.assert_allclose(grads["float32"], grads["float64"], rtol=1e-4, atol=1e-6)
