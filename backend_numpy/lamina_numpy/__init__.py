"""The NumPy backend: the shared base class over ``numpy``, with host-speed overrides."""
from __future__ import annotations

import os
import platform

import numpy as np

from lamina.backends import philox
from lamina.backends.base import ArrayBackend, _norm_axis
from lamina.backends.conv import _lowest, _pool_geometry

from . import _memory

__all__ = ["NumpyBackend", "compiled_kernels"]


def _load_kernels():
    """The compiled helper (``_kernels.cpp``), or None when it was not built or is switched off
    with ``LAMINA_NUMPY_KERNELS=0``; the NumPy code below then computes the same bits."""
    if os.environ.get("LAMINA_NUMPY_KERNELS", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        from . import _kernels
    except ImportError:
        return None
    return _kernels


_KERNELS = _load_kernels()
# The clip ufunc np.clip calls after its argument checks (numpy._core in NumPy 2, numpy.core before).
_CLIP = getattr(getattr(getattr(np, "_core", None) or np.core, "umath", None), "clip", None) or np.clip
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_DENSE_GRAD_KINDS = {"linear": 0, "tanh": 1, "relu": 2}  # the helper's dense_grad kinds
# How the helper's bias-gradient sums start so that they are np.add.reduce(d, axis=0)'s bits: True
# for 0 + row 0 + row 1 ... (NumPy 2: a column of -0 sums to +0), False for row 0 + row 1 ..., None
# when neither matches this NumPy (the base class's sum then runs); "unchecked" until first needed.
_COLUMN_SUM_START: bool | None | str = "unchecked"


# Whether the helper's passes that call NumPy's own inner loops (dense_forward: bias, tanh or softmax and
# dropout with np.tanh's and np.exp's; ce_forward_loss: the cross-entropy with np.log's) give the base
# composition's bits on this NumPy; "unchecked" until first needed.
_NUMPY_LOOPS: bool | str = "unchecked"
_DENSE_FORWARD_MAX_ROW = 1 << 20  # bytes; wider rows take the composition (no row-sized scratch)
_DENSE_FORWARD_KINDS = {"linear": 0, "tanh": 1, "softmax": 2}  # the helper's dense_forward kinds


def _numpy_loops_ok() -> bool:
    """Check once that the helper runs np.tanh's, np.exp's and np.log's loops with NumPy's bits: both
    dtypes, blocks of whole rows and a row wider than a block, signed zeros, subnormals, saturation
    and cancellation in the bias addition; the softmax and the cross-entropy where the helper's row
    sums are NumPy's (else the backend never asks for them). Where anything differs (or the helper
    was built without NumPy's headers) the backend keeps the composition."""
    global _NUMPY_LOOPS
    try:
        ok = hasattr(_KERNELS, "dense_forward") and _KERNELS.use_numpy_loops(np.tanh, np.exp, np.log)
    except TypeError:  # a ufunc replaced by something that is not one (instrumentation): keep the replacement
        ok = False
    softmax = ok and (_ROW_SUM_EXACT if _ROW_SUM_EXACT is not None else _row_sum_is_numpys())
    with np.errstate(all="ignore"):  # the references underflow: whatever the caller's settings, no warning
        ok = _numpy_loops_bits(ok, softmax)
    _NUMPY_LOOPS = bool(ok)
    return _NUMPY_LOOPS


def _numpy_loops_bits(ok: bool, softmax: bool) -> bool:
    """_numpy_loops_ok's comparisons (ok: the loops are there; softmax: its row sums are NumPy's)."""
    rng = np.random.default_rng(20261205)
    for dtype in _KERNEL_DTYPES if ok else ():
        tiny = np.finfo(dtype).tiny
        for rows, units in ((1, 1), (3, 7), (37, 130), (2, 5000), (450, 10), (5, 128)):
            y = (rng.standard_normal((rows, units)) * rng.uniform(1e-3, 30, (rows, 1))).astype(dtype)
            b = (rng.standard_normal(units) * 3).astype(dtype)
            y.flat[::5] = -0.0
            y.flat[1::7] = tiny / 4
            y.flat[2::9] = -b[(np.arange(y.size)[2::9]) % units]  # y + b = 0
            y.flat[3::11] *= 1e3  # exp underflows to subnormals and zeros
            for bias in (b, None):
                got = y.copy()
                done = _KERNELS.dense_forward(got, bias, 1, None, None)
                want = np.tanh(y if bias is None else y + bias)
                ok = ok and done == (y.size, y.size) and got.tobytes() == want.tobytes()
                if softmax and units <= _SHORT_ROW:
                    got, out = y.copy(), np.empty_like(y)
                    done = _KERNELS.dense_forward(got, bias, 2, None, out)
                    z = y if bias is None else y + bias
                    want = np.exp(z - np.maximum.reduce(z, axis=-1, keepdims=True))
                    want /= np.add.reduce(want, axis=-1, keepdims=True)
                    ok = (ok and done == (y.size, y.size) and got.tobytes() == z.tobytes()
                          and out.tobytes() == want.tobytes())
        for rows, n in ((1, 1), (3, 7), (200, 10), (37, 128)) if softmax else ():
            ok = ok and _ce_forward_loss_matches(rng, rows, n, dtype)
    return ok


def _ce_forward_loss_matches(rng, rows: int, n: int, dtype) -> bool:
    """ce_forward_loss against the three calls it replaces (ce_forward, np.log, ce_loss) on
    softmax-like rows with entries clipped at both ends, one-hot and soft targets."""
    y = rng.uniform(0, 1, (rows, n)).astype(dtype) ** 8
    y.flat[::5] = 0.0
    y.flat[1::7] = 1.0
    y[:, -1] += y.dtype.type(0.25)  # no row sums to zero (its NaN goes to the composition, not compared here)
    target = np.eye(n, dtype=dtype)[rng.integers(0, n, rows)]
    target[::2] = (rng.uniform(0, 1, (rows, n)).astype(dtype))[::2]
    lo, hi = (float(v) for v in ArrayBackend._clip_bounds(1e-7, np.dtype(dtype)))
    got = [np.empty((rows, 1), dtype)] + [np.empty((rows, n), dtype) for _ in range(3)] + [np.empty(rows, dtype)]
    want = [np.empty((rows, 1), dtype)] + [np.empty((rows, n), dtype) for _ in range(2)]
    if not (_KERNELS.ce_forward_loss(y, target, *got, n, lo, hi) and _KERNELS.ce_forward(y, *want, n, lo, hi)):
        return False
    want.append(np.log(want[2]))
    want.append(np.empty(rows, dtype))
    return _KERNELS.ce_loss(target, want[3], want[4], n) and all(g.tobytes() == w.tobytes() for g, w in zip(got, want))


def compiled_kernels() -> bool:
    """Whether the NumPy backend runs its compiled optimizer updates and dropout masks."""
    return _KERNELS is not None

# Optimizer updates make several passes over each parameter; done in slices of this many
# elements, the passes hit L1/L2 cache instead of memory (measured: 1.7 ms → 0.8 ms per W1
# step for the 648k parameters of the MNIST MLP on a 2-core Skylake-X).
_CHUNK = 16384


# Reductions over a last axis this short run in the helper, one loop over all rows (NumPy sets up
# each row on its own: a softmax's row maximum over 10 classes, 200 rows, 11 -> 1.9 us; the row sum
# 5 -> 1 us). The same bits: the helper's sum follows NumPy's order for such rows (checked once
# against np.add.reduce, see _row_sum_is_numpys), and its maximum is used only where it is unique.
_SHORT_ROW = 128
_ROW_SUM_EXACT: bool | None = None  # None: not checked yet


def _short_rows(x, axis, keepdims=False):
    """``x`` as a 2-D (rows, n) array for a reduction over its last axis that the helper does, else None.

    The helper takes float32/float64 ndarrays whose last axis has 1 to 128 elements: a 2-D array
    with a unit inner stride and rows that do not overlap, or any C-contiguous array (as a view).
    ``keepdims`` other than a Python bool goes to NumPy, which judges it.
    """
    if type(x) is not np.ndarray or x.dtype not in _KERNEL_DTYPES or _KERNELS is None or type(keepdims) is not bool:
        return None
    if type(axis) is tuple or type(axis) is list:
        if len(axis) != 1:
            return None
        axis = axis[0]
    nd = x.ndim
    if type(axis) is not int or (axis != -1 and axis != nd - 1) or nd == 0:
        return None
    n = x.shape[-1]
    if not 0 < n <= _SHORT_ROW:
        return None
    if nd == 2 and _unit_rows(x):
        return x
    return x.reshape(-1, n) if x.flags.c_contiguous else None


def _unit_rows(a) -> bool:
    """Whether the 2-D array ``a``'s rows are what the helper reads as rows: a unit inner stride, and
    rows that do not overlap (contiguous, or a block of a wider array)."""
    rows, cols = a.shape
    return (cols <= 1 or a.strides[1] == a.itemsize) and (rows <= 1 or a.strides[0] >= cols * a.itemsize)


def _row_reduce(kernel: str, x, rows, keepdims: bool):
    """The helper's ``row_sum``/``row_max`` of ``rows`` (``x`` as (rows, n)), shaped as NumPy's
    reduction of ``x`` over its last axis; None where the helper leaves the answer to NumPy."""
    out = np.empty(rows.shape[0], x.dtype)
    if not getattr(_KERNELS, kernel)(rows, out):
        return None
    return out.reshape(x.shape[:-1] + ((1,) if keepdims else ()))


def _row_sum_is_numpys() -> bool:
    """Whether the helper's row sum gives np.add.reduce's bits on this NumPy (checked once: every row
    length it takes, both dtypes, random magnitudes, signed zeros, cancellation); if not, the
    backend keeps NumPy's reduction. (Sums that are not finite always go to NumPy.)"""
    global _ROW_SUM_EXACT
    rng = np.random.default_rng(20261203)
    exact = True
    for dtype in _KERNEL_DTYPES:
        for n in range(1, _SHORT_ROW + 1):
            x = (rng.standard_normal((6, n)) * rng.uniform(1e-3, 1e6, (6, 1))).astype(dtype)
            x[0] = -0.0
            x[1, ::2] = -0.0
            x[2, ::3] *= -1e4  # cancellation: the order of the additions shows in the bits
            got = np.empty(6, dtype)
            exact = exact and _KERNELS.row_sum(x, got) and got.tobytes() == np.add.reduce(x, axis=-1).tobytes()
    _ROW_SUM_EXACT = exact
    return exact


def _column_sum_start() -> bool | None:
    """How the helper's column sums must start to give np.add.reduce(x, axis=0)'s bits on this NumPy
    (see ``_COLUMN_SUM_START``), checked once: both dtypes, several shapes, signed zeros and
    cancellation, so both the start and the row-after-row order show in the bits."""
    global _COLUMN_SUM_START
    rng = np.random.default_rng(20261204)
    cases = []
    for dtype in _KERNEL_DTYPES:
        for rows, cols in ((1, 3), (2, 5), (9, 2), (33, 17), (200, 40)):  # one column: never the helper's sum
            x = (rng.standard_normal((rows, cols)) * rng.uniform(1e-3, 1e6, (1, cols))).astype(dtype)
            x[:, 0] = -0.0
            x[::3, 1 % cols] *= -1e4
            cases.append((x, np.add.reduce(x, axis=0).tobytes()))
    _COLUMN_SUM_START = None
    for start in (True, False):
        ok = True
        for x, want in cases:
            d, gb = np.empty_like(x), np.empty(x.shape[1:], x.dtype)
            ok = ok and _KERNELS.dense_grad(x, x, np.ones_like(x), 0, d, gb, start) and gb.tobytes() == want
        if ok:
            _COLUMN_SUM_START = start
            break
    return _COLUMN_SUM_START


class NumpyBackend(ArrayBackend):
    """CPU backend. Arrays are ``numpy.ndarray``; random bits come from NumPy's C Philox."""

    name = "numpy"
    xp = np
    host_sync_cheap = True

    def __init__(self) -> None:
        self._scratch: dict[np.dtype, np.ndarray] = {}

    def device_description(self) -> str:
        return f"CPU ({platform.machine() or 'unknown'}), NumPy {np.__version__}"

    def asarray(self, x, dtype=None):
        if hasattr(x, "__cuda_array_interface__") and not isinstance(x, np.ndarray):
            raise TypeError(
                "A GPU array was given to the NumPy backend; move it to the host first "
                "(e.g. cupy.asnumpy(x)) or set LAMINA_BACKEND=cupy."
            )
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, x):
        return np.asarray(x)

    # --- small ops without NumPy's Python-level wrappers ---------------------------------------
    # np.sum, np.max, np.clip, np.transpose, ... check their arguments in Python before they reach
    # the ufunc or method that does the work: 0.3-1 us per call, a few percent of the framework's
    # time per training step at small batches. The ufunc or method itself gives the same result.
    def sum(self, x, axis=None, keepdims=False):
        if x.dtype == np.float16:
            return super().sum(x, axis, keepdims)  # accumulated in float32
        rows = _short_rows(x, axis, keepdims) if _ROW_SUM_EXACT is not False else None
        if rows is not None and (_ROW_SUM_EXACT or _row_sum_is_numpys()):
            out = _row_reduce("row_sum", x, rows, keepdims)  # None: a sum is inf or NaN, NumPy's to form and warn about
            if out is not None:
                return out
        return np.asarray(np.add.reduce(x, axis=_norm_axis(axis), keepdims=keepdims))

    def max(self, x, axis=None, keepdims=False):
        self._check_nonempty("max", x, axis)
        rows = _short_rows(x, axis, keepdims)
        if rows is not None:
            out = _row_reduce("row_max", x, rows, keepdims)  # None: a NaN or a zero maximum, where NumPy's order decides
            if out is not None:
                return out
        return np.asarray(np.maximum.reduce(x, axis=_norm_axis(axis), keepdims=keepdims))

    def min(self, x, axis=None, keepdims=False):
        self._check_nonempty("min", x, axis)
        return np.asarray(np.minimum.reduce(x, axis=_norm_axis(axis), keepdims=keepdims))

    # softmax and log_softmax: the base class's steps in its order, with the reductions above (one
    # helper loop over a short last axis: the classes of a classifier) and the element-wise steps in
    # place. float16 keeps the base class's (this class sums it in float32); other axes its errors.
    def softmax(self, x, axis=-1):
        if type(x) is not np.ndarray or x.dtype not in _KERNEL_DTYPES or type(axis) is not int:
            return super().softmax(x, axis)
        e = np.subtract(x, self.max(x, axis, keepdims=True))
        np.exp(e, out=e)
        e /= self.sum(e, axis, keepdims=True)
        return e

    def log_softmax(self, x, axis=-1):
        if type(x) is not np.ndarray or x.dtype not in _KERNEL_DTYPES or type(axis) is not int:
            return super().log_softmax(x, axis)
        shifted = np.subtract(x, self.max(x, axis, keepdims=True))
        total = self.sum(np.exp(shifted), axis, keepdims=True)
        return np.subtract(shifted, np.log(total, out=total), out=shifted)

    # The classifier's output layer in one helper call each: softmax's gradient, and Keras'
    # cross-entropy of probabilities forward and backward. The base class's steps, in its order, in
    # one loop over rows of a short last axis (4 to 17 NumPy calls of a few microseconds each
    # before); anything the loops do not take, or any value on the way that is not finite (where
    # NumPy warns, and operand order picks the NaN), runs the base class's composition.
    def _class_rows(self, axis, *arrays):
        """The row length when every array is a C-contiguous float32/float64 ndarray (no subclass) of
        the first's shape and dtype with at least two axes, reduced over its last axis of 1 to 128
        elements with the helper's sum in NumPy's order; else None."""
        first = arrays[0]
        if not (all(type(a) is np.ndarray for a in arrays) and first.ndim >= 2 and self._compiled(first.dtype)
                and type(axis) is int and (axis == -1 or axis == first.ndim - 1) and self._blockable(*arrays)):
            return None
        n = first.shape[-1]
        if not 0 < n <= _SHORT_ROW or _ROW_SUM_EXACT is False or not (_ROW_SUM_EXACT or _row_sum_is_numpys()):
            return None
        return n

    def argmax_equal(self, a, b, dtype):
        n = self._class_rows(-1, a, b)
        if n is not None and np.dtype(dtype) == a.dtype:
            out = np.empty(a.shape[:-1], a.dtype)
            _KERNELS.argmax_equal(a, b, out, n)
            return out
        return super().argmax_equal(a, b, dtype)

    def softmax_grad(self, y, g, axis=-1):
        n = self._class_rows(axis, y, g)
        if n is not None:
            out = np.empty(y.shape, y.dtype)
            if _KERNELS.softmax_grad(y, g, out, n):
                return out
        return super().softmax_grad(y, g, axis)

    def categorical_crossentropy(self, target, y, epsilon, axis=-1):
        n = self._class_rows(axis, y, target)
        bounds = None if n is None else self._clip_bounds(epsilon, y.dtype)
        if bounds is not None:
            s = np.empty(y.shape[:-1] + (1,), y.dtype)
            p, c = np.empty(y.shape, y.dtype), np.empty(y.shape, y.dtype)
            if _numpy_loops_ok() if _NUMPY_LOOPS == "unchecked" else _NUMPY_LOOPS:
                # one call: ce_forward, NumPy's own log loop, ce_loss (the three calls below)
                logp, per = np.empty(y.shape, y.dtype), np.empty(y.shape[:-1], y.dtype)
                if _KERNELS.ce_forward_loss(y, target, s, p, c, logp, per, n, *map(float, bounds)):
                    return per, (s, p, c, logp)
            elif _KERNELS.ce_forward(y, s, p, c, n, *map(float, bounds)):
                logp = np.log(c)  # NumPy's log, as the base class's
                per = np.empty(y.shape[:-1], y.dtype)
                if _KERNELS.ce_loss(target, logp, per, n):
                    return per, (s, p, c, logp)
        return super().categorical_crossentropy(target, y, epsilon, axis)

    def categorical_crossentropy_grad(self, g, target, saved, epsilon, axis=-1):
        s, p, c, _ = saved
        n = self._class_rows(axis, target, p, c)
        bounds = None if n is None else self._clip_bounds(epsilon, p.dtype)
        if bounds is not None and type(g) is np.ndarray and type(s) is np.ndarray and self._ce_grad_layout(g, saved):
            out = np.empty(p.shape, p.dtype)
            # g is often a mean's gradient broadcast over the batch: a view of one value
            g = g if g.flags.c_contiguous else np.ascontiguousarray(g)
            if _KERNELS.ce_grad(target, g, s, p, c, out, n, *map(float, bounds)):
                return out
        return super().categorical_crossentropy_grad(g, target, saved, epsilon, axis)

    def clip(self, x, lo, hi):
        if lo is None or hi is None or getattr(x, "dtype", None) is None or x.dtype.kind != "f":
            # np.clip's one-sided forms, and integer arrays: np.clip drops a Python-int bound
            # outside the dtype's range, which the ufunc would refuse
            return super().clip(x, lo, hi)
        return _CLIP(x, lo, hi)

    def broadcast_to(self, x, shape):
        # A 0-d array to a shape (a mean's gradient over the batch, every training step): the read-only
        # zero-stride view np.broadcast_to makes, without its nditer setup (27-35 us inside a W1 step).
        if (type(x) is np.ndarray and x.ndim == 0 and not x.dtype.hasobject and type(shape) is tuple
                and all(type(n) is int and n >= 0 for n in shape)):
            out = np.ndarray(shape, x.dtype, buffer=x, strides=(0,) * len(shape))
            out.flags.writeable = False
            return out
        return super().broadcast_to(x, shape)

    def transpose(self, x, axes=None):
        return x.transpose(axes) if type(x) is np.ndarray else super().transpose(x, axes)

    def reshape(self, x, shape):
        return x.reshape(shape) if type(x) is np.ndarray else super().reshape(x, shape)

    # --- array memory from Lamina's cache during training and inference ----------------------
    def memory_scope(self, release: bool = False):
        """NumPy array data from the caching allocator (``_pool.cpp``) inside the block, so that a
        steady-state step takes no new memory from the system; ``LAMINA_NUMPY_POOL=0`` turns it
        off. ``release``: give the cache back when the outermost releasing scope ends (after fit,
        evaluate, predict), so nothing stays held once training is over."""
        return _memory.memory_scope(release=release)

    def release_memory(self) -> None:
        """Return the pool's cached blocks to the system (arrays in use are not touched)."""
        _memory.release_memory()

    # --- cache-blocked optimizer updates ---------------------------------------------------
    # Each update performs the same rounding steps, in the same order, as the base class and
    # the CUDA kernels (backend_cupy/.../optimizers.cu), so all backends agree bit for bit.
    def _chunks(self, *arrays: np.ndarray):
        """Yield matching flat slices of contiguous same-dtype arrays, plus two scratch slices."""
        dtype = arrays[0].dtype
        scratch = self._scratch.get(dtype)
        if scratch is None:
            scratch = self._scratch[dtype] = np.empty((2, _CHUNK), dtype=dtype)
        flats = [a.reshape(-1) for a in arrays]
        n = flats[0].size
        for lo in range(0, n, _CHUNK):
            hi = min(lo + _CHUNK, n)
            yield [f[lo:hi] for f in flats] + [scratch[0, :hi - lo], scratch[1, :hi - lo]]

    @staticmethod
    def _blockable(*arrays) -> bool:
        first = arrays[0]
        return all(isinstance(a, np.ndarray) and a.flags.c_contiguous and a.dtype == first.dtype
                   and a.shape == first.shape for a in arrays)

    @staticmethod
    def _compiled(dtype: np.dtype) -> bool:
        """Whether the helper takes arrays of ``dtype`` (callers have checked ``_blockable``)."""
        return _KERNELS is not None and dtype in _KERNEL_DTYPES

    def sgd_update(self, param, grad, velocity, lr, momentum, nesterov):
        arrays = (param, grad) if velocity is None else (param, grad, velocity)
        if not self._blockable(*arrays):
            return super().sgd_update(param, grad, velocity, lr, momentum, nesterov)
        t = param.dtype.type
        lr, m = t(lr), t(momentum)
        if self._compiled(param.dtype):  # one pass; the scalars rounded to the dtype first, as below
            mode = 0 if velocity is None else 2 if nesterov else 1
            _KERNELS.sgd((param,), (grad,), None if velocity is None else (velocity,), float(lr), float(m), mode)
            return
        for parts in self._chunks(*arrays):
            if velocity is None:
                p, g, s, _ = parts
                np.multiply(g, lr, out=s)
                p -= s
                continue
            p, g, v, step, s = parts
            np.multiply(g, lr, out=step)
            v *= m
            v -= step
            if nesterov:
                np.multiply(v, m, out=s)
                p += s
                p -= step
            else:
                p += v

    def adam_update(self, param, grad, m, v, vhat, alpha, beta_1, beta_2, epsilon):
        arrays = (param, grad, m, v) + (() if vhat is None else (vhat,))
        if not self._blockable(*arrays):
            return super().adam_update(param, grad, m, v, vhat, alpha, beta_1, beta_2, epsilon)
        t = param.dtype.type
        a, c1, c2, eps = t(alpha), t(1.0 - beta_1), t(1.0 - beta_2), t(epsilon)
        if self._compiled(param.dtype):
            _KERNELS.adam((param,), (grad,), (m,), (v,), None if vhat is None else (vhat,), float(a), float(c1),
                          float(c2), float(eps))
            return
        for parts in self._chunks(*arrays):
            p, g, mm, vv = parts[:4]
            s, d = parts[-2:]
            np.subtract(g, mm, out=s)
            s *= c1
            mm += s
            np.square(g, out=s)
            s -= vv
            s *= c2
            vv += s
            if vhat is not None:
                np.maximum(parts[4], vv, out=parts[4])
                np.sqrt(parts[4], out=d)
            else:
                np.sqrt(vv, out=d)
            d += eps
            np.multiply(mm, a, out=s)
            s /= d
            p -= s

    def adadelta_update(self, param, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon):
        if not (self._blockable(param, grad, accumulated_grad, accumulated_delta) and self._compiled(param.dtype)):
            return super().adadelta_update(param, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon)
        t = param.dtype.type  # the scalars rounded as NumPy rounds a Python float against the array
        _KERNELS.adadelta((param,), (grad,), (accumulated_grad,), (accumulated_delta,), float(t(lr)), float(t(rho)),
                          float(t(1.0 - rho)), float(t(epsilon)))

    def rmsprop_update(self, param, grad, velocity, lr, rho, epsilon):
        if not self._blockable(param, grad, velocity):
            return super().rmsprop_update(param, grad, velocity, lr, rho, epsilon)
        t = param.dtype.type
        lr, r, c, eps = t(lr), t(rho), t(1.0 - rho), t(epsilon)
        if self._compiled(param.dtype):
            _KERNELS.rmsprop((param,), (grad,), (velocity,), float(lr), float(r), float(c), float(eps))
            return
        for p, g, v, s, d in self._chunks(param, grad, velocity):
            v *= r
            np.square(g, out=s)
            s *= c
            v += s
            np.add(v, eps, out=d)
            np.sqrt(d, out=d)
            np.multiply(g, lr, out=s)
            s /= d
            p -= s

    # --- all parameters in one helper call ----------------------------------------------------
    # The helper checks every array (C-contiguous, float32/float64, each parameter's arrays of its
    # dtype and shape, one dtype for all) before it writes anything; when any check fails it
    # raises and nothing has changed, so the per-parameter code below takes over. A subclass that
    # replaces a single update (e.g. the float64 conformance backend) keeps it for every parameter.
    # (Checked on the class: a wrapper set on the instance, such as benchmarks.step_counts' call
    # counter, still calls the class's method and must not change what runs.)
    def _fused(self, name: str) -> bool:
        return _KERNELS is not None and getattr(type(self), name) is getattr(NumpyBackend, name)

    @staticmethod
    def _contiguous(grads):
        # a gradient is only read: a strided one (e.g. from a transpose) is copied, as the GPU does
        return [g if getattr(g, "flags", None) is None or g.flags.c_contiguous else np.ascontiguousarray(g)
                for g in grads]

    def _update_many(self, single: str, kernel: str, columns: list, scalars: tuple, *flags: int) -> bool:
        """The helper's ``kernel`` over ``columns`` (per-parameter lists: params, grads, then the
        states, None for an absent one), ``scalars`` rounded to the parameters' dtype first as in
        the single updates; False, with nothing changed, when the helper cannot take them."""
        if not (columns[0] and self._fused(single)):
            return False
        try:
            t = columns[0][0].dtype.type
            getattr(_KERNELS, kernel)(columns[0], self._contiguous(columns[1]), *columns[2:],
                                      *(float(t(v)) for v in scalars), *flags)
        except (TypeError, ValueError, AttributeError):
            return False
        return True

    def sgd_update_many(self, params, grads, velocities, lr, momentum, nesterov):
        mode = 0 if velocities is None else 2 if nesterov else 1
        if not self._update_many("sgd_update", "sgd", [params, grads, velocities], (lr, momentum), mode):
            super().sgd_update_many(params, grads, velocities, lr, momentum, nesterov)

    def adam_update_many(self, params, grads, ms, vs, vhats, alpha, beta_1, beta_2, epsilon):
        if not self._update_many("adam_update", "adam", [params, grads, ms, vs, vhats],
                                 (alpha, 1.0 - beta_1, 1.0 - beta_2, epsilon)):
            super().adam_update_many(params, grads, ms, vs, vhats, alpha, beta_1, beta_2, epsilon)

    def rmsprop_update_many(self, params, grads, velocities, lr, rho, epsilon):
        if not self._update_many("rmsprop_update", "rmsprop", [params, grads, velocities],
                                 (lr, rho, 1.0 - rho, epsilon)):
            super().rmsprop_update_many(params, grads, velocities, lr, rho, epsilon)

    # --- tanh's and relu's gradients in one pass instead of three ------------------------------
    def tanh_grad(self, y, g, out=None):
        done = self._activation_grad("tanh_grad", y, g, out)
        return super().tanh_grad(y, g, out) if done is None else done

    def relu_grad(self, y, g, out=None):
        done = self._activation_grad("relu_grad", y, g, out)
        return super().relu_grad(y, g, out) if done is None else done

    def _activation_grad(self, kernel: str, y, g, out):
        """The helper's one pass for plain C-contiguous arrays of one float dtype and shape with at
        least one axis (``out`` may be ``g`` or ``y`` itself, but no other overlap, and writable),
        else None: the base class's composition then runs (and keeps subclasses and 0-d scalars)."""
        if not (type(y) is np.ndarray and type(g) is np.ndarray and y.ndim and self._compiled(y.dtype)
                and self._blockable(y, g)
                and (out is None or (type(out) is np.ndarray and self._blockable(y, out)
                                     and self._writes_apart(out, y, g)))):
            return None
        if out is None:
            out = np.empty(g.shape, dtype=g.dtype)
        getattr(_KERNELS, kernel)(y, g, out)
        return out

    # --- sigmoid: NumPy's exp between two compiled passes ------------------------------------
    def sigmoid(self, x):
        if (type(x) is np.ndarray and x.ndim and self._compiled(x.dtype)  # a subclass keeps its type in the base
                and (x.flags.c_contiguous or (x.ndim == 2 and self._rows(x, x.dtype, x.shape)))):
            e = np.empty(x.shape, dtype=x.dtype)
            _KERNELS.sigmoid_prepare(x, e)  # -|x|
            np.exp(e, out=e)  # NumPy's own exp, so the bits are the base class's
            _KERNELS.sigmoid_finish(x, e)  # max(e, x >= 0) / (e + 1)
            return e
        return super().sigmoid(x)

    # --- one GRU step forward: the gates' sigmoids around one exp, the rest in two passes -------
    def gru_cell_forward(self, x, inner, h, h_out=None):
        if (self._compiled(getattr(h, "dtype", None)) and self._blockable(h) and h.ndim == 2
                and all(self._rows(a, h.dtype, (h.shape[0], 3 * h.shape[1])) for a in (x, inner))
                and (h_out is None or (self._blockable(h, h_out) and self._writes_apart(h_out, h)))):
            batch, units = h.shape
            pre, e = np.empty((2, batch, units), dtype=h.dtype), np.empty((2, batch, units), dtype=h.dtype)
            _KERNELS.gru_gates(x, inner, pre, e)  # pre = x + inner, e = -|pre| (blocks z and r)
            np.exp(e, out=e)  # NumPy's exp: the base class's bits
            _KERNELS.sigmoid_finish(pre, e)
            z, r = e[0], e[1]
            hh = np.empty(h.shape, dtype=h.dtype)
            _KERNELS.gru_candidate(x, inner, r, hh)  # x_h + r * inner_h
            np.tanh(hh, out=hh)
            h_new = np.empty(h.shape, dtype=h.dtype) if h_out is None else h_out
            _KERNELS.gru_mix(z, h, hh, h_new)  # z * h + (1 - z) * hh
            return z, r, hh, inner[:, 2 * units:], h_new
        return super().gru_cell_forward(x, inner, h, h_out)

    @staticmethod
    def _rows(a, dtype, shape) -> bool:
        """Whether ``a`` is a 2-D float array of ``shape`` and ``dtype`` whose rows the helper can read
        (unit inner stride; contiguous or a block of a wider array)."""
        return type(a) is np.ndarray and a.dtype == dtype and a.shape == shape and _unit_rows(a)

    # --- one GRU step backward in one pass -----------------------------------------------------
    def gru_cell_grad(self, z, r, hh, inner_h, h_prev, dh, dx, du):
        if (self._compiled(getattr(z, "dtype", None)) and z.ndim == 2 and self._blockable(z, r, hh, h_prev, dh)
                and self._blockable(dx, du) and dx.dtype == z.dtype and dx.shape == (z.shape[0], 3 * z.shape[1])
                and self._rows(inner_h, z.dtype, z.shape)
                and all(self._writes_apart(out, z, r, hh, inner_h, h_prev, dh) for out in (dx, du))):
            direct = np.empty(z.shape, dtype=z.dtype)
            _KERNELS.gru_cell_grad(z, r, hh, inner_h, h_prev, dh, dx, du, direct)
            return direct
        return super().gru_cell_grad(z, r, hh, inner_h, h_prev, dh, dx, du)

    # --- one LSTM step: the gates' sigmoids in two passes around one exp, the carry in one ----
    def lstm_cell_forward(self, z, c, axis=-1, h_out=None):
        if (self._compiled(getattr(c, "dtype", None)) and getattr(z, "ndim", 0) == 2 and axis % 2 == 1
                and self._blockable(c) and c.ndim == 2 and self._rows(z, c.dtype, (c.shape[0], 4 * c.shape[1]))
                and (h_out is None or (self._blockable(c, h_out) and h_out.flags.writeable))):
            batch, units = c.shape
            s = np.empty((3, batch, units), dtype=z.dtype)
            _KERNELS.lstm_gates(z, s, False)  # -|z| of gates i, f, o
            np.exp(s, out=s)  # NumPy's exp, as in sigmoid: the base class's bits
            _KERNELS.lstm_gates(z, s, True)
            i, f, o = s[0], s[1], s[2]
            g = np.tanh(z[:, 2 * units:3 * units])
            c_new = np.empty(c.shape, dtype=c.dtype)
            _KERNELS.lstm_carry(f, c, i, g, c_new)  # f * c + i * g
            tc = np.tanh(c_new)
            return i, f, g, o, c_new, tc, np.multiply(o, tc, out=h_out)
        return super().lstm_cell_forward(z, c, axis, h_out)

    # --- one LSTM step backward in one pass ----------------------------------------------------
    def lstm_cell_grad(self, i, f, g, o, tc, c, gh, gc, dz, axis=-1):
        gates = [a for a in (i, f, g, o, tc, c, gh, gc) if a is not None]
        if (len(gates) > 6 and self._compiled(getattr(i, "dtype", None)) and i.ndim == 2 and self._blockable(*gates)
                and isinstance(dz, np.ndarray) and dz.flags.c_contiguous and dz.dtype == i.dtype
                and dz.shape == (i.shape[0], 4 * i.shape[1]) and axis % 2 == 1 and self._writes_apart(dz, *gates)):
            dprev = np.empty(i.shape, dtype=i.dtype)
            _KERNELS.lstm_cell_grad(i, f, g, o, tc, c, gh, gc, dz, dprev)
            return dprev
        return super().lstm_cell_grad(i, f, g, o, tc, c, gh, gc, dz, axis)

    # --- max pooling's gradient in one pass (disjoint windows, 1-D and 2-D) ---------------------
    def max_pool_grad(self, x, pooled, grad, pool_size, strides=None, padding="valid"):
        g = _pool_geometry("max_pool_grad", x.shape, pool_size, strides, padding)
        if (_KERNELS is not None and g.nd in (1, 2) and all(s >= k for s, k in zip(g.strides, g.kernel))
                and all(type(a) is np.ndarray for a in (x, pooled, grad)) and x.dtype in _KERNEL_DTYPES
                and pooled.dtype == grad.dtype == x.dtype and pooled.shape == grad.shape == (g.n,) + g.out + (g.cin,)):
            xpad = np.ascontiguousarray(self._padded(x, g, _lowest(x.dtype)))
            dx = np.zeros((g.n,) + g.padded + (g.cin,), dtype=grad.dtype)
            lead = (1,) * (2 - g.nd)  # a 1-D pool is a 2-D one over a single row
            _KERNELS.max_pool_grad(xpad.reshape((g.n,) + lead + g.padded + (g.cin,)),
                                   np.ascontiguousarray(pooled).reshape((g.n,) + lead + g.out + (g.cin,)),
                                   np.ascontiguousarray(grad).reshape((g.n,) + lead + g.out + (g.cin,)),
                                   dx.reshape((g.n,) + lead + g.padded + (g.cin,)), lead + g.kernel, lead + g.strides)
            return self._crop(dx, g)
        return super().max_pool_grad(x, pooled, grad, pool_size, strides, padding)

    # --- batch gathers: rows fetched ahead of the copy ----------------------------------------
    def take(self, x, indices, axis=0):
        # The helper for whole rows of at least 256 bytes (a shuffled batch of images or feature
        # vectors); anything else, and any index NumPy would reject, goes to NumPy's take.
        # Object arrays never: a byte copy of their pointers would skip the reference counts.
        if (_KERNELS is not None and axis == 0 and type(x) is np.ndarray and x.ndim >= 2 and x.shape[0]
                and not x.dtype.hasobject and x.flags.c_contiguous and type(indices) is np.ndarray and indices.ndim == 1
                and indices.dtype == np.int64 and x.nbytes // x.shape[0] >= 256):
            out = np.empty((indices.shape[0],) + x.shape[1:], dtype=x.dtype)
            if _KERNELS.take_rows(x, x.shape[0], np.ascontiguousarray(indices), out):
                return out
        return super().take(x, indices, axis)

    # --- a Dense layer's backward pass up to its products: one pass -----------------------------
    def dense_activation_grad(self, y, g, activation, mask=None, bias=True):
        # The helper for tanh and relu (and a linear layer's dropout) on plain C-contiguous 2-D arrays
        # of one float dtype and shape; a value that is not finite reruns the base composition.
        kind = _DENSE_GRAD_KINDS.get(activation) if isinstance(activation, str) else None
        if (kind is not None and (kind or mask is not None) and type(y) is np.ndarray and type(g) is np.ndarray
                and y.ndim == 2 and y.shape[0] and self._compiled(y.dtype) and self._blockable(y, g)
                and (mask is None or (type(mask) is np.ndarray and self._blockable(y, mask)))):
            start = _column_sum_start() if _COLUMN_SUM_START == "unchecked" else _COLUMN_SUM_START
            # One column is a contiguous axis to NumPy, which sums it pairwise from 8 rows on: the
            # base class's sum keeps those bits (a one-unit Dense layer).
            if (start is not None and y.shape[1] > 1) or not bias:
                d = np.empty(y.shape, dtype=y.dtype)
                gb = np.empty(y.shape[1:], dtype=y.dtype) if bias else None
                if _KERNELS.dense_grad(y, g, mask, kind, d, gb, bool(start)):
                    return d, gb
        return super().dense_activation_grad(y, g, activation, mask, bias)

    # --- a Dense layer's bias, activation and dropout after its product: one pass ----------------
    def dense_activation(self, y, bias, activation, dropout=None):
        # The helper for tanh, linear and softmax on the product's own C-contiguous 2-D buffer, a bias
        # of its dtype (not overlapping it); where a value is not finite it stops at a row and NumPy
        # finishes. Rows of at most 1 MiB: the helper stages whole rows in a scratch block of its own.
        # Softmax as this class's softmax forms it, into a new array (y keeps y + bias), for rows of
        # at most 128 classes without dropout, where the helper's row sums are NumPy's, and only while
        # NumPy ignores underflow (its exp would warn or raise; the helper's call of its loop cannot).
        kind = _DENSE_FORWARD_KINDS.get(activation) if isinstance(activation, str) else None
        if (kind is not None and (kind or bias is not None or dropout is not None)
                and type(y) is np.ndarray and y.ndim == 2 and y.size and y.flags.c_contiguous and y.flags.writeable
                and y.shape[1] * y.itemsize <= _DENSE_FORWARD_MAX_ROW
                and self._compiled(y.dtype)
                and (bias is None or (type(bias) is np.ndarray and bias.shape == y.shape[1:] and bias.dtype == y.dtype
                                      and bias.flags.c_contiguous and not np.may_share_memory(y, bias)))
                and (kind != 2 or (dropout is None and y.shape[1] <= _SHORT_ROW and np.geterr()["under"] == "ignore"
                                   and (_ROW_SUM_EXACT if _ROW_SUM_EXACT is not None else _row_sum_is_numpys())))
                and (_numpy_loops_ok() if _NUMPY_LOOPS == "unchecked" else _NUMPY_LOOPS)):
            args = () if dropout is None else self._dropout_args(*dropout, y.dtype)
            if args is not None:
                mask = None if dropout is None else np.empty_like(y)
                out = None if mask is None and kind != 2 else np.empty_like(y)
                done_y, done_out = _KERNELS.dense_forward(y, bias, kind, mask, out, *args)
                if done_y < y.size:  # NumPy's add and activation for the rows from the first one not finite
                    rows = slice(done_y // y.shape[1], None)
                    if bias is not None:
                        np.add(y[rows], bias, out=y[rows])
                    if kind == 1:
                        np.tanh(y[rows], out=y[rows])
                    elif kind == 2:
                        out[rows] = self.softmax(y[rows], axis=-1)
                if kind == 2:
                    return out, out, None
                if mask is None:
                    return y, y, None
                if done_out < y.size:  # NumPy's product from the first row with one not finite
                    rows = slice(done_out // y.shape[1], None)
                    np.multiply(y[rows], mask[rows], out=out[rows])
                return y, out, mask
        return super().dense_activation(y, bias, activation, dropout)

    # --- dropout: the mask and its product in one call -----------------------------------------
    def dropout(self, x, rate, seed, counter):
        args = (self._dropout_args(rate, seed, counter, x.dtype)  # 0-d: NumPy's multiply returns a scalar, kept
                if type(x) is np.ndarray and x.ndim and x.size and x.flags.c_contiguous else None)
        if args is None:
            return super().dropout(x, rate, seed, counter)  # its checks and errors
        mask, out = np.empty(x.shape, dtype=x.dtype), np.empty(x.shape, dtype=x.dtype)
        if not _KERNELS.apply_dropout(x, mask, out, *args):
            np.multiply(x, mask, out=out)  # NumPy's own product where a value is not finite
        return out, mask

    # --- dropout masks: Philox words and the keep test in one pass ---------------------------
    def dropout_mask(self, shape, rate, seed, counter, dtype):
        args = self._dropout_args(rate, seed, counter, dtype)
        if args is None:
            return super().dropout_mask(shape, rate, seed, counter, dtype)  # its checks and errors
        out = np.empty(shape, dtype=np.dtype(dtype))
        if out.size:
            _KERNELS.dropout(out, *args)
        return out

    def _dropout_args(self, rate, seed, counter, dtype):
        """The helper's mask arguments after the array(s): the Philox key and counter words, the slot
        width and threshold, and the scale 1 / (1 - rate) rounded to ``dtype``; None where the base
        class must run (no helper for ``dtype``, a rate outside [0, 1))."""
        try:
            target = np.dtype(dtype)
            usable = self._compiled(target) and 0.0 <= float(rate) < 1.0
        except (TypeError, ValueError):
            return None
        if not usable:
            return None
        return (*philox.kernel_args(seed, counter), *philox.dropout_slot(rate), target.type(1.0 / (1.0 - rate)))
