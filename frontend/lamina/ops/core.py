"""Differentiable primitives (``lamina.ops``): a backend call forward, a VJP rule backward.

Every function accepts Tensors, backend arrays, host arrays or Python scalars and returns a
``Tensor``. A Python scalar takes the dtype of the tensor it meets (weak typing, as in Keras 3).
"""
from __future__ import annotations

import builtins
import math
from typing import Any, Sequence

from .. import _config
from .tape import B, SliceGradient, Tensor, make

Axis = int | Sequence[int] | None

__all__ = [
    "abs",
    "add",
    "argmax",
    "argmin",
    "broadcast_to",
    "cast",
    "clip",
    "concatenate",
    "convert_to_tensor",
    "cos",
    "divide",
    "dot",
    "equal",
    "erf",
    "exp",
    "expand_dims",
    "expm1",
    "floor",
    "full",
    "getitem",
    "greater",
    "greater_equal",
    "isfinite",
    "less",
    "less_equal",
    "log",
    "log1p",
    "logical_and",
    "logical_not",
    "logical_or",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "multiply",
    "negative",
    "not_equal",
    "one_hot",
    "ones",
    "ones_like",
    "pad",
    "power",
    "prod",
    "reshape",
    "round",
    "sign",
    "sin",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "stop_gradient",
    "subtract",
    "sum",
    "take",
    "transpose",
    "unbroadcast",
    "var",
    "where",
    "zeros",
    "zeros_like",
]

# --- conversion ----------------------------------------------------------------------------


def _is_float(dtype: str) -> bool:
    return dtype.startswith("float") or dtype == "bfloat16"


def convert_to_tensor(x: Any, dtype: str | None = None) -> Tensor:
    """A Tensor for ``x`` (Tensors pass through unless a different ``dtype`` is asked)."""
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == dtype else cast(x, dtype)
    if isinstance(x, (bool, int, float)) and dtype is None:
        dtype = _config.floatx() if isinstance(x, float) else ("bool" if isinstance(x, bool) else "int64")
    return Tensor(B().asarray(x, dtype=dtype))


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Convert two operands; a Python scalar adopts the other operand's dtype."""
    if isinstance(a, (int, float)) and not isinstance(a, bool) and not isinstance(b, (int, float)):
        b = convert_to_tensor(b)
        return Tensor(B().asarray(a, dtype=_scalar_dtype(a, b.dtype))), b
    if isinstance(b, (int, float)) and not isinstance(b, bool) and not isinstance(a, (int, float)):
        a = convert_to_tensor(a)
        return a, Tensor(B().asarray(b, dtype=_scalar_dtype(b, a.dtype)))
    return convert_to_tensor(a), convert_to_tensor(b)


def _scalar_dtype(scalar: Any, other: str) -> str:
    if isinstance(scalar, float) and not _is_float(other):
        return _config.floatx()
    return other


def _v(x: Any) -> Any:
    return x.value if isinstance(x, Tensor) else x


def unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``g`` down to ``shape`` (the adjoint of NumPy broadcasting)."""
    be = B()
    if tuple(g.shape) == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = be.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = be.sum(g, axis=axes, keepdims=True)
    return be.reshape(g, shape)


def _grads_for(a: Tensor, b: Tensor, ga: Any, gb: Any) -> tuple[Any, Any]:
    return (None if ga is None else unbroadcast(ga, a.shape),
            None if gb is None else unbroadcast(gb, b.shape))


# --- arithmetic ----------------------------------------------------------------------------


def add(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    return make(B().add(a.value, b.value), (a, b), lambda g: _grads_for(a, b, g, g))


def subtract(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    return make(B().subtract(a.value, b.value), (a, b),
                lambda g: _grads_for(a, b, g, B().negative(g)))


def multiply(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    be = B()
    return make(be.multiply(a.value, b.value), (a, b),
                lambda g: _grads_for(a, b, be.multiply(g, b.value) if a._tracked else None,
                                     be.multiply(g, a.value) if b._tracked else None))


def divide(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    be = B()
    out = be.divide(a.value, b.value)

    def vjp(g):
        ga = be.divide(g, b.value) if a._tracked else None
        gb = be.negative(be.divide(be.multiply(g, out), b.value)) if b._tracked else None
        return _grads_for(a, b, ga, gb)
    return make(out, (a, b), vjp)


def power(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    be = B()
    out = be.power(a.value, b.value)

    def vjp(g):
        ga = gb = None
        if a._tracked:
            ga = be.multiply(g, be.multiply(b.value, be.power(a.value, be.subtract(b.value, 1))))
        if b._tracked:
            safe = be.where(be.greater(a.value, 0), a.value, be.ones((), a.dtype))
            gb = be.multiply(g, be.multiply(out, be.log(safe)))
        return _grads_for(a, b, ga, gb)
    return make(out, (a, b), vjp)


def negative(x: Any) -> Tensor:
    x = convert_to_tensor(x)
    return make(B().negative(x.value), (x,), lambda g: (B().negative(g),))


def _unary(x: Any, forward: Any, derivative: Any) -> Tensor:
    """Element-wise op: ``derivative(x_value, out_value)`` gives dy/dx."""
    x = convert_to_tensor(x)
    out = forward(x.value)
    return make(out, (x,), lambda g: (B().multiply(g, derivative(x.value, out)),))


def abs(x: Any) -> Tensor:  # noqa: A001 - Keras name
    return _unary(x, B().abs, lambda x, y: B().sign(x))


def sign(x: Any) -> Tensor:
    return stop_gradient(Tensor(B().sign(_v(convert_to_tensor(x)))))


def square(x: Any) -> Tensor:
    return _unary(x, B().square, lambda x, y: B().multiply(x, 2))


def sqrt(x: Any) -> Tensor:
    return _unary(x, B().sqrt, lambda x, y: B().divide(0.5, y))


def exp(x: Any) -> Tensor:
    return _unary(x, B().exp, lambda x, y: y)


def log(x: Any) -> Tensor:
    return _unary(x, B().log, lambda x, y: B().divide(1.0, x))


def log1p(x: Any) -> Tensor:
    return _unary(x, B().log1p, lambda x, y: B().divide(1.0, B().add(x, 1.0)))


def expm1(x: Any) -> Tensor:
    return _unary(x, B().expm1, lambda x, y: B().add(y, 1.0))


def sin(x: Any) -> Tensor:
    return _unary(x, B().sin, lambda x, y: B().cos(x))


def cos(x: Any) -> Tensor:
    return _unary(x, B().cos, lambda x, y: B().negative(B().sin(x)))


def erf(x: Any) -> Tensor:
    c = 2.0 / math.sqrt(math.pi)
    return _unary(x, B().erf, lambda x, y: B().multiply(B().exp(B().negative(B().square(x))), c))


def maximum(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    be = B()
    out = be.maximum(a.value, b.value)

    def vjp(g):
        pick_a = be.greater_equal(a.value, b.value)  # ties go to the first operand
        zero = be.zeros((), g.dtype)
        return _grads_for(a, b, be.where(pick_a, g, zero), be.where(pick_a, zero, g))
    return make(out, (a, b), vjp)


def minimum(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    be = B()
    out = be.minimum(a.value, b.value)

    def vjp(g):
        pick_a = be.less_equal(a.value, b.value)
        zero = be.zeros((), g.dtype)
        return _grads_for(a, b, be.where(pick_a, g, zero), be.where(pick_a, zero, g))
    return make(out, (a, b), vjp)


def clip(x: Any, min_value: float, max_value: float) -> Tensor:
    """Values limited to [min_value, max_value]; the gradient passes on the closed interval."""
    x = convert_to_tensor(x)
    be = B()
    out = be.clip(x.value, min_value, max_value)

    def vjp(g):
        inside = be.logical_and(be.greater_equal(x.value, min_value), be.less_equal(x.value, max_value))
        return (be.where(inside, g, be.zeros((), g.dtype)),)
    return make(out, (x,), vjp)


def where(condition: Any, x1: Any, x2: Any) -> Tensor:
    cond = _v(convert_to_tensor(condition))
    a, b = _pair(x1, x2)
    be = B()

    def vjp(g):
        zero = be.zeros((), g.dtype)
        return _grads_for(a, b, be.where(cond, g, zero), be.where(cond, zero, g))
    return make(be.where(cond, a.value, b.value), (a, b), vjp)


def cast(x: Any, dtype: str) -> Tensor:
    x = convert_to_tensor(x)
    src = x.dtype
    out = B().cast(x.value, dtype)
    if not (_is_float(src) and _is_float(dtype)):
        return Tensor(out)
    return make(out, (x,), lambda g: (B().cast(g, src),))


def stop_gradient(x: Any) -> Tensor:
    return Tensor(_v(convert_to_tensor(x)))


# --- comparisons (no gradient) --------------------------------------------------------------


def _compare(fn_name: str, a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    return Tensor(getattr(B(), fn_name)(a.value, b.value))


def equal(a, b): return _compare("equal", a, b)
def not_equal(a, b): return _compare("not_equal", a, b)
def greater(a, b): return _compare("greater", a, b)
def greater_equal(a, b): return _compare("greater_equal", a, b)
def less(a, b): return _compare("less", a, b)
def less_equal(a, b): return _compare("less_equal", a, b)
def logical_and(a, b): return _compare("logical_and", a, b)
def logical_or(a, b): return _compare("logical_or", a, b)
def logical_not(x): return Tensor(B().logical_not(_v(convert_to_tensor(x))))
def isfinite(x): return Tensor(B().isfinite(_v(convert_to_tensor(x))))
def floor(x): return Tensor(B().floor(_v(convert_to_tensor(x))))
def round(x): return Tensor(B().round(_v(convert_to_tensor(x))))  # noqa: A001


# --- reductions ---------------------------------------------------------------------------


def _axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    out = []
    for a in axis:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor of rank {ndim}.")
        out.append(a % ndim if ndim else 0)
    return tuple(out)


def _expand_reduced(g: Any, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> Any:
    """Reshape a reduction's gradient so it broadcasts against the input."""
    be = B()
    if keepdims or getattr(g, "ndim", None) == 0:  # a 0-d gradient (a full reduction's) broadcasts as it is
        return g
    kept = list(shape)
    for a in _axes(axis, len(shape)):
        kept[a] = 1
    return be.reshape(g, tuple(kept))


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    x = convert_to_tensor(x)
    be = B()
    out = be.sum(x.value, axis=_tup(axis), keepdims=keepdims)
    return make(out, (x,), lambda g: (be.broadcast_to(_expand_reduced(g, x.shape, axis, keepdims), x.shape),))


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = convert_to_tensor(x)
    be = B()
    out = be.mean(x.value, axis=_tup(axis), keepdims=keepdims)
    n = math.prod(x.shape[a] for a in _axes(axis, x.ndim)) if x.ndim else 1

    def vjp(g):
        g = be.divide(_expand_reduced(g, x.shape, axis, keepdims), float(builtins.max(n, 1)))
        return (be.broadcast_to(g, x.shape),)
    return make(out, (x,), vjp)


def _extreme(fn_name: str, x: Any, axis: Axis, keepdims: bool) -> Tensor:
    x = convert_to_tensor(x)
    be = B()
    out = getattr(be, fn_name)(x.value, axis=_tup(axis), keepdims=keepdims)

    def vjp(g):
        o = _expand_reduced(out, x.shape, axis, keepdims)
        hit = be.cast(be.equal(x.value, o), x.dtype)
        count = be.sum(hit, axis=_tup(axis) if axis is not None else None, keepdims=True)
        share = be.divide(hit, count)  # ties share the gradient equally
        return (be.multiply(share, _expand_reduced(g, x.shape, axis, keepdims)),)
    return make(out, (x,), vjp)


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _extreme("max", x, axis, keepdims)


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _extreme("min", x, axis, keepdims)


def prod(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = convert_to_tensor(x)
    be = B()
    out = be.prod(x.value, axis=_tup(axis), keepdims=keepdims)

    def vjp(g):
        # d prod / d x_i = prod / x_i; exact for nonzero entries (zeros: see docs/ops.md).
        o = _expand_reduced(out, x.shape, axis, keepdims)
        return (be.multiply(_expand_reduced(g, x.shape, axis, keepdims), be.divide(o, x.value)),)
    return make(out, (x,), vjp)


def var(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    m = mean(x, axis=axis, keepdims=True)
    return mean(square(subtract(x, m)), axis=axis, keepdims=keepdims)


def std(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return sqrt(var(x, axis=axis, keepdims=keepdims))


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = convert_to_tensor(x)
    be = B()
    out = be.logsumexp(x.value, axis=_tup(axis), keepdims=keepdims)

    def vjp(g):
        o = _expand_reduced(out, x.shape, axis, keepdims)
        return (be.multiply(_expand_reduced(g, x.shape, axis, keepdims), be.exp(be.subtract(x.value, o))),)
    return make(out, (x,), vjp)


def argmax(x: Any, axis: int = -1) -> Tensor:
    return Tensor(B().argmax(_v(convert_to_tensor(x)), axis=axis))


def argmin(x: Any, axis: int = -1) -> Tensor:
    return Tensor(B().argmin(_v(convert_to_tensor(x)), axis=axis))


def _tup(axis: Axis) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


# --- linear algebra ----------------------------------------------------------------------


def matmul(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    be = B()
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul needs tensors of rank >= 1, got shapes {a.shape} and {b.shape}; use multiply for scalars.")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul shapes {a.shape} and {b.shape} do not line up: the last axis of the "
                         f"first ({a.shape[-1]}) must equal the {'second-to-last' if b.ndim > 1 else 'only'} "
                         f"axis of the second.")
    out = be.matmul(a.value, b.value)

    def vjp(g):
        av, bv = a.value, b.value
        if a.ndim == 1 and b.ndim == 1:  # inner product: g is 0-d
            return (be.multiply(g, bv) if a._tracked else None, be.multiply(g, av) if b._tracked else None)
        a2 = be.reshape(av, (1,) + a.shape) if a.ndim == 1 else av
        b2 = be.reshape(bv, b.shape + (1,)) if b.ndim == 1 else bv
        g2 = g
        if a.ndim == 1:
            g2 = be.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = be.expand_dims(g2, -1)
        ga = gb = None
        if a._tracked:
            ga = unbroadcast(be.matmul(g2, be.transpose(b2, _swap_last(b2.ndim))), a2.shape)
            ga = be.reshape(ga, a.shape)
        if b._tracked:
            gb = unbroadcast(be.matmul(be.transpose(a2, _swap_last(a2.ndim)), g2), b2.shape)
            gb = be.reshape(gb, b.shape)
        return ga, gb
    return make(out, (a, b), vjp)


def _swap_last(ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)


def dot(a: Any, b: Any) -> Tensor:
    return matmul(a, b)


# --- shapes -------------------------------------------------------------------------------


def reshape(x: Any, shape: Sequence[int]) -> Tensor:
    x = convert_to_tensor(x)
    shape = tuple(-1 if s is None else int(s) for s in shape)
    known = math.prod(s for s in shape if s != -1)
    size = math.prod(x.shape)
    if (-1 not in shape and known != size) or (-1 in shape and (known == 0 or size % known)):
        raise ValueError(f"Cannot reshape a tensor of shape {x.shape} ({size} values) to {shape}.")
    be = B()
    return make(be.reshape(x.value, shape), (x,), lambda g: (be.reshape(g, x.shape),))


def transpose(x: Any, axes: Sequence[int] | None = None) -> Tensor:
    x = convert_to_tensor(x)
    be = B()
    perm = tuple(range(x.ndim))[::-1] if axes is None else tuple(a % x.ndim for a in axes)
    inverse = tuple(perm.index(i) for i in range(len(perm)))
    return make(be.transpose(x.value, perm), (x,), lambda g: (be.transpose(g, inverse),))


def expand_dims(x: Any, axis: int) -> Tensor:
    x = convert_to_tensor(x)
    be = B()
    return make(be.expand_dims(x.value, axis), (x,), lambda g: (be.reshape(g, x.shape),))


def squeeze(x: Any, axis: Axis = None) -> Tensor:
    x = convert_to_tensor(x)
    be = B()
    return make(be.squeeze(x.value, axis=_tup(axis)), (x,), lambda g: (be.reshape(g, x.shape),))


def broadcast_to(x: Any, shape: Sequence[int]) -> Tensor:
    x = convert_to_tensor(x)
    be = B()
    return make(be.broadcast_to(x.value, tuple(shape)), (x,), lambda g: (unbroadcast(g, x.shape),))


def concatenate(xs: Sequence[Any], axis: int = -1) -> Tensor:
    ts = [convert_to_tensor(t) for t in xs]
    be = B()
    out = be.concatenate([t.value for t in ts], axis=axis)
    ax = axis % out.ndim
    bounds = []
    start = 0
    for t in ts:
        bounds.append((start, start + t.shape[ax]))
        start += t.shape[ax]

    def vjp(g):
        res = []
        for lo, hi in bounds:
            key = (slice(None),) * ax + (slice(lo, hi),)
            res.append(be.getitem(g, key))
        return tuple(res)
    return make(out, tuple(ts), vjp)


def stack(xs: Sequence[Any], axis: int = 0) -> Tensor:
    return concatenate([expand_dims(t, axis) for t in xs], axis=axis)


def getitem(x: Any, key: Any) -> Tensor:
    x = convert_to_tensor(x)
    be = B()
    key = _native_key(key)
    return make(be.getitem(x.value, key), (x,), lambda g: (SliceGradient(x.shape, key, g, x.dtype),))


def _native_key(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(_native_key(k) for k in key)
    if isinstance(key, Tensor):
        return key.value
    if isinstance(key, list):
        return B().asarray(key)
    return key


def take(x: Any, indices: Any, axis: int = 0) -> Tensor:
    x = convert_to_tensor(x)
    idx = _v(convert_to_tensor(indices))
    be = B()
    ax = axis % x.ndim

    def vjp(g):
        key = (slice(None),) * ax + (idx,)
        return (be.scatter_add(x.shape, key, g, x.dtype),)
    return make(be.take(x.value, idx, axis=ax), (x,), vjp)


def one_hot(indices: Any, num_classes: int, dtype: str | None = None) -> Tensor:
    idx = _v(convert_to_tensor(indices))
    return Tensor(B().one_hot(idx, int(num_classes), dtype or _config.floatx()))


def pad(x: Any, pad_width: Sequence[tuple[int, int]], constant_values: float = 0.0) -> Tensor:
    x = convert_to_tensor(x)
    be = B()
    pw = [tuple(p) for p in pad_width]
    key = tuple(slice(lo, lo + n) for (lo, _), n in zip(pw, x.shape))
    return make(be.pad(x.value, pw, constant_values), (x,), lambda g: (be.getitem(g, key),))


# --- creation ----------------------------------------------------------------------------


def zeros(shape: Sequence[int], dtype: str | None = None) -> Tensor:
    return Tensor(B().zeros(tuple(shape), dtype or _config.floatx()))


def ones(shape: Sequence[int], dtype: str | None = None) -> Tensor:
    return Tensor(B().ones(tuple(shape), dtype or _config.floatx()))


def zeros_like(x: Any, dtype: str | None = None) -> Tensor:
    x = convert_to_tensor(x)
    return zeros(x.shape, dtype or x.dtype)


def ones_like(x: Any, dtype: str | None = None) -> Tensor:
    x = convert_to_tensor(x)
    return ones(x.shape, dtype or x.dtype)


def full(shape: Sequence[int], fill_value: float, dtype: str | None = None) -> Tensor:
    return Tensor(B().full(tuple(shape), fill_value, dtype or _config.floatx()))
