"""Backends that test the conformance suite itself. Registered only by conftest.py, and only
when ``--backend numpy64`` or ``--backend broken`` is asked for; never part of Lamina.

* ``numpy64`` — a plugin-style backend (a NumPy subclass registered through
  ``lamina.backends.register_backend``) that computes every float op in float64 and casts the
  result back. Its results are at least as accurate as NumPy's, so the suite must pass on it:
  that proves the plugin path and that the tolerances are not tuned to NumPy's exact rounding.
* ``broken`` — NumPy with one deliberate bug: ``softmax`` without the max subtraction, so large
  logits overflow to inf/nan. The suite must fail on it and name ``softmax``.
"""
from __future__ import annotations

import functools

import numpy as np

from lamina import backends
from lamina.backends.base import ArrayBackend
from lamina_numpy import NumpyBackend

# Float ops routed through float64. Random ops are not: their float32 formulas are specified
# bit for bit (a float64 uniform cast to float32 rounds, the spec truncates).
_WIDENED = (
    "add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "negative", "abs",
    "sign", "exp", "log", "log1p", "expm1", "sqrt", "square", "sin", "cos", "tanh", "sigmoid",
    "erf", "clip", "where", "floor", "round", "sum", "mean", "max", "min", "prod", "logsumexp",
    "matmul", "softmax", "log_softmax",
)


def _is_narrow_float(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.dtype.itemsize < 8


def _widen(a):
    return a.astype(np.float64) if _is_narrow_float(a) else a


def _float64_inside(method):
    @functools.wraps(method)
    def wrapper(self, *args, out=None, **kwargs):
        floats = [a.dtype for a in list(args) + list(kwargs.values())
                  if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
        target = np.result_type(*floats) if floats else None

        def prepare(a):
            # Weak typing: a Python float operand means its nearest value in the array's dtype.
            if target is not None and type(a) is float:
                return float(target.type(a))
            return _widen(a)
        result = method(self, *[prepare(a) for a in args], **{k: prepare(v) for k, v in kwargs.items()})
        if isinstance(result, np.generic):  # NumPy ufuncs return scalars for 0-d input
            result = np.asarray(result)
        if floats and isinstance(result, np.ndarray) and result.dtype.kind == "f":
            result = result.astype(target)
        if out is not None:
            out[...] = result
            return out
        return result
    return wrapper


class Numpy64Backend(NumpyBackend):
    name = "numpy64"
    # Composed from the widened ops below, as the base class does (NumPy's one-pass loops would
    # round each step in float32, and lamina.ops checks these against its own composition).
    lstm_cell_forward = ArrayBackend.lstm_cell_forward
    gru_cell_forward = ArrayBackend.gru_cell_forward
    softmax_grad = ArrayBackend.softmax_grad
    argmax_equal = ArrayBackend.argmax_equal
    categorical_crossentropy = ArrayBackend.categorical_crossentropy
    categorical_crossentropy_grad = ArrayBackend.categorical_crossentropy_grad
    dense_activation = ArrayBackend.dense_activation
    dense_activation_grad = ArrayBackend.dense_activation_grad
    dropout = ArrayBackend.dropout

    def device_description(self) -> str:
        return "host CPU, float64 internally (conformance test backend)"

    def sgd_update(self, param, grad, velocity, lr, momentum, nesterov):
        p, g = _widen(param), _widen(grad)
        v = None if velocity is None else _widen(velocity)
        super().sgd_update(p, g, v, lr, momentum, nesterov)
        param[...] = p
        if velocity is not None:
            velocity[...] = v

    def adam_update(self, param, grad, m, v, vhat, alpha, beta_1, beta_2, epsilon):
        p, g, m2, v2 = _widen(param), _widen(grad), _widen(m), _widen(v)
        vh = None if vhat is None else _widen(vhat)
        super().adam_update(p, g, m2, v2, vh, alpha, beta_1, beta_2, epsilon)
        param[...], m[...], v[...] = p, m2, v2
        if vhat is not None:
            vhat[...] = vh

    def rmsprop_update(self, param, grad, velocity, lr, rho, epsilon):
        p, g, v = _widen(param), _widen(grad), _widen(velocity)
        super().rmsprop_update(p, g, v, lr, rho, epsilon)
        param[...], velocity[...] = p, v


for _name in _WIDENED:
    setattr(Numpy64Backend, _name, _float64_inside(getattr(NumpyBackend, _name)))


class BrokenSoftmaxBackend(NumpyBackend):
    name = "broken"

    def device_description(self) -> str:
        return "host CPU, softmax deliberately broken (conformance test backend)"

    def softmax(self, x, axis=-1):
        e = np.exp(x)  # BUG on purpose: no max subtraction, so exp overflows for large logits
        return e / np.sum(e, axis=axis, keepdims=True)


def register_test_backends() -> None:
    backends.register_backend("numpy64", Numpy64Backend)
    backends.register_backend("broken", BrokenSoftmaxBackend)
