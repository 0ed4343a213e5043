"""``CupyBackend``: the shared base class over CuPy, with cuBLAS and fused CUDA kernels."""
from __future__ import annotations

import importlib
import logging
import os
import weakref
from typing import Any

import numpy as np

from lamina.backends import BackendUnavailableError, philox
from lamina.backends.base import ArrayBackend, address

from . import _availability
from ._kernels import KernelLibrary, philox_kernel_args

logger = logging.getLogger("lamina.cupy")

_U64 = np.uint64
_FLOAT_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
_DENSE_GRAD_KINDS = {"linear": 0, "tanh": 1, "relu": 2}  # activations.cu's lamina_dense_grad kinds
_DENSE_FORWARD_KINDS = {"linear": 0, "tanh": 1}  # philox.cu's lamina_dense_forward kinds
_MAX_CLASSES = 128  # classifier.cu's LAMINA_MAX_CLASSES: a row's temporaries live in its thread
_SLOTS = 8  # float32 parameters per several-parameter update launch (kernels/optimizers.cu)
_SCATTER_INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
_SCATTER_MAX_COMPOSITE = 2 ** 63 - 1  # scatter.cu's sort keys index * n + position are int64


def configure_tf32(cupy: Any) -> bool:
    """Make float32 matmul true FP32 unless ``LAMINA_ALLOW_TF32=1``; returns whether TF32 is allowed.

    CuPy decides from ``CUPY_TF32`` the first time it multiplies float32 matrices; Lamina sets
    CuPy's float32 compute type explicitly instead, so the choice is Lamina's setting alone.
    """
    allow = os.environ.get("LAMINA_ALLOW_TF32", "").strip() == "1"
    cupy_env = os.environ.get("CUPY_TF32", "").strip()
    if cupy_env not in ("", "0") and not allow:
        logger.warning("lamina_cupy: CUPY_TF32=%s is ignored; float32 matmul stays true FP32 "
                       "unless LAMINA_ALLOW_TF32=1.", cupy_env)
    linalg = None
    for module in ("cupy._core._routines_linalg", "cupy._core._gpu._routines_linalg"):
        try:
            linalg = importlib.import_module(module)
            break
        except ImportError:
            continue
    if linalg is not None and hasattr(linalg, "set_compute_type"):
        default = getattr(linalg, "COMPUTE_TYPE_DEFAULT", 1)
        compute_type = getattr(linalg, "COMPUTE_TYPE_TF32", 7) if allow else default
        linalg.set_compute_type(np.float32, compute_type)
    else:  # a CuPy without the private switch still reads CUPY_TF32 lazily
        os.environ["CUPY_TF32"] = "1" if allow else "0"
    return allow


def _matmul_shape(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """NumPy's matmul result shape, or None when the operands do not fit (CuPy then says why)."""
    if not a_shape or not b_shape:
        return None
    a2 = (1,) + a_shape if len(a_shape) == 1 else a_shape
    b2 = b_shape + (1,) if len(b_shape) == 1 else b_shape
    if a2[-1] != b2[-2]:
        return None
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        return None
    rows = () if len(a_shape) == 1 else (a2[-2],)
    cols = () if len(b_shape) == 1 else (b2[-1],)
    return tuple(batch) + rows + cols


def _whole_rows(block: Any, shape: tuple, first: int) -> Any:
    """The C-contiguous array of ``shape`` whose columns from ``first`` on are ``block`` (a view of
    it, as the GRU's h block is of the recurrent product), or None."""
    base = getattr(block, "base", None)
    if (type(base) is not type(block) or tuple(base.shape) != shape or not base.flags.c_contiguous
            or block.strides != base.strides or address(block) != address(base) + first * base.itemsize):
        return None
    return base


class CupyBackend(ArrayBackend):
    """NVIDIA GPU backend. Arrays are ``cupy.ndarray`` on one device.

    Creating it imports CuPy and checks for a usable GPU, raising
    :class:`lamina.backends.BackendUnavailableError` with the fix when either is missing. The
    device is ``device`` if given, else ``LAMINA_DEVICE``, else ``"device"`` in
    ``$LAMINA_HOME/lamina.json``, else 0; it becomes the current CUDA device of the creating
    thread. ``LAMINA_GPU_MEMORY_LIMIT`` caps CuPy's memory pool (see :meth:`set_memory_limit`),
    ``LAMINA_ALLOW_TF32=1`` lets float32 matmul use TF32 tensor cores (off by default),
    ``LAMINA_CUPY_FUSED=0`` turns the fused kernels off (the generic CuPy code runs instead), and
    ``LAMINA_CUDA_GRAPHS=0`` runs ``fit``'s and ``evaluate``'s steps without CUDA graphs (_graph.py).
    """

    name = "cupy"
    host_sync_cheap = False
    xp: Any = None  # the cupy module, set per instance so that importing this class needs no CuPy

    def __init__(self, device: int | str | None = None) -> None:
        cupy = _availability.import_cupy()
        count = _availability.device_count(cupy)
        if device is None:
            index, source = _availability.requested_device()
        else:
            source = f"CupyBackend(device={device!r})"
            index = _availability.parse_device(device, source)
        _availability.check_device_index(index, count, source)
        try:
            cupy.cuda.Device(index).use()
        except Exception as exc:
            raise BackendUnavailableError(
                f"{_availability.requested_phrase()}, but GPU {index} could not be opened ({exc}); "
                f"check it with nvidia-smi, choose another with LAMINA_DEVICE, "
                f"{_availability.CPU_HINT}."
            ) from None
        self.xp = cupy
        self.device_id = index
        self._flushed: tuple[str, ...] | None = None
        self._scalars: dict[tuple, Any] = {}
        self._capture: Any = None  # a _graph.Capture while a training step is captured as a CUDA graph
        self._graph_steps: Any = weakref.WeakSet()  # live GraphedSteps: their pools share LAMINA_GPU_MEMORY_LIMIT
        self._gemm: Any = None
        self.tf32_allowed = configure_tf32(cupy)
        fused = os.environ.get("LAMINA_CUPY_FUSED", "1").strip() != "0"
        self._kernels = KernelLibrary(cupy, enabled=fused)
        limit = os.environ.get("LAMINA_GPU_MEMORY_LIMIT", "").strip()
        if limit:
            kind, value = _availability.parse_memory_limit(limit)
            if kind == "fraction":
                self.set_memory_limit(fraction=value)
            else:
                self.set_memory_limit(int(value))

    # --- device, memory -----------------------------------------------------------------
    def device_description(self) -> str:
        cupy = self.xp
        try:
            name = cupy.cuda.runtime.getDeviceProperties(self.device_id)["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
        except Exception:
            name = "NVIDIA GPU"
        runtime = _availability._runtime_version(cupy)
        cuda = f"CUDA {_availability._cuda_version(runtime)}, " if runtime else ""
        return f"GPU {self.device_id}: {name} ({cuda}CuPy {cupy.__version__})"

    def synchronize(self) -> None:
        self.xp.cuda.Device(self.device_id).synchronize()

    def set_memory_limit(self, nbytes: int | None = None, *, fraction: float | None = None) -> None:
        """Cap CuPy's memory pool on this GPU at ``nbytes`` bytes, or at ``fraction`` of the
        device's memory; ``None``/0 removes the cap. Past the cap, allocations raise CuPy's
        ``OutOfMemoryError`` instead of taking more of the GPU (useful when sharing a card)."""
        if fraction is not None:
            if nbytes is not None:
                raise ValueError("set_memory_limit takes nbytes or fraction, not both.")
            if not 0.0 <= float(fraction) <= 1.0:
                raise ValueError(f"set_memory_limit: fraction must be in [0, 1], got {fraction}.")
        elif nbytes is not None and (isinstance(nbytes, bool) or int(nbytes) != nbytes or nbytes < 0):
            raise ValueError(f"set_memory_limit: nbytes must be a non-negative int, got {nbytes!r}.")
        pool = self.xp.get_default_memory_pool()
        with self.xp.cuda.Device(self.device_id):
            if fraction is not None:
                pool.set_limit(fraction=float(fraction))
            else:
                pool.set_limit(size=int(nbytes or 0))

    def memory_limit(self) -> int:
        """The pool's cap in bytes (0: none)."""
        with self.xp.cuda.Device(self.device_id):
            return int(self.xp.get_default_memory_pool().get_limit())

    def memory_info(self) -> dict[str, int]:
        """Bytes held by live arrays, bytes the pool holds in all, and the cap (0: none)."""
        pool = self.xp.get_default_memory_pool()
        with self.xp.cuda.Device(self.device_id):
            return {"used_bytes": int(pool.used_bytes()), "pool_bytes": int(pool.total_bytes()),
                    "limit_bytes": int(pool.get_limit())}

    def release_memory(self) -> None:
        """Return the pool's cached, unused blocks (device and pinned host) to the driver.

        Live arrays are untouched; call it after freeing large arrays, when another process or
        library needs the GPU memory back."""
        with self.xp.cuda.Device(self.device_id):
            self.xp.get_default_memory_pool().free_all_blocks()
        self.xp.get_default_pinned_memory_pool().free_all_blocks()

    def can_hold(self, nbytes: int) -> bool:
        """Half of what is free (on the device plus cached in the pool) must cover ``nbytes``,
        leaving room for weights, activations and CuPy's own workspace."""
        try:
            with self.xp.cuda.Device(self.device_id):
                free, _total = self.xp.cuda.runtime.memGetInfo()
                pool = self.xp.get_default_memory_pool()
                cached = int(pool.total_bytes()) - int(pool.used_bytes())
                limit = int(pool.get_limit())
        except Exception:
            return True
        room = free + cached
        if limit:
            room = min(room, limit - int(pool.used_bytes()))
        return int(nbytes) <= room // 2

    def kernel_status(self) -> dict[str, str]:
        """Op name → ``"ok"`` (its fused kernel ran) or ``"failed: …"`` (the generic code runs)."""
        return dict(self._kernels.status)

    # --- transfer -----------------------------------------------------------------------
    def asarray(self, x: Any, dtype: str | None = None) -> Any:
        cupy = self.xp
        if type(x) in (float, int, bool):
            # Python scalars (1e-7, batch sizes, 1.0 …) recur every step; uploading each one is a
            # blocking host-to-device copy, so each distinct (value, dtype) is uploaded once.
            # Lamina never writes into an op's operands, so sharing these 0-d arrays is safe.
            # -0.0 == 0.0 and NaN != NaN: those go by their text, so -0.0 keeps its sign (as on NumPy)
            key = (type(x), x, dtype) if x == x and (x or type(x) is not float) else (float, repr(x), dtype)
            cached = self._scalars.get(key)
            if cached is None:
                self._refuse_in_capture(f"a scalar {x!r} uploaded during the capture")  # a host copy
                if len(self._scalars) >= 1024:
                    self._scalars.clear()
                # from the default pool even inside a graph's warm-up: the cache outlives any graph
                with cupy.cuda.using_allocator(cupy.get_default_memory_pool().malloc):
                    cached = self._scalars[key] = cupy.asarray(x, dtype=dtype)
            if self._capture is not None:  # the graph reads it at every launch, cache cleared or not
                self._capture.keep.append(cached)
            return cached
        if isinstance(x, np.ndarray) and dtype is not None:
            target = np.dtype(dtype)
            # float64 -> float32 (or narrower) on the host: fewer bytes cross the bus. Float to
            # float rounds the same way on both sides; other casts stay on the device.
            if x.dtype.kind == "f" and target.kind == "f" and target.itemsize < x.dtype.itemsize:
                x = x.astype(target)
        if not isinstance(x, cupy.ndarray):
            # host data (a list, a NumPy array) goes through a pinned staging buffer that CuPy
            # reuses: a graph would copy whatever that buffer holds at each later launch
            self._refuse_in_capture(f"host data ({type(x).__name__}) uploaded during the capture")
        return cupy.asarray(x, dtype=dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        return self.xp.asnumpy(x)

    # --- linear algebra -----------------------------------------------------------------
    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        if out is not None:
            shape = _matmul_shape(tuple(a.shape), tuple(b.shape))
            dtype = np.result_type(a.dtype, b.dtype)
            if shape is not None and (tuple(out.shape) != shape or out.dtype != dtype):
                raise ValueError(
                    f"matmul: out has shape {tuple(out.shape)} and dtype {out.dtype}, but the "
                    f"product of {tuple(a.shape)} and {tuple(b.shape)} is {shape} {dtype}; pass an "
                    "out array of that shape and dtype, or none."
                )
        if self._capture is not None:  # CuPy's cuBLAS wrapper refuses a capturing stream
            return self._capture.matmul(a, b, out, self.xp)
        return self.xp.matmul(a, b, out=out)

    # --- CUDA graphs of replayed training steps (_graph.py) --------------------------------------
    def graph_step(self, function):
        """A :class:`~lamina_cupy._graph.GraphedStep` running ``function`` (a compiled replayed step)
        as one CUDA graph from its second call, or None: ``LAMINA_CUDA_GRAPHS=0``, fused kernels off
        (the graph's dropout needs philox.cu's twins), ``LAMINA_ALLOW_TF32=1``, or a function without
        ``next_draws``."""
        if (os.environ.get("LAMINA_CUDA_GRAPHS", "").strip() == "0" or not self._kernels.enabled
                or not hasattr(function, "next_draws") or self.tf32_allowed):
            return None  # (TF32: CuPy's products would use it and the graph's direct ones not)
        from ._graph import GraphedStep
        try:
            return GraphedStep(self, function)
        except Exception as exc:  # a CuPy without streams, pools or graphs: the replayed calls serve
            logger.info("lamina_cupy: no CUDA graphs (%s: %s)", type(exc).__name__, exc)
            return None

    def direct_gemm(self):
        """libcublas through ctypes on CuPy's handle (``_cublas.Gemm``), made once: products a capture can hold."""
        if self._gemm is None:
            from ._cublas import Gemm
            self._gemm = Gemm(self.xp)
        return self._gemm

    # --- fused element-wise ---------------------------------------------------------------
    def _unary_kernel(self, op: str, stem: str, x: Any, dtype: np.dtype) -> Any:
        """``stem_f32``/``stem_f64`` of activations.cu applied to x (as ``dtype``), or None."""
        cupy = self.xp
        src = cupy.ascontiguousarray(x, dtype=dtype)  # at least 1-d, as NumPy's: a 0-d x comes back (1,)
        out = cupy.empty(x.shape, dtype=dtype)
        if src.size == 0:
            return out
        name = f"{stem}_{_FLOAT_SUFFIX[dtype]}"
        if self._kernels.run(op, "activations", name, src.size, (src, out, _U64(src.size))):
            return out
        return None

    def sigmoid(self, x):
        if isinstance(x, self.xp.ndarray) and x.dtype in _FLOAT_SUFFIX and self._kernels.usable("sigmoid"):
            out = self._unary_kernel("sigmoid", "lamina_sigmoid", x, x.dtype)
            if out is not None:
                return out
        return super().sigmoid(x)

    def tanh_grad(self, y, g, out=None):
        done = self._activation_grad("tanh_grad", "lamina_tanh_grad", y, g, out)
        return super().tanh_grad(y, g, out) if done is None else done

    def relu_grad(self, y, g, out=None):
        done = self._activation_grad("relu_grad", "lamina_relu_grad", y, g, out)
        return super().relu_grad(y, g, out) if done is None else done

    def _activation_grad(self, op: str, kernel: str, y, g, out):
        """One launch of ``kernel``'s f32/f64 variant (activations.cu) for CuPy arrays of one float
        dtype and shape, into a C-contiguous ``out`` (which may be ``g``); None where the base code must run."""
        cupy = self.xp
        if not (isinstance(y, cupy.ndarray) and isinstance(g, cupy.ndarray) and y.dtype in _FLOAT_SUFFIX
                and g.dtype == y.dtype and g.shape == y.shape and self._kernels.usable(op)
                and self._contiguous_out(out, y.shape, y.dtype) and (out is None or self._writes_apart(out, y, g))):
            return None
        result = cupy.empty(y.shape, dtype=y.dtype) if out is None else out
        if y.size == 0:
            return result
        # Element i reads y[i] and g[i] before writing out[i], so out may be g itself.
        args = (cupy.ascontiguousarray(y), cupy.ascontiguousarray(g), result, _U64(y.size))
        if self._kernels.run(op, "activations", f"{kernel}_{_FLOAT_SUFFIX[y.dtype]}", y.size, args):
            return result
        return None

    # --- a Dense layer's bias, tanh and dropout after its product, one launch (philox.cu) ----------
    def dense_activation(self, y, bias, activation, dropout=None):
        # lamina_dense_forward_*: y = act(y + bias) in place, and with dropout the mask and y * mask,
        # for tanh and linear (linear with a bias or dropout) on the product's C-contiguous 2-D buffer
        # and a bias of its dtype apart from it; the base composition (CuPy's add and tanh, then
        # dropout) runs for everything else, an invalid rate (its error) and a failed kernel.
        kind = _DENSE_FORWARD_KINDS.get(activation) if isinstance(activation, str) else None
        suffix = (self._step_ready("dense_activation", getattr(y, "dtype", None), y, bias)
                  if kind is not None and (kind or bias is not None or dropout is not None) else None)
        if (suffix and y.ndim == 2 and y.size and y.flags.c_contiguous
                and (bias is None or (bias.shape == y.shape[1:] and self._writes_apart(y, bias)))):
            cupy, t = self.xp, y.dtype.type
            if dropout is None:  # the Philox words, mask and out are passed, never read
                launch, mask, out = ((_U64(0),) * 5, (np.uint32(32), _U64(0)), ""), y, y
            else:
                launch = self._dropout_launch("dense_activation", *dropout)
                if launch is not None:
                    mask, out = cupy.empty(y.shape, dtype=y.dtype), cupy.empty(y.shape, dtype=y.dtype)
            if launch is not None:
                key, slot, twin = launch
                has = np.int32((bias is not None) | (dropout is not None) << 1)
                scale = t(1.0) if dropout is None else t(1.0 / (1.0 - dropout[0]))
                args = key + (y, y if bias is None else cupy.ascontiguousarray(bias), mask, out, _U64(y.size),
                              _U64(y.shape[1]), np.int32(kind), has, *slot, scale)
                if self._kernels.run("dense_activation", "philox", f"lamina_dense_forward{twin}_{suffix}", y.size, args):
                    return (y, y, None) if dropout is None else (y, out, mask)
        return super().dense_activation(y, bias, activation, dropout)

    # --- a Dense layer's backward pass up to its products, one launch (activations.cu) -------------
    def dense_activation_grad(self, y, g, activation, mask=None, bias=True):
        kind = _DENSE_GRAD_KINDS.get(activation) if isinstance(activation, str) else None
        suffix = (self._step_ready("dense_activation_grad", getattr(y, "dtype", None), y, g, mask)
                  if kind is not None and (kind or mask is not None) else None)
        if (suffix and y.ndim == 2 and g.shape == y.shape and (mask is None or mask.shape == y.shape)
                and y.shape[0] and y.shape[1]):
            cupy = self.xp
            rows, cols = y.shape
            d = cupy.empty(y.shape, dtype=y.dtype)
            gb = cupy.empty((cols,), dtype=y.dtype) if bias else None
            yc, gc = cupy.ascontiguousarray(y), cupy.ascontiguousarray(g)
            mc = yc if mask is None else cupy.ascontiguousarray(mask)  # absent arrays: passed, never read
            has = np.int32((mask is not None) | (bool(bias) << 1))
            args = (yc, gc, mc, d, d if gb is None else gb, _U64(rows), _U64(cols), np.int32(kind), has)
            if self._kernels.run("dense_activation_grad", "activations", f"lamina_dense_grad_{suffix}", cols, args):
                return d, gb
        return super().dense_activation_grad(y, g, activation, mask, bias)

    # --- a classifier's output layer, one launch per step (classifier.cu) --------------------------
    def _class_rows(self, op: str, axis: Any, *arrays: Any) -> tuple | None:
        """``(suffix, rows, n)`` when every array is a C-contiguous CuPy array of the first's float
        dtype and shape, with at least two axes, reduced over its last axis of 1 to 128 elements,
        and ``op``'s kernel has not failed; else None (the base composition runs)."""
        first = arrays[0]
        if not (all(isinstance(a, self.xp.ndarray) and a.flags.c_contiguous and a.shape == first.shape
                    and a.dtype == first.dtype for a in arrays)
                and first.ndim >= 2 and type(axis) is int and axis in (-1, first.ndim - 1)
                and 0 < first.shape[-1] <= _MAX_CLASSES):
            return None
        suffix = self._step_ready(op, first.dtype)
        return None if suffix is None else (suffix, first.size // first.shape[-1], first.shape[-1])

    @property
    def flushed_subnormal_dtypes(self) -> tuple[str, ...]:
        """("float32",) where this CuPy flushes float32 subnormals, measured once on first use.
        CuPy compiles every kernel, its ufuncs and our RawModules alike, with -ftz=true appended
        after the caller's options: on an H200 a float64 -> float32 cast of 1e-40 gave 0, and
        relu_grad read y = 5e-39 as 0. float64 is never flushed."""
        if self._flushed is None:
            sub = np.float64(np.finfo(np.float32).tiny) / 4  # a float32 subnormal, exact in both
            got = self.to_numpy(self.xp.asarray(sub).astype(np.float32))
            self._flushed = ("float32",) if got == 0 else ()
        return self._flushed

    # CuPy's argmax/argmin reductions keep whichever NaN their tree meets first, not the lowest index
    # (an H200 gave the later of two NaNs on a transposed input); NumPy returns the first NaN.
    def argmax(self, x, axis=-1):
        return self._first_nan_wins(super().argmax(x, axis), x, axis)

    def argmin(self, x, axis=-1):
        return self._first_nan_wins(super().argmin(x, axis), x, axis)

    def _first_nan_wins(self, found, x, axis):
        if not (isinstance(x, self.xp.ndarray) and x.dtype.kind in "fc"):
            return found
        nan = self.xp.isnan(x)
        return self.xp.where(nan.any(axis=axis), nan.argmax(axis=axis), found)

    def argmax_equal(self, a, b, dtype):
        found = self._class_rows("argmax_equal", -1, a, b)
        if found and np.dtype(dtype) == a.dtype:
            suffix, rows, n = found
            out = self.xp.empty(a.shape[:-1], dtype=a.dtype)
            if rows == 0 or self._kernels.run("argmax_equal", "classifier", f"lamina_argmax_equal_{suffix}", rows,
                                              (a, b, out, _U64(rows), _U64(n))):
                return out
        return super().argmax_equal(a, b, dtype)

    def softmax_grad(self, y, g, axis=-1):
        found = self._class_rows("softmax_grad", axis, y, g)
        if found:
            suffix, rows, n = found
            out = self.xp.empty(y.shape, dtype=y.dtype)
            if rows == 0 or self._kernels.run("softmax_grad", "classifier", f"lamina_softmax_grad_{suffix}", rows,
                                              (y, g, out, _U64(rows), _U64(n))):
                return out
        return super().softmax_grad(y, g, axis)

    def categorical_crossentropy(self, target, y, epsilon, axis=-1):
        found = self._class_rows("categorical_crossentropy", axis, y, target)
        bounds = self._clip_bounds(epsilon, y.dtype) if found else None
        if bounds:
            cupy, (suffix, rows, n) = self.xp, found
            s = cupy.empty(y.shape[:-1] + (1,), dtype=y.dtype)
            p, c = cupy.empty(y.shape, dtype=y.dtype), cupy.empty(y.shape, dtype=y.dtype)
            per = cupy.empty(y.shape[:-1], dtype=y.dtype)
            if rows == 0:
                return per, (s, p, c, cupy.log(c))
            if self._kernels.run("categorical_crossentropy", "classifier", f"lamina_ce_forward_{suffix}", rows,
                                 (y, s, p, c, _U64(rows), _U64(n), *bounds)):
                logp = cupy.log(c)  # CuPy's log, as the base composition's
                if self._kernels.run("categorical_crossentropy", "classifier", f"lamina_ce_loss_{suffix}", rows,
                                     (target, logp, per, _U64(rows), _U64(n))):
                    return per, (s, p, c, logp)
        return super().categorical_crossentropy(target, y, epsilon, axis)

    def categorical_crossentropy_grad(self, g, target, saved, epsilon, axis=-1):
        s, p, c, _ = saved
        cupy = self.xp
        found = self._class_rows("categorical_crossentropy_grad", axis, target, p, c)
        bounds = self._clip_bounds(epsilon, p.dtype) if found else None
        if bounds and isinstance(g, cupy.ndarray) and isinstance(s, cupy.ndarray) and self._ce_grad_layout(g, saved):
            suffix, rows, n = found
            out = cupy.empty(p.shape, dtype=p.dtype)
            # g is often a mean's gradient broadcast over the batch: one launch makes it rows
            if rows == 0 or self._kernels.run("categorical_crossentropy_grad", "classifier",
                                              f"lamina_ce_grad_{suffix}", rows,
                                              (target, cupy.ascontiguousarray(g), s, p, c, out, _U64(rows), _U64(n),
                                               *bounds)):
                return out
        return super().categorical_crossentropy_grad(g, target, saved, epsilon, axis)

    # --- one recurrent step per launch (recurrent.cu) ---------------------------------------------
    def _step_ready(self, op: str, dtype: Any, *arrays: Any) -> str | None:
        """The kernel suffix when ``arrays`` (None allowed) are CuPy arrays of one float dtype and
        ``op``'s kernel has not failed, else None."""
        cupy = self.xp
        if dtype not in _FLOAT_SUFFIX or not self._kernels.usable(op):
            return None
        if all(a is None or (isinstance(a, cupy.ndarray) and a.dtype == dtype) for a in arrays):
            return _FLOAT_SUFFIX[dtype]
        return None

    def _contiguous_out(self, out: Any, shape: tuple, dtype: Any) -> bool:
        return out is None or (isinstance(out, self.xp.ndarray) and out.shape == shape and out.dtype == dtype
                               and out.flags.c_contiguous)

    def lstm_cell_forward(self, z, c, axis=-1, h_out=None):
        cupy = self.xp
        suffix = self._step_ready("lstm_cell_forward", getattr(c, "dtype", None), z, c)
        if (suffix and z.ndim == 2 and c.ndim == 2 and axis % 2 == 1 and z.shape == (c.shape[0], 4 * c.shape[1])
                and self._contiguous_out(h_out, c.shape, c.dtype)
                and (h_out is None or self._writes_apart(h_out, z, c))):
            outs = [cupy.empty(c.shape, dtype=c.dtype) for _ in range(6)]  # i, f, g, o, c_new, tc
            h = cupy.empty(c.shape, dtype=c.dtype) if h_out is None else h_out
            if c.size == 0:
                return (*outs, h)
            args = (cupy.ascontiguousarray(z), cupy.ascontiguousarray(c), *outs, h, _U64(c.size), _U64(c.shape[1]))
            if self._kernels.run("lstm_cell_forward", "recurrent", f"lamina_lstm_cell_forward_{suffix}", c.size, args):
                return (*outs, h)
        return super().lstm_cell_forward(z, c, axis, h_out)

    def lstm_cell_grad(self, i, f, g, o, tc, c, gh, gc, dz, axis=-1):
        cupy = self.xp
        suffix = self._step_ready("lstm_cell_grad", getattr(i, "dtype", None), i, f, g, o, tc, c, gh, gc, dz)
        if (suffix and (gh is not None or gc is not None) and i.ndim == 2 and axis % 2 == 1
                and all(a is None or a.shape == i.shape for a in (f, g, o, tc, c, gh, gc))
                and self._contiguous_out(dz, (i.shape[0], 4 * i.shape[1]), i.dtype)
                and self._writes_apart(dz, i, f, g, o, tc, c, gh, gc)):
            dprev = cupy.empty(i.shape, dtype=i.dtype)
            if i.size == 0:
                return dprev
            inputs = [cupy.ascontiguousarray(a) for a in (i, f, g, o, tc, c)]
            given = [cupy.ascontiguousarray(a) if a is not None else inputs[0] for a in (gh, gc)]  # absent: unread
            has = (gh is not None) | (gc is not None) << 1
            args = (*inputs, *given, dz, dprev, _U64(i.size), _U64(i.shape[1]), np.int32(has))
            if self._kernels.run("lstm_cell_grad", "recurrent", f"lamina_lstm_cell_grad_{suffix}", i.size, args):
                return dprev
        return super().lstm_cell_grad(i, f, g, o, tc, c, gh, gc, dz, axis)

    def gru_cell_forward(self, x, inner, h, h_out=None):
        cupy = self.xp
        suffix = self._step_ready("gru_cell_forward", getattr(h, "dtype", None), x, inner, h)
        if (suffix and h.ndim == 2 and x.shape == inner.shape == (h.shape[0], 3 * h.shape[1])
                and self._contiguous_out(h_out, h.shape, h.dtype)
                and (h_out is None or self._writes_apart(h_out, x, inner, h))):
            inner = cupy.ascontiguousarray(inner)
            outs = [cupy.empty(h.shape, dtype=h.dtype) for _ in range(3)]  # z, r, hh
            h_new = cupy.empty(h.shape, dtype=h.dtype) if h_out is None else h_out
            units = h.shape[1]
            if h.size == 0:
                return (*outs, inner[:, 2 * units:], h_new)
            args = (cupy.ascontiguousarray(x), inner, cupy.ascontiguousarray(h), *outs, h_new, _U64(h.size),
                    _U64(units))
            if self._kernels.run("gru_cell_forward", "recurrent", f"lamina_gru_cell_forward_{suffix}", h.size, args):
                return (*outs, inner[:, 2 * units:], h_new)
        return super().gru_cell_forward(x, inner, h, h_out)

    def gru_cell_grad(self, z, r, hh, inner_h, h_prev, dh, dx, du):
        cupy = self.xp
        suffix = self._step_ready("gru_cell_grad", getattr(z, "dtype", None), z, r, hh, inner_h, h_prev, dh, dx, du)
        wide = (z.shape[0], 3 * z.shape[1]) if suffix and z.ndim == 2 else None
        if (wide and all(a.shape == z.shape for a in (r, hh, inner_h, h_prev, dh))
                and self._contiguous_out(dx, wide, z.dtype) and self._contiguous_out(du, wide, z.dtype)
                and all(self._writes_apart(out, z, r, hh, inner_h, h_prev, dh) for out in (dx, du))):
            direct = cupy.empty(z.shape, dtype=z.dtype)
            if z.size == 0:
                return direct
            inner = _whole_rows(inner_h, wide, 2 * z.shape[1])
            if inner is None:  # the kernel reads the h block inside (batch, 3 * units) rows: build them
                inner = cupy.zeros(wide, dtype=z.dtype)
                inner[:, 2 * z.shape[1]:] = inner_h
            inputs = [cupy.ascontiguousarray(a) for a in (z, r, hh)]
            args = (*inputs, inner, cupy.ascontiguousarray(h_prev), cupy.ascontiguousarray(dh), dx, du, direct,
                    _U64(z.size), _U64(z.shape[1]))
            if self._kernels.run("gru_cell_grad", "recurrent", f"lamina_gru_cell_grad_{suffix}", z.size, args):
                return direct
        return super().gru_cell_grad(z, r, hh, inner_h, h_prev, dh, dx, du)

    def erf(self, x):
        if isinstance(x, self.xp.ndarray) and x.dtype.kind == "f" and self._kernels.usable("erf"):
            # float16 goes through float64, as the base implementation does.
            work = x.dtype if x.dtype in _FLOAT_SUFFIX else np.dtype(np.float64)
            out = self._unary_kernel("erf", "lamina_erf", x, work)
            if out is not None:
                return out.astype(x.dtype, copy=False)
        return super().erf(x)

    # --- scatter_add for an integer-array key, deterministic (scatter.cu) --------------------------
    def _scatter_index(self, shape: tuple, key: Any) -> tuple[int, Any] | None:
        """(axis, index array) for ``(slice(None),) * axis + (idx,)`` or a bare ``idx``, where idx is
        an int32/int64 CuPy array and axis < len(shape) (the key ops.take's VJP makes), else None."""
        parts = key if isinstance(key, tuple) else (key,)
        if not parts:
            return None
        *lead, idx = parts
        if (isinstance(idx, self.xp.ndarray) and idx.dtype in _SCATTER_INDEX_DTYPES and len(lead) < len(shape)
                and all(isinstance(s, slice) and s == slice(None) for s in lead)):
            return len(lead), idx
        return None

    def scatter_add(self, shape, key, values, dtype, out=None):
        # CuPy's add.at adds with atomicAdd: the order of the additions into an element, and so the
        # float result, changes from run to run. The kernel adds in np.add.at's order instead.
        cupy = self.xp
        shape, target = tuple(shape), np.dtype(dtype)
        found = self._scatter_index(shape, key)
        if found is not None and target in _FLOAT_SUFFIX and self._kernels.usable("scatter_add"):
            ax, idx = found
            rows, n = shape[ax], idx.size
            if (isinstance(values, cupy.ndarray) and values.dtype == target
                    and values.shape == shape[:ax] + idx.shape + shape[ax + 1:]
                    and 0 < rows and rows * max(n, 1) <= _SCATTER_MAX_COMPOSITE
                    and self._contiguous_out(out, shape, target)  # out is written while values are read
                    and (out is None or not cupy.may_share_memory(out, values))):
                result = cupy.zeros(shape, dtype=target) if out is None else out
                post = int(np.prod(shape[ax + 1:], dtype=np.int64))
                total = int(np.prod(shape[:ax], dtype=np.int64)) * n * post
                if total == 0:
                    return result
                # key * n + position, all distinct: sorted, a key's positions increase whatever the
                # sort's stability. The modulo wraps indices as CuPy's own add.at and take do.
                composite = idx.reshape(-1).astype(np.int64)
                composite %= rows
                composite *= n
                composite += cupy.arange(n, dtype=np.int64)
                composite.sort()
                args = (cupy.ascontiguousarray(values), composite, result, _U64(total), _U64(n), _U64(rows),
                        _U64(post))
                if self._kernels.run("scatter_add", "scatter", f"lamina_scatter_add_{_FLOAT_SUFFIX[target]}",
                                     total, args):
                    return result
                out = result  # not launched: the base code adds into the same buffer
        return super().scatter_add(shape, key, values, dtype, out=out)

    # --- fused optimizer updates ------------------------------------------------------------
    def _fusable(self, param: Any, grad: Any, *states: Any) -> str | None:
        """The kernel suffix when one fused launch can do the update, else None.

        Needs CuPy arrays of one float32/float64 dtype and one shape; the updated arrays must be
        C-contiguous (they are written in place), the gradient may be any layout."""
        cupy = self.xp
        if not self._kernels.enabled:
            return None
        arrays = (param, grad) + states
        if not all(isinstance(a, cupy.ndarray) for a in arrays):
            return None
        suffix = _FLOAT_SUFFIX.get(param.dtype)
        if suffix is None or any(a.dtype != param.dtype or a.shape != param.shape for a in arrays):
            return None
        if not all(a.flags.c_contiguous for a in (param,) + states):
            return None
        return suffix

    def _c_order(self, a: Any) -> Any:
        """``a`` itself when C-contiguous (kernels read any gradient through a flat pointer), else
        a C-contiguous copy."""
        return a if a.flags.c_contiguous else self.xp.ascontiguousarray(a)

    def sgd_update(self, param, grad, velocity, lr, momentum, nesterov):
        states = () if velocity is None else (velocity,)
        suffix = self._fusable(param, grad, *states)
        if suffix is not None:
            if param.size == 0:
                return
            t = param.dtype.type
            mode = 0 if velocity is None else (2 if nesterov else 1)
            args = (param, self._c_order(grad), param if velocity is None else velocity,
                    _U64(param.size), t(lr), t(momentum), np.int32(mode))
            if self._kernels.run("sgd_update", "optimizers", f"lamina_sgd_{suffix}", param.size, args):
                return
        super().sgd_update(param, grad, velocity, lr, momentum, nesterov)

    def adam_update(self, param, grad, m, v, vhat, alpha, beta_1, beta_2, epsilon):
        states = (m, v) if vhat is None else (m, v, vhat)
        suffix = self._fusable(param, grad, *states)
        if suffix is not None:
            if param.size == 0:
                return
            t = param.dtype.type
            args = (param, self._c_order(grad), m, v, v if vhat is None else vhat,
                    _U64(param.size), t(alpha), t(1.0 - beta_1), t(1.0 - beta_2), t(epsilon),
                    np.int32(vhat is not None))
            if self._kernels.run("adam_update", "optimizers", f"lamina_adam_{suffix}", param.size, args):
                return
        super().adam_update(param, grad, m, v, vhat, alpha, beta_1, beta_2, epsilon)

    def rmsprop_update(self, param, grad, velocity, lr, rho, epsilon):
        suffix = self._fusable(param, grad, velocity)
        if suffix is not None:
            if param.size == 0:
                return
            t = param.dtype.type
            args = (param, self._c_order(grad), velocity, _U64(param.size), t(lr),
                    t(rho), t(1.0 - rho), t(epsilon))
            if self._kernels.run("rmsprop_update", "optimizers", f"lamina_rmsprop_{suffix}",
                                 param.size, args):
                return
        super().rmsprop_update(param, grad, velocity, lr, rho, epsilon)

    def adadelta_update(self, param, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon):
        suffix = self._fusable(param, grad, accumulated_grad, accumulated_delta)
        if suffix is not None:
            if param.size == 0:
                return
            t = param.dtype.type
            args = (param, self._c_order(grad), accumulated_grad, accumulated_delta, _U64(param.size),
                    t(lr), t(rho), t(1.0 - rho), t(epsilon))
            if self._kernels.run("adadelta_update", "optimizers", f"lamina_adadelta_{suffix}",
                                 param.size, args):
                return
        super().adadelta_update(param, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon)

    # --- several parameters per launch (the optimizers' update_steps) ------------------------
    def _update_many(self, rule: int, flag: int, single: str, columns: list, scalars: tuple) -> int:
        """Run ``lamina_update_many_f32`` (kernels/optimizers.cu) over ``columns`` (params, grads
        and three state columns, one entry per parameter; a rule's unused column repeats the
        params) in launches of ``_SLOTS`` parameters. Returns how many leading parameters it
        updated: all, or fewer when the arrays are not float32 arrays a kernel takes, a parameter
        appears twice, a subclass replaced the one-parameter update (the method named ``single``),
        or a launch failed; the caller updates the rest one parameter at a time."""
        params = columns[0]
        # the class's method, not the instance's: see lamina_numpy's NumpyBackend._fused
        if not params or getattr(type(self), single) is not getattr(CupyBackend, single):
            return 0
        if len({id(p) for p in params}) != len(params):  # one parameter twice: planes would race
            return 0
        for i in range(len(params)):
            if self._fusable(*(col[i] for col in columns)) != "f32":
                return 0
        grads = [self._c_order(g) for g in columns[1]]
        scalars = tuple(np.float32(v) for v in scalars) + (np.int32(rule), np.int32(flag))
        for lo in range(0, len(params), _SLOTS):
            group = range(lo, min(lo + _SLOTS, len(params)))
            args: list = []
            for k in range(_SLOTS):  # unused slots repeat the group's first arrays with n = 0
                i = group[k] if k < len(group) else lo
                args += [params[i], grads[i], *(col[i] for col in columns[2:]),
                         _U64(params[i].size if k < len(group) else 0)]
            work = max(params[i].size for i in group)
            if not self._kernels.run("update_many", "optimizers", "lamina_update_many_f32", work,
                                     tuple(args) + scalars, planes=len(group)):
                return lo
        return len(params)

    def sgd_update_many(self, params, grads, velocities, lr, momentum, nesterov):
        mode = 0 if velocities is None else (2 if nesterov else 1)
        u = params if velocities is None else velocities  # not read in mode 0
        done = self._update_many(0, mode, "sgd_update",
                                 [params, grads, u, params, params], (lr, momentum, 0.0, 0.0))
        if done < len(params):
            super().sgd_update_many(params[done:], grads[done:], None if velocities is None else velocities[done:],
                                    lr, momentum, nesterov)

    def adam_update_many(self, params, grads, ms, vs, vhats, alpha, beta_1, beta_2, epsilon):
        done = self._update_many(1, vhats is not None, "adam_update",
                                 [params, grads, ms, vs, params if vhats is None else vhats],
                                 (alpha, 1.0 - beta_1, 1.0 - beta_2, epsilon))
        if done < len(params):
            super().adam_update_many(params[done:], grads[done:], ms[done:], vs[done:],
                                     None if vhats is None else vhats[done:], alpha, beta_1, beta_2, epsilon)

    def rmsprop_update_many(self, params, grads, velocities, lr, rho, epsilon):
        done = self._update_many(2, 0, "rmsprop_update",
                                 [params, grads, velocities, params, params], (lr, rho, 1.0 - rho, epsilon))
        if done < len(params):
            super().rmsprop_update_many(params[done:], grads[done:], velocities[done:], lr, rho, epsilon)

    # --- randomness: Philox4x64-10 on the device (kernels/philox.cu) -------------------------
    @staticmethod
    def _count(n: Any) -> int:
        if isinstance(n, bool) or int(n) != n or n < 0:
            raise ValueError(f"random_bits: n must be a non-negative int, got {n!r}.")
        return int(n)

    @staticmethod
    def _float_dtype(dtype: Any) -> np.dtype | None:
        try:
            d = np.dtype(dtype)
        except TypeError:
            return None
        return d if d.kind == "f" and d.itemsize in (2, 4, 8) else None

    def _refuse_in_capture(self, why: str) -> None:
        """End a capture in progress (GraphRefused: the step then runs without a graph) for something
        a CUDA graph cannot repeat: a host copy, or Philox draws whose words it cannot rewrite (the
        kernels that take them by value here, and every host draw, which all come through
        random_bits: the base class's dropout, dropout_mask and random_normal)."""
        if self._capture is not None:
            from ._graph import GraphRefused
            raise GraphRefused(why)

    def random_bits(self, seed, counter, n):
        self._refuse_in_capture("random_bits draws random numbers in a way a CUDA graph cannot repeat")
        n = self._count(n)
        key = philox_kernel_args(seed, counter)  # validates the seed as the host stream does
        out = self.xp.empty((n,), dtype=np.uint64)
        if n == 0:
            return out
        args = tuple(_U64(k) for k in key) + (out, _U64(n))
        if self._kernels.run("random_bits", "philox", "lamina_philox_bits", (n + 3) // 4, args):
            return out
        return super().random_bits(seed, counter, n)

    def random_uniform(self, shape, seed, counter, dtype, minval=0.0, maxval=1.0):
        self._refuse_in_capture("random_uniform draws random numbers in a way a CUDA graph cannot repeat")
        target = self._float_dtype(dtype)
        if target is None or not self._kernels.usable("random_uniform"):
            return super().random_uniform(shape, seed, counter, dtype, minval, maxval)
        key = philox_kernel_args(seed, counter)
        work = np.dtype(np.float64) if target == np.float64 else np.dtype(np.float32)
        t = work.type
        # The base code skips lo + span * u for [0, 1); lo = 0, span = 1 leaves u unchanged too.
        affine = minval != 0.0 or maxval != 1.0
        lo, span = (t(minval), t(maxval - minval)) if affine else (t(0.0), t(1.0))
        size = self._size(shape)
        out = self.xp.empty((size,), dtype=work)
        if size:
            args = tuple(_U64(k) for k in key) + (out, _U64(size), lo, span)
            name = f"lamina_philox_uniform_{_FLOAT_SUFFIX[work]}"
            if not self._kernels.run("random_uniform", "philox", name, (size + 3) // 4, args):
                return super().random_uniform(shape, seed, counter, dtype, minval, maxval)
        return out.reshape(shape).astype(target, copy=False)

    def dropout(self, x, rate, seed, counter):
        launch = self._dropout_launch("dropout", rate, seed, counter)
        suffix = self._step_ready("dropout", getattr(x, "dtype", None), x) if launch else None
        if suffix and x.size:
            cupy = self.xp
            key, slot, twin = launch
            mask, out = cupy.empty(x.shape, dtype=x.dtype), cupy.empty(x.shape, dtype=x.dtype)
            args = key + (cupy.ascontiguousarray(x), mask, out, _U64(x.size), *slot, x.dtype.type(1.0 / (1.0 - rate)))
            if self._kernels.run("dropout", "philox", f"lamina_philox_dropout_apply{twin}_{suffix}", x.size, args):
                return out, mask
        return super().dropout(x, rate, seed, counter)

    def _dropout_launch(self, op, rate, seed, counter):
        """For a Philox dropout kernel (one thread per element): ``(key, slot, twin)``, the key and
        counter words as uint64 (during a graph capture: the device slot holding them, and twin
        ``"_w"``, the kernel that reads them there) and the slot width and keep threshold; None when
        the rate is outside [0, 1) or ``op``'s kernel has failed (the base class then runs, with its
        errors; during a capture its draw reaches random_bits, which refuses it)."""
        try:
            valid_rate = 0.0 <= float(rate) < 1.0
        except (TypeError, ValueError):
            valid_rate = False
        if not valid_rate or not self._kernels.usable(op):
            return None
        bits, threshold = philox.dropout_slot(rate)  # s-bit slots
        slot = (np.uint32(bits), _U64(threshold))
        if self._capture is not None:  # the graph's twin kernel reads the words from this slot each launch
            return (self._capture.slot(seed, counter),), slot, "_w"
        return tuple(_U64(k) for k in philox_kernel_args(seed, counter)), slot, ""

    def dropout_mask(self, shape, rate, seed, counter, dtype):
        launch = self._dropout_launch("dropout_mask", rate, seed, counter)
        if launch is None:
            return super().dropout_mask(shape, rate, seed, counter, dtype)  # its errors, its way
        key, slot, twin = launch
        size = self._size(shape)
        target = np.dtype(dtype)
        scale = 1.0 / (1.0 - rate)
        cupy = self.xp
        if target in _FLOAT_SUFFIX:
            out = cupy.empty((size,), dtype=target)
            args = key + (out, _U64(size), *slot, target.type(scale))
            name = f"lamina_philox_dropout{twin}_{_FLOAT_SUFFIX[target]}"
        else:  # float16 and others: the keep bits here, then keep * scale as the base does
            out = cupy.empty((size,), dtype=np.bool_)
            args = key + (out, _U64(size), *slot)
            name = "lamina_philox_keep" + twin
        if size and not self._kernels.run("dropout_mask", "philox", name, size, args):
            return super().dropout_mask(shape, rate, seed, counter, dtype)
        if target in _FLOAT_SUFFIX:
            return out.reshape(shape)
        return (out.reshape(shape) * cupy.asarray(scale, dtype=target)).astype(target, copy=False)
