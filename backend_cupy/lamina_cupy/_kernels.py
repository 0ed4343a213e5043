"""The CUDA kernels in ``kernels/*.cu``: loading, launching, and falling back when they fail.

Each ``.cu`` file is one ``cupy.RawModule``, compiled by NVRTC on first use (CuPy caches the
binary on disk). Every fused op goes through :meth:`KernelLibrary.run`, which turns a failure to
compile or launch into one logged warning and a ``False`` return, so the backend can use the
generic CuPy code instead and training goes on.
"""
from __future__ import annotations

import logging
from importlib import resources
from typing import Any, Callable

from lamina.backends import philox

logger = logging.getLogger("lamina.cupy")

KERNEL_FILES = ("philox", "optimizers", "activations", "recurrent", "classifier", "scatter")
# --fmad=false: never contract a * b + c into one rounding, so results match NumPy's separately
# rounded operations (the kernels also use the *_rn intrinsics where it matters).
NVRTC_OPTIONS = ("--fmad=false",)
THREADS_PER_BLOCK = 256
MAX_BLOCKS = 65535  # kernels loop grid-stride, so any n fits

def kernel_source(name: str) -> str:
    """The CUDA source of ``kernels/<name>.cu`` (shipped as package data)."""
    return resources.files(__package__).joinpath("kernels", f"{name}.cu").read_text(encoding="utf-8")


# The kernels' Philox arguments; defined beside the stream they index (the CPU helper uses it too).
philox_kernel_args = philox.kernel_args


def launch_shape(work_items: int, planes: int = 1) -> tuple[tuple[int, ...], tuple[int]]:
    """(grid, block) for a grid-stride kernel over ``work_items`` items (at least one block); with
    ``planes`` > 1 the grid gets a y dimension of that size (one plane per parameter of a
    several-parameter update, each looping over up to ``work_items`` items)."""
    blocks = max(1, min(MAX_BLOCKS, -(-work_items // THREADS_PER_BLOCK)))
    return ((blocks,) if planes == 1 else (blocks, planes)), (THREADS_PER_BLOCK,)


class KernelLibrary:
    """Compiled kernels for one backend, and the ops whose kernel has failed (never retried)."""

    def __init__(self, cupy: Any, enabled: bool = True) -> None:
        self._cupy = cupy
        self._modules: dict[str, Any] = {}
        self._functions: dict[tuple[str, str], Any] = {}
        self.enabled = enabled
        self.strict = False  # while a CUDA graph is captured: a failure raises (the capture is given up), never disables
        self.status: dict[str, str] = {}
        """op name → "ok" once its kernel ran, or "failed: <reason>" (then the generic code runs)."""

    def function(self, file: str, name: str) -> Any:
        key = (file, name)
        fn = self._functions.get(key)
        if fn is None:
            module = self._modules.get(file)
            if module is None:
                module = self._cupy.RawModule(code=kernel_source(file), options=NVRTC_OPTIONS)
                self._modules[file] = module
            fn = self._functions[key] = module.get_function(name)
        return fn

    def usable(self, op: str) -> bool:
        return self.enabled and not self.status.get(op, "").startswith("failed")

    def run(self, op: str, file: str, name: str, work_items: int, args: tuple, planes: int = 1) -> bool:
        """Launch kernel ``name`` of ``file`` for ``op``; False (after one warning) if it fails."""
        return self.attempt(op, lambda: self._launch(file, name, work_items, args, planes))

    def attempt(self, op: str, action: Callable[[], Any]) -> bool:
        if not self.usable(op):
            return False
        if self.strict:
            action()
            return True
        try:
            action()
        except Exception as exc:  # NVRTC CompileException, CUDADriverError, missing NVRTC, ...
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            self.status[op] = f"failed: {reason}"
            logger.warning(
                "lamina_cupy: the fused CUDA kernel for %s could not run (%s); using the generic "
                "CuPy implementation for %s from now on.", op, reason, op)
            return False
        self.status[op] = "ok"
        return True

    def _launch(self, file: str, name: str, work_items: int, args: tuple, planes: int = 1) -> None:
        grid, block = launch_shape(work_items, planes)
        self.function(file, name)(grid, block, args)
