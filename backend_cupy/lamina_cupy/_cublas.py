"""Matrix products straight from libcublas (ctypes), on CuPy's own handle: products a CUDA graph can hold.

CuPy's cuBLAS wrappers raise ``NotImplementedError`` while their stream is being captured (its
``setStream`` refuses a capturing stream), although cuBLAS itself records into a capture. This
module calls ``cublasSgemm_v2``/``cublasDgemm_v2`` of the libcublas that CuPy has already loaded,
on the handle CuPy uses, with the alpha and beta it would pass, so that the products are the ones
CuPy's ``matmul`` computes and can also run during a capture.

Only 2-D operands that are C- or F-contiguous (a transposed view of a C-contiguous array) and a
C-contiguous output of the same float dtype are taken; :meth:`Gemm.fits` says whether a call fits,
and the caller keeps CuPy's ``matmul`` for everything else.
"""
from __future__ import annotations

import ctypes
import os
from typing import Any

import numpy as np

_OP_N, _OP_T = 0, 1
_POINTER_MODE_HOST = 0
_FLOATS = {np.dtype(np.float32): ("cublasSgemm_v2", ctypes.c_float),
           np.dtype(np.float64): ("cublasDgemm_v2", ctypes.c_double)}


def loaded_libraries(stem: str, maps: str = "/proc/self/maps") -> list[str]:
    """The paths of the shared objects named ``stem`` (e.g. ``libcublas.so``) mapped into this
    process, each once (a process may hold two, e.g. PyTorch's and CuPy's)."""
    try:
        with open(maps) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    found: dict[str, None] = {}
    for line in lines:
        fields = line.split(None, 5)
        path = fields[5].strip() if len(fields) == 6 else ""
        name = os.path.basename(path)
        if name == stem or name.startswith(stem + "."):
            found[path] = None
    return list(found)


def _cupy_cublas_version(handle: int) -> int | None:
    """The cuBLAS version CuPy's own wrapper reports for ``handle``, or None where it cannot say."""
    try:
        from cupy_backends.cuda.libs import cublas
        return int(cublas.getVersion(handle))
    except Exception:
        return None


def _library_of(handle: int) -> ctypes.CDLL:
    """The loaded libcublas that CuPy calls: the one whose version for ``handle`` is CuPy's."""
    paths = list(dict.fromkeys(os.path.realpath(p) for p in loaded_libraries("libcublas.so")))
    want = _cupy_cublas_version(handle)
    matching = []
    for path in paths:
        lib = ctypes.CDLL(path)
        version = ctypes.c_int(0)
        get = lib.cublasGetVersion_v2
        get.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        if want is None and len(paths) == 1:
            return lib
        if get(handle, ctypes.byref(version)) == 0 and version.value == want:
            matching.append((path, lib))
    if len(matching) == 1:
        return matching[0][1]
    if matching:  # two files of one version: which one CuPy's handle belongs to cannot be told
        raise OSError(f"{len(matching)} loaded libcublas files report CuPy's version {want} "
                      f"({', '.join(p for p, _ in matching)}); the direct products are not used")
    raise OSError(f"no loaded libcublas matches CuPy's (version {want}; loaded: {paths or 'none'})")


def _operand(x: Any, right: bool) -> tuple[int, int] | None:
    """(op, leading dimension) of a 2-D row-major operand as CuPy's ``matmul`` hands it to column-major
    cuBLAS (``dot`` -> ``tensordot_core`` -> ``_mat_to_cublas_contiguous``), or None (strided).

    CuPy transposes the left operand first and then, for both, tests F-contiguity before C, the
    leading dimension taken from the strides and raised to the minimum cuBLAS accepts. It matters
    for an operand with a dimension of 1, which is both C- and F-contiguous: a ``Dense(1)`` kernel
    is read transposed. Products checked bit for bit against CuPy's on an H200 at W1's shapes; the
    dimension-1 cases are checked by gpu_check.sh's probe (not yet run on a GPU)."""
    rows, cols = x.shape
    item = x.itemsize
    if right:  # b (k x n): column-major b^T, or b itself transposed
        if x.flags.f_contiguous:
            return _OP_T, max(x.strides[1] // item, rows, 1)
        if x.flags.c_contiguous:
            return _OP_N, max(x.strides[0] // item, 1)
        return None
    # a (m x k) as CuPy's a.T (k x m): F-contiguous a.T (a C-contiguous) first
    if x.flags.c_contiguous:
        return _OP_N, max(x.strides[0] // item, cols, 1)
    if x.flags.f_contiguous:
        return _OP_T, max(x.strides[1] // item, 1)
    return None


class Gemm:
    """``out = a @ b`` through libcublas on CuPy's handle and current stream."""

    def __init__(self, cupy: Any) -> None:
        self.cupy = cupy
        lib = _library_of(cupy.cuda.device.get_cublas_handle())  # the handle loads libcublas if CuPy had not
        self._set_stream = lib.cublasSetStream_v2
        self._set_stream.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._set_pointer_mode = lib.cublasSetPointerMode_v2
        self._set_pointer_mode.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self._gemm: dict[np.dtype, tuple[Any, Any, Any]] = {}
        for dtype, (name, scalar) in _FLOATS.items():
            fn = getattr(lib, name)
            fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                           ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                           ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
            fn.restype = ctypes.c_int
            self._gemm[dtype] = (fn, scalar(1.0), scalar(0.0))  # kept alive: cuBLAS reads them at the call

    def fits(self, a: Any, b: Any, out: Any) -> bool:
        cupy = self.cupy
        return (isinstance(a, cupy.ndarray) and isinstance(b, cupy.ndarray) and isinstance(out, cupy.ndarray)
                and a.ndim == 2 and b.ndim == 2 and out.ndim == 2 and a.dtype in self._gemm
                and a.dtype == b.dtype == out.dtype and out.flags.c_contiguous
                and a.shape[1] == b.shape[0] and out.shape == (a.shape[0], b.shape[1])
                and _operand(a, False) is not None and _operand(b, True) is not None and min(out.shape) > 0
                and a.shape[1] > 0 and out.shape != (1, 1))  # CuPy's 1 x 1 product runs no cuBLAS: not taken

    def __call__(self, a: Any, b: Any, out: Any) -> Any:
        """``out[...] = a @ b``; the caller has checked :meth:`fits`."""
        (m, k), n = a.shape, b.shape[1]
        op_a, lda = _operand(a, False)
        op_b, ldb = _operand(b, True)
        fn, one, zero = self._gemm[a.dtype]
        handle = self.cupy.cuda.device.get_cublas_handle()  # CuPy's, for this thread and device
        # Row-major out (m x n) is column-major out^T = b^T a^T (n x m): b first.
        status = self._set_stream(handle, self.cupy.cuda.get_current_stream().ptr)
        status = status or self._set_pointer_mode(handle, _POINTER_MODE_HOST)
        status = status or fn(handle, op_b, op_a, n, m, k, ctypes.byref(one), b.data.ptr, ldb,
                              a.data.ptr, lda, ctypes.byref(zero), out.data.ptr, n)
        if status:
            raise RuntimeError(f"cuBLAS gemm of {a.shape} by {b.shape} failed with status {status}")
        return out
