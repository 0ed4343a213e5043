"""The CuPy backend of Lamina: NVIDIA GPUs through CuPy, cuBLAS and a few fused CUDA kernels.

Importing this package never imports CuPy (so it imports, and its error paths can be tested, on
machines without CuPy or a GPU); creating :class:`CupyBackend` does, and raises
:class:`lamina.backends.BackendUnavailableError` with the fix when CuPy or a usable GPU is
missing. Select it with ``LAMINA_BACKEND=cupy``; see docs/cupy.md.
"""
from __future__ import annotations

from ._backend import CupyBackend
from ._kernels import KERNEL_FILES, NVRTC_OPTIONS, kernel_source, philox_kernel_args

__all__ = ["CupyBackend", "KERNEL_FILES", "NVRTC_OPTIONS", "kernel_source", "philox_kernel_args"]
