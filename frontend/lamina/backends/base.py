"""``ArrayBackend``: every protocol op written once against an array namespace ``xp``.

NumPy and CuPy share this code; a subclass sets ``xp`` and overrides only what it does better
(a fused kernel, a faster random stream). Host-side random bits come from
:mod:`lamina.backends.philox`; a device backend overrides :meth:`random_bits`.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np

from . import philox
from .conv import ConvolutionMixin

_TWO_M24 = 2.0 ** -24
_TWO_M53 = 2.0 ** -53
_TWO_M32 = 2.0 ** -32


def _gate_block(a: Any, k: int, units: int, axis: int = -1) -> Any:
    """Gate block ``k`` (``units`` wide) of a recurrent step's array along ``axis``: a view."""
    ax = axis % a.ndim
    return a[(slice(None),) * ax + (slice(k * units, (k + 1) * units),)]


def address(a: Any) -> int:
    """The (host or device) address of an array's first element: NumPy's array interface or CuPy's
    memory pointer."""
    data = a.data
    return data.ptr if hasattr(data, "ptr") else a.__array_interface__["data"][0]


def _norm_axis(axis: Any) -> Any:
    if isinstance(axis, list):
        return tuple(axis)
    return axis


def _is_basic_key(key: Any) -> bool:
    """Whether ``key`` is NumPy basic indexing (ints, slices, ``...``, ``None``): no position twice."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, slice)
               or (isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))) for k in parts)


# The activations a Dense layer's one-call step applies (dense_activation and its gradient).
_DENSE_ACTIVATIONS = ("linear", "tanh", "sigmoid", "relu", "softmax")


class ArrayBackend(ConvolutionMixin):
    """Shared implementation of :class:`lamina.backends.protocol.Backend` over ``self.xp``."""

    name = "base"
    xp: Any = np
    host_sync_cheap = True
    # dtypes whose subnormal inputs read as zero and subnormal results flush to zero (a GPU compiled
    # with flush-to-zero); the conformance suite flushes its references for these
    flushed_subnormal_dtypes: tuple[str, ...] = ()

    # --- devices, creation and transfer -------------------------------------------------
    def device_description(self) -> str:
        return "host CPU"

    def synchronize(self) -> None:
        return None

    def can_hold(self, nbytes: int) -> bool:
        return True  # host memory: the data set is already there

    def memory_scope(self, release: bool = False) -> Any:
        return contextlib.nullcontext()  # the array library's own allocator serves

    def release_memory(self) -> None:
        return None  # nothing cached here

    def graph_step(self, function: Any) -> Any:
        return None  # a CPU runs the replayed step's calls as they are

    def is_array(self, x: Any) -> bool:
        return isinstance(x, self.xp.ndarray)

    def asarray(self, x: Any, dtype: str | None = None) -> Any:
        return self.xp.asarray(x, dtype=dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def zeros(self, shape, dtype):
        return self.xp.zeros(shape, dtype=dtype)

    def ones(self, shape, dtype):
        return self.xp.ones(shape, dtype=dtype)

    def full(self, shape, value, dtype):
        return self.xp.full(shape, value, dtype=dtype)

    def empty(self, shape, dtype):
        return self.xp.empty(shape, dtype=dtype)

    def arange(self, n, dtype):
        return self.xp.arange(n, dtype=dtype)

    def copy(self, x):
        return self.xp.array(x, copy=True)

    def cast(self, x, dtype):
        return self.xp.asarray(x).astype(dtype, copy=True)

    def dtype_name(self, x) -> str:
        return str(x.dtype)

    # --- element-wise ------------------------------------------------------------------
    def add(self, a, b, out=None):
        return self.xp.add(a, b, out=out)

    def subtract(self, a, b, out=None):
        return self.xp.subtract(a, b, out=out)

    def multiply(self, a, b, out=None):
        return self.xp.multiply(a, b, out=out)

    def divide(self, a, b, out=None):
        return self.xp.divide(a, b, out=out)

    def power(self, a, b):
        return self.xp.power(a, b)

    def maximum(self, a, b):
        return self.xp.maximum(a, b)

    def minimum(self, a, b):
        return self.xp.minimum(a, b)

    def negative(self, x):
        return self.xp.negative(x)

    def abs(self, x):
        return self.xp.abs(x)

    def sign(self, x):
        return self.xp.sign(x)

    def exp(self, x, out=None):
        return self.xp.exp(x, out=out)

    def log(self, x):
        return self.xp.log(x)

    def log1p(self, x):
        return self.xp.log1p(x)

    def expm1(self, x):
        return self.xp.expm1(x)

    def sqrt(self, x):
        return self.xp.sqrt(x)

    def square(self, x):
        return self.xp.square(x)

    def sin(self, x):
        return self.xp.sin(x)

    def cos(self, x):
        return self.xp.cos(x)

    def tanh(self, x, out=None):
        return self.xp.tanh(x, out=out)

    def tanh_grad(self, y, g, out=None):
        xp = self.xp
        if not isinstance(y, xp.ndarray):  # a Python number stays weakly typed, as in multiply
            y = float(y)
            return xp.multiply(g, 1.0 - y * y, out=out)
        d = xp.square(y)
        if isinstance(d, xp.ndarray):  # a 0-d input squares to a scalar, which has no out=
            xp.subtract(1.0, d, out=d)
        else:
            d = 1.0 - d
        return xp.multiply(g, d, out=out)

    def relu_grad(self, y, g, out=None):
        if not hasattr(y, "dtype"):  # a Python number: a Python bool mask, weak in multiply (g's dtype)
            return self.multiply(g, bool(y > 0), out=out)
        return self.multiply(g, self.cast(self.greater(y, 0), y.dtype), out=out)

    def sigmoid(self, x):
        xp = self.xp
        # exp(-|x|) never overflows; pick the algebraically equal form that avoids cancellation:
        # 1 / (1 + e) for x >= 0, e / (1 + e) below, as one division of the chosen numerator (the
        # same two operands, so the same bits as dividing each form and choosing after). e is at
        # most 1, so the larger of e and the 0/1 indicator of x >= 0 is that numerator: no select,
        # whose branches on random signs cost NumPy ~4 ns an element (np.where, 128 x 512: 270 us).
        dtype = x.dtype
        if dtype.kind == "u":  # -abs(x) would wrap around
            x = x.astype("float64")
        e = xp.exp(-xp.abs(x))
        numerator = xp.maximum(e, (x >= 0).astype(e.dtype))
        if not isinstance(e, xp.ndarray):  # a 0-d input gives scalars, which have no out=
            return xp.asarray(numerator / (e + 1.0)).astype(dtype, copy=False)
        return xp.divide(numerator, xp.add(e, 1.0, out=e), out=numerator).astype(dtype, copy=False)

    def erf(self, x):
        # NumPy has no erf; the Python float64 erf is exact to an ulp and fast enough for the
        # rare layer that needs it. Device backends override this with a native kernel.
        x = self.xp.asarray(x)
        host = np.asarray(self.to_numpy(x), dtype=np.float64)
        out = np.asarray(np.frompyfunc(math.erf, 1, 1)(host), dtype=np.float64) if host.size else host
        return self.xp.asarray(out.astype(x.dtype, copy=False).reshape(x.shape))

    def clip(self, x, lo, hi):
        return self.xp.clip(x, lo, hi)

    def where(self, cond, a, b):
        return self.xp.where(cond, a, b)

    def equal(self, a, b):
        return self.xp.equal(a, b)

    def not_equal(self, a, b):
        return self.xp.not_equal(a, b)

    def greater(self, a, b):
        return self.xp.greater(a, b)

    def greater_equal(self, a, b):
        return self.xp.greater_equal(a, b)

    def less(self, a, b):
        return self.xp.less(a, b)

    def less_equal(self, a, b):
        return self.xp.less_equal(a, b)

    def logical_and(self, a, b):
        return self.xp.logical_and(a, b)

    def logical_or(self, a, b):
        return self.xp.logical_or(a, b)

    def logical_not(self, x):
        return self.xp.logical_not(x)

    def isfinite(self, x):
        return self.xp.isfinite(x)

    def floor(self, x):
        return self.xp.floor(x)

    def round(self, x):
        return self.xp.round(x)

    # --- reductions ----------------------------------------------------------------------
    def _reduce(self, fn, x, axis, keepdims, **kw):
        return self.xp.asarray(fn(x, axis=_norm_axis(axis), keepdims=keepdims, **kw))

    def sum(self, x, axis=None, keepdims=False):
        if x.dtype == self.xp.float16:
            return self._reduce(self.xp.sum, x, axis, keepdims, dtype="float32").astype(x.dtype)
        return self._reduce(self.xp.sum, x, axis, keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return self._reduce(self.xp.mean, x, axis, keepdims)

    def _check_nonempty(self, op, x, axis):
        if x.size:  # no axis of a non-empty array is empty (the common case, checked for free)
            return
        axes = range(x.ndim) if axis is None else np.atleast_1d(_norm_axis(axis))
        if any(x.shape[a] == 0 for a in axes) if x.ndim else False:
            raise ValueError(f"{op} of an empty axis is undefined: got shape {tuple(x.shape)} "
                             f"with axis={axis}; check the input is not empty.")

    def max(self, x, axis=None, keepdims=False):
        self._check_nonempty("max", x, axis)
        return self._reduce(self.xp.max, x, axis, keepdims)

    def min(self, x, axis=None, keepdims=False):
        self._check_nonempty("min", x, axis)
        return self._reduce(self.xp.min, x, axis, keepdims)

    def prod(self, x, axis=None, keepdims=False):
        return self._reduce(self.xp.prod, x, axis, keepdims)

    def argmax(self, x, axis=-1):
        self._check_nonempty("argmax", x, axis)
        # the array's method: xp.argmax's Python wrapper costs more than the search on small arrays
        return self.xp.asarray(self.xp.asarray(x).argmax(axis=axis)).astype("int64", copy=False)

    def argmin(self, x, axis=-1):
        self._check_nonempty("argmin", x, axis)
        return self.xp.asarray(self.xp.argmin(x, axis=axis)).astype("int64", copy=False)

    def all_finite(self, x):
        return self.xp.asarray(self.xp.isfinite(x).all())

    def logsumexp(self, x, axis=None, keepdims=False):
        xp = self.xp
        axis = _norm_axis(axis)
        if x.size == 0:  # the identity of logsumexp is -inf
            out = xp.full(xp.sum(x, axis=axis, keepdims=keepdims).shape, -xp.inf, dtype=x.dtype)
            return out
        m = xp.max(x, axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
        if not keepdims:
            out = xp.squeeze(out, axis=axis) if axis is not None else out.reshape(())
        return xp.asarray(out)

    # --- linear algebra ------------------------------------------------------------------
    def matmul(self, a, b, out=None):
        return self.xp.matmul(a, b, out=out)

    # --- shapes and indexing -------------------------------------------------------------
    def reshape(self, x, shape):
        return self.xp.reshape(x, shape)

    def transpose(self, x, axes=None):
        return self.xp.transpose(x, axes)

    def expand_dims(self, x, axis):
        return self.xp.expand_dims(x, axis)

    def squeeze(self, x, axis=None):
        return self.xp.squeeze(x, axis=_norm_axis(axis))

    def broadcast_to(self, x, shape):
        return self.xp.broadcast_to(x, shape)

    def concatenate(self, xs, axis=-1):
        return self.xp.concatenate(list(xs), axis=axis)

    def stack(self, xs, axis=0):
        return self.xp.stack(list(xs), axis=axis)

    def take(self, x, indices, axis=0):
        return self.xp.take(x, indices, axis=axis)

    def getitem(self, x, key):
        return self.xp.asarray(x[key])

    def scatter_add(self, shape, key, values, dtype, out=None):
        if out is None:
            out = self.xp.zeros(shape, dtype=dtype)
        if _is_basic_key(key):  # each position at most once: a plain in-place add (ufunc.at is ~10x slower)
            out[key] += values
        else:
            self.xp.add.at(out, key, values)
        return out

    def pad(self, x, pad_width, value=0.0):
        return self.xp.pad(x, [tuple(p) for p in pad_width], constant_values=value)

    def one_hot(self, indices, depth, dtype):
        xp = self.xp
        indices = xp.asarray(indices)
        return (indices[..., None] == xp.arange(depth)).astype(dtype)

    # --- neural-network primitives -------------------------------------------------------
    def softmax(self, x, axis=-1):
        xp = self.xp
        e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
        e /= xp.sum(e, axis=axis, keepdims=True)
        return e

    def log_softmax(self, x, axis=-1):
        xp = self.xp
        shifted = x - xp.max(x, axis=axis, keepdims=True)
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))

    @staticmethod
    def _clip_bounds(epsilon, dtype):
        """``(epsilon, 1 - epsilon)`` rounded to ``dtype`` as a Python float is for ``dtype``'s clip
        and comparisons, when both are positive (so the clipped values have a finite log); else
        None. For the one-pass cross-entropy of a backend: anything else (a NumPy float64 scalar,
        which is not weak in NumPy 2, NaN, bounds of 0 or less) takes this class's composition."""
        if type(epsilon) is not float:
            return None
        t = dtype.type
        lo, hi = t(epsilon), t(1.0 - epsilon)
        return (lo, hi) if lo > 0 and hi > 0 else None

    def argmax_equal(self, a, b, dtype):
        return self.cast(self.equal(self.argmax(a, axis=-1), self.argmax(b, axis=-1)), dtype)

    @staticmethod
    def _ce_grad_layout(g, saved) -> bool:
        """Whether ``categorical_crossentropy_grad``'s ``g`` and saved ``s`` are laid out as a one-pass
        kernel reads them: one value per row of ``p`` in ``p``'s dtype, ``s`` C-contiguous. (Each
        backend checks first that they are its own arrays, and ``p``'s layout.)"""
        s, p = saved[0], saved[1]
        return (g.dtype == s.dtype == p.dtype and g.shape == p.shape[:-1] and s.shape == g.shape + (1,)
                and s.flags.c_contiguous)

    def dense_activation(self, y, bias, activation, dropout=None):
        if activation not in _DENSE_ACTIVATIONS:
            raise ValueError(f"dense_activation supports linear, tanh, relu, sigmoid and softmax, got {activation!r}.")
        if bias is not None:
            self.add(y, bias, out=y)
        if activation == "tanh":
            self.tanh(y, out=y)
        elif activation == "sigmoid":
            y = self.sigmoid(y)
        elif activation == "relu":
            y = self.maximum(y, self.zeros((), y.dtype))
        elif activation == "softmax":
            y = self.softmax(y, axis=-1)
        if dropout is None:
            return y, y, None
        out, mask = self.dropout(y, *dropout)
        return y, out, mask

    def dense_activation_grad(self, y, g, activation, mask=None, bias=True):
        if mask is not None:
            g = self.multiply(g, mask)
        if activation == "tanh":
            d = self.tanh_grad(y, g)
        elif activation == "relu":
            d = self.relu_grad(y, g)
        elif activation == "softmax":
            d = self.softmax_grad(y, g, axis=-1)
        elif activation == "sigmoid":
            d = self._sigmoid_grad(y, g)
        elif activation == "linear":
            d = g
        else:
            raise ValueError(f"dense_activation_grad supports linear, tanh, relu, sigmoid and softmax, "
                             f"got {activation!r}.")
        return d, (self.sum(d, axis=(0,)) if bias else None)

    def softmax_grad(self, y, g, axis=-1):
        gy = self.multiply(g, y)
        return self.subtract(gy, self.multiply(y, self.sum(gy, axis=axis, keepdims=True)))

    def categorical_crossentropy(self, target, y, epsilon, axis=-1):
        s = self.sum(y, axis=axis, keepdims=True)
        p = self.divide(y, s)
        c = self.clip(p, epsilon, 1.0 - epsilon)
        logp = self.log(c)
        per = self.negative(self.sum(self.multiply(target, logp), axis=axis))
        return per, (s, p, c, logp)

    def categorical_crossentropy_grad(self, g, target, saved, epsilon, axis=-1):
        s, p, c, _ = saved
        g = self.reshape(self.negative(g), s.shape)  # negative, then sum's VJP, kept (..., 1, ...)
        g = self.multiply(self.multiply(g, target), self.divide(1.0, c))  # multiply's, then log's VJP
        inside = self.logical_and(self.greater_equal(p, epsilon), self.less_equal(p, 1.0 - epsilon))
        g = self.where(inside, g, self.zeros((), g.dtype))  # clip's VJP
        gs = self.negative(self.divide(self.multiply(g, p), s))  # divide's VJP for the divisor ...
        gs = self.sum(gs, axis=(axis % p.ndim,), keepdims=True)
        return self.add(self.divide(g, s), gs)  # ... and the sum's (gs broadcast over the axis)

    def gru_cell_forward(self, x, inner, h, h_out=None):
        units = h.shape[-1]
        z = self.sigmoid(self.add(_gate_block(x, 0, units), _gate_block(inner, 0, units)))
        r = self.sigmoid(self.add(_gate_block(x, 1, units), _gate_block(inner, 1, units)))
        inner_h = _gate_block(inner, 2, units)
        hh = self.tanh(self.add(_gate_block(x, 2, units), self.multiply(r, inner_h)))
        h_new = self.add(self.multiply(z, h), self.multiply(self.subtract(1.0, z), hh), out=h_out)
        return z, r, hh, inner_h, h_new

    def gru_cell_grad(self, z, r, hh, inner_h, h_prev, dh, dx, du):
        units = z.shape[-1]
        d_pre_h = self.tanh_grad(hh, self.multiply(dh, self.subtract(1.0, z)), out=_gate_block(dx, 2, units))
        self._sigmoid_grad(z, self.multiply(dh, self.subtract(h_prev, hh)), _gate_block(du, 0, units))
        self._sigmoid_grad(r, self.multiply(d_pre_h, inner_h), _gate_block(du, 1, units))
        self.multiply(d_pre_h, r, out=_gate_block(du, 2, units))
        self.assign(dx[..., :2 * units], du[..., :2 * units])
        return self.multiply(dh, z)  # through h = z * h_prev + ...

    def _sigmoid_grad(self, y, upstream, out=None):
        """``upstream * (y * (1 - y))`` into ``out`` (else one new array), each step rounded on its own."""
        d = self.subtract(1.0, y)
        self.multiply(y, d, out=d)
        return self.multiply(upstream, d, out=d if out is None else out)

    def lstm_cell_forward(self, z, c, axis=-1, h_out=None):
        units = z.shape[axis % z.ndim] // 4
        i, f = self.sigmoid(_gate_block(z, 0, units, axis)), self.sigmoid(_gate_block(z, 1, units, axis))
        g, o = self.tanh(_gate_block(z, 2, units, axis)), self.sigmoid(_gate_block(z, 3, units, axis))
        c_new = self.add(self.multiply(f, c), self.multiply(i, g))
        tc = self.tanh(c_new)
        return i, f, g, o, c_new, tc, self.multiply(o, tc, out=h_out)

    def lstm_cell_grad(self, i, f, g, o, tc, c, gh, gc, dz, axis=-1):
        if gh is None and gc is None:
            raise ValueError("lstm_cell_grad needs the gradient of h (gh), of c_new (gc), or both; got neither.")
        units = dz.shape[axis % dz.ndim] // 4
        blocks = [_gate_block(dz, k, units, axis) for k in range(4)]
        if gh is None:
            dc = gc
            self.assign(blocks[3], self.zeros((), dz.dtype))
        else:
            dc = self.tanh_grad(tc, self.multiply(gh, o))  # through h = o * tanh(c_new)
            if gc is not None:
                self.add(dc, gc, out=dc)
            self._sigmoid_grad(o, self.multiply(gh, tc), blocks[3])
        self._sigmoid_grad(i, self.multiply(dc, g), blocks[0])
        self._sigmoid_grad(f, self.multiply(dc, c), blocks[1])
        self.tanh_grad(g, self.multiply(dc, i), out=blocks[2])
        return self.multiply(dc, f)

    def _writes_apart(self, out, *inputs) -> bool:
        """Whether a one-pass loop or kernel may write ``out`` while reading ``inputs`` (None
        allowed): ``out`` is writable and shares no memory with them. The compositions above read
        every input whole before they write; an element-wise pass would read what it already wrote.
        An input that is ``out`` itself, element for element, is fine: each element is read first."""
        if not getattr(out.flags, "writeable", True):  # CuPy arrays have no such flag: always writable
            return False
        for a in inputs:
            if a is not None and self.xp.may_share_memory(out, a) and not (  # bounds first: cheap, nearly always False
                    a.shape == out.shape and a.strides == out.strides and address(a) == address(out)):
                return False
        return True

    # --- in-place parameter updates ------------------------------------------------------
    def assign(self, dst, src):
        dst[...] = src

    def sgd_update(self, param, grad, velocity, lr, momentum, nesterov):
        xp = self.xp
        t = param.dtype.type
        step = xp.multiply(grad, t(lr))  # the one temporary: lr * g
        if velocity is None:
            param -= step
            return
        velocity *= t(momentum)
        velocity -= step
        if nesterov:  # p += m * v_new, then p -= lr * g (the order the CUDA kernel rounds in)
            param += velocity * t(momentum)
            param -= step
        else:
            param += velocity

    def adam_update(self, param, grad, m, v, vhat, alpha, beta_1, beta_2, epsilon):
        xp = self.xp
        t = param.dtype.type
        m += (grad - m) * t(1.0 - beta_1)
        v += (xp.square(grad) - v) * t(1.0 - beta_2)
        if vhat is not None:
            xp.maximum(vhat, v, out=vhat)
            denom = xp.sqrt(vhat)
        else:
            denom = xp.sqrt(v)
        denom += t(epsilon)
        param -= t(alpha) * m / denom

    def rmsprop_update(self, param, grad, velocity, lr, rho, epsilon):
        xp = self.xp
        t = param.dtype.type
        velocity *= t(rho)
        velocity += t(1.0 - rho) * xp.square(grad)
        param -= (t(lr) * grad) / xp.sqrt(velocity + t(epsilon))

    def adadelta_update(self, param, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon):
        a, dd = accumulated_grad, accumulated_delta
        self.multiply(a, rho, out=a)
        self.add(a, self.multiply(self.square(grad), 1.0 - rho), out=a)
        # d is the step before the learning rate (Keras' delta_var with the sign flipped)
        d = self.divide(self.multiply(self.sqrt(self.add(dd, epsilon)), grad), self.sqrt(self.add(a, epsilon)))
        self.multiply(dd, rho, out=dd)
        self.add(dd, self.multiply(self.square(d), 1.0 - rho), out=dd)
        self.subtract(param, self.multiply(d, lr), out=param)

    # Several parameters: the single update, one parameter after another. Backends with a fused
    # form (the NumPy helper, the CUDA kernels) override these and keep this as their fallback.
    def sgd_update_many(self, params, grads, velocities, lr, momentum, nesterov):
        for i, (p, g) in enumerate(zip(params, grads)):
            self.sgd_update(p, g, None if velocities is None else velocities[i], lr, momentum, nesterov)

    def adam_update_many(self, params, grads, ms, vs, vhats, alpha, beta_1, beta_2, epsilon):
        for i, (p, g) in enumerate(zip(params, grads)):
            self.adam_update(p, g, ms[i], vs[i], None if vhats is None else vhats[i], alpha, beta_1,
                             beta_2, epsilon)

    def rmsprop_update_many(self, params, grads, velocities, lr, rho, epsilon):
        for p, g, v in zip(params, grads, velocities):
            self.rmsprop_update(p, g, v, lr, rho, epsilon)

    # --- randomness ----------------------------------------------------------------------
    def random_bits(self, seed, counter, n):
        return self.xp.asarray(philox.philox_words(seed, counter, n))

    @staticmethod
    def _size(shape) -> int:
        return int(math.prod(shape))

    def random_uniform(self, shape, seed, counter, dtype, minval=0.0, maxval=1.0):
        xp = self.xp
        w = self.random_bits(seed, counter, self._size(shape))
        if np.dtype(dtype) == np.float64:
            u = (w >> xp.uint64(11)).astype("float64") * _TWO_M53
        else:
            u = (w >> xp.uint64(40)).astype("float32") * xp.float32(_TWO_M24)
        u = u.reshape(shape)
        if minval != 0.0 or maxval != 1.0:
            u = u.dtype.type(minval) + u.dtype.type(maxval - minval) * u
        return u.astype(dtype, copy=False)

    def random_normal(self, shape, seed, counter, dtype, mean=0.0, stddev=1.0):
        xp = self.xp
        w = self.random_bits(seed, counter, self._size(shape))
        u1 = ((w >> xp.uint64(32)).astype("float64") + 1.0) * _TWO_M32
        u2 = (w & xp.uint64(0xFFFFFFFF)).astype("float64") * _TWO_M32
        z = xp.sqrt(-2.0 * xp.log(u1)) * xp.cos(2.0 * math.pi * u2)
        return (mean + stddev * z).reshape(shape).astype(dtype, copy=False)

    def dropout_mask(self, shape, rate, seed, counter, dtype):
        xp = self.xp
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"dropout_mask rate must be in [0, 1), got {rate}.")
        n = self._size(shape)
        # As few bits per element as decide the keep exactly (philox.py): 1 at rate 0.5, 32 at 0.2.
        bits, threshold = philox.dropout_slot(rate)
        words = self.random_bits(seed, counter, philox.dropout_words(n, bits))
        scale = xp.asarray(1.0 / (1.0 - rate), dtype=dtype)
        if bits <= 8:  # each byte holds 8 / bits slots: look its mask values up in a 256-row table
            codes = philox.dropout_slots(xp.arange(256, dtype=xp.uint8), bits, xp).reshape(256, 8 // bits)
            table = philox.keep_from_slots(codes, threshold, xp) * scale
            return xp.take(table, philox.little_endian_bytes(words, xp), axis=0).reshape(-1)[:n].reshape(shape)
        keep = philox.keep_from_slots(philox.dropout_slots(words, bits, xp)[:n], threshold, xp)
        out = xp.empty(shape, dtype=dtype)
        xp.multiply(keep.reshape(shape), scale, out=out)
        return out

    def dropout(self, x, rate, seed, counter):
        mask = self.dropout_mask(x.shape, rate, seed, counter, x.dtype)
        return self.multiply(x, mask), mask

    # --- data formats --------------------------------------------------------------------
    def to_channels_last(self, x):
        return self.xp.moveaxis(x, 1, -1)

    def to_channels_first(self, x):
        return self.xp.moveaxis(x, -1, 1)
