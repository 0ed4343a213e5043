"""Activation functions by Keras name (``activations.get("relu")``)."""
from __future__ import annotations

from typing import Any, Callable

from . import ops
from ._lookup import resolve


def linear(x: Any) -> ops.Tensor:
    return ops.convert_to_tensor(x)


def relu(x: Any, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0) -> ops.Tensor:
    """Rectified linear unit with Keras' optional slope, cap and threshold."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return ops.relu(x)
    x = ops.convert_to_tensor(x)
    y = ops.where(ops.greater_equal(x, threshold), x, ops.multiply(ops.subtract(x, threshold), negative_slope))
    if max_value is not None:
        y = ops.minimum(y, max_value)
    return y


def tanh(x): return ops.tanh(x)
def sigmoid(x): return ops.sigmoid(x)
def hard_sigmoid(x): return ops.hard_sigmoid(x)
def softplus(x): return ops.softplus(x)
def softsign(x): return ops.softsign(x)
def elu(x, alpha: float = 1.0): return ops.elu(x, alpha)
def selu(x): return ops.selu(x)
def gelu(x, approximate: bool = False): return ops.gelu(x, approximate)
def silu(x): return ops.silu(x)
def swish(x): return ops.silu(x)
def exponential(x): return ops.exp(x)
def leaky_relu(x, negative_slope: float = 0.2): return ops.leaky_relu(x, negative_slope)


def softmax(x: Any, axis: int = -1) -> ops.Tensor:
    x = ops.convert_to_tensor(x)
    if x.ndim < 1:
        raise ValueError("softmax needs a tensor of rank >= 1, got a scalar.")
    return ops.softmax(x, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> ops.Tensor:
    return ops.log_softmax(x, axis=axis)


_TABLE: dict[str, Callable] = {
    "linear": linear, "relu": relu, "tanh": tanh, "sigmoid": sigmoid, "hard_sigmoid": hard_sigmoid,
    "softmax": softmax, "log_softmax": log_softmax, "softplus": softplus, "softsign": softsign,
    "elu": elu, "selu": selu, "gelu": gelu, "swish": swish, "silu": silu,
    "exponential": exponential, "leaky_relu": leaky_relu,
}


def get(identifier: Any) -> Callable:
    """The activation function for a name, a callable, or ``None`` (linear)."""
    if identifier is None:
        return linear
    return resolve("activation", identifier, _TABLE)


def serialize(fn: Callable) -> str:
    for name, f in _TABLE.items():
        if f is fn:
            return name
    return getattr(fn, "__name__", str(fn))
