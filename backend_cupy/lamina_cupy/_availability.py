"""Finding CuPy and a usable GPU, with one clear sentence when either is missing.

Nothing here imports CuPy at module import time: ``import lamina_cupy`` works on any machine, and
only creating the backend looks for CuPy and a device.
"""
from __future__ import annotations

import os
import re
from typing import Any

from lamina import _config
from lamina.backends import BackendUnavailableError

INSTALL_HINT = ("pip install 'lamina[cupy]' (CuPy for CUDA 12) or the cupy-cudaXXx wheel that "
                "matches your NVIDIA driver (cupy-cuda13x for a CUDA 13 driver)")
CPU_HINT = "or set LAMINA_BACKEND=numpy to run on the CPU"


def requested_phrase() -> str:
    """How the user asked for this backend, for the first words of an error."""
    if os.environ.get("LAMINA_BACKEND", "").strip() == "cupy":
        return "LAMINA_BACKEND=cupy asks for the CuPy GPU backend"
    return "The 'cupy' backend was requested"


def import_cupy() -> Any:
    """The ``cupy`` module, or :class:`BackendUnavailableError` saying how to install it."""
    try:
        import cupy
    except ModuleNotFoundError as exc:
        if exc.name not in (None, "cupy"):  # CuPy is there but one of its own imports is not
            raise BackendUnavailableError(
                f"{requested_phrase()}, but CuPy failed to import ({exc}); reinstall it with "
                f"{INSTALL_HINT}, {CPU_HINT}."
            ) from None
        raise BackendUnavailableError(
            f"{requested_phrase()}, but CuPy is not installed in this Python environment; "
            f"install it with {INSTALL_HINT}, {CPU_HINT}."
        ) from None
    except ImportError as exc:
        raise BackendUnavailableError(
            f"{requested_phrase()}, but CuPy is installed and failed to import ({exc}); "
            f"reinstall it with {INSTALL_HINT}, {CPU_HINT}."
        ) from None
    return cupy


def _cuda_version(encoded: int) -> str:
    return f"{encoded // 1000}.{(encoded % 1000) // 10}"


def _runtime_version(cupy: Any) -> int:
    try:
        return int(cupy.cuda.runtime.runtimeGetVersion())
    except Exception:
        return 0


def _driver_version(cupy: Any) -> int | None:
    try:
        return int(cupy.cuda.runtime.driverGetVersion())
    except Exception:
        return None


def _no_gpu(cupy: Any, cause: str) -> BackendUnavailableError:
    version = getattr(cupy, "__version__", "?")
    runtime = _runtime_version(cupy)
    driver = _driver_version(cupy)
    needs = f"CUDA {_cuda_version(runtime)}" if runtime else "this CuPy's CUDA version"
    needs_or_newer = f"{needs} or newer" if runtime else needs
    if driver == 0:
        cause = f"no NVIDIA driver is loaded ({cause})"
    elif driver and runtime and driver < runtime:
        cause = (f"the NVIDIA driver supports CUDA {_cuda_version(driver)} but this CuPy needs "
                 f"{needs} ({cause})")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        cause += f", with CUDA_VISIBLE_DEVICES={visible!r}"
    return BackendUnavailableError(
        f"{requested_phrase()} and CuPy {version} is installed, but no usable NVIDIA GPU was "
        f"found: {cause}; run on a machine with an NVIDIA GPU whose driver supports {needs_or_newer} "
        f"(check with nvidia-smi), or install the cupy-cudaXXx wheel that matches the driver, "
        f"{CPU_HINT}."
    )


def device_count(cupy: Any) -> int:
    """How many GPUs CuPy can use (at least one), or :class:`BackendUnavailableError` naming why none."""
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # CUDARuntimeError: no driver, driver too old, no device, ...
        raise _no_gpu(cupy, str(exc) or type(exc).__name__) from None
    if count <= 0:
        raise _no_gpu(cupy, "the CUDA runtime sees 0 GPUs")
    is_available = getattr(cupy, "is_available", None)
    if is_available is not None and not is_available():
        raise _no_gpu(cupy, "cupy.is_available() is False")
    return count


_DEVICE_TEXT = re.compile(r"^\s*(?:(?:cuda|gpu)\s*[: ]\s*)?(\d+)\s*$", re.IGNORECASE)


def requested_device() -> tuple[int, str]:
    """The GPU number asked for (``LAMINA_DEVICE``, else ``"device"`` in lamina.json, else 0)
    and where it came from, for error messages."""
    env = os.environ.get("LAMINA_DEVICE")
    if env is not None and env.strip():
        raw: Any = env
        source = f"LAMINA_DEVICE={env!r}"
    else:
        raw = _config.settings().get("device")
        if raw is None:
            return 0, "the default device 0"
        source = f'"device": {raw!r} in {_config.config_path()}'
    return parse_device(raw, source), source


def parse_device(raw: Any, source: str) -> int:
    """``0``, ``"1"``, ``"cuda:1"`` or ``"gpu:1"`` → the device number."""
    if isinstance(raw, bool):
        match = None
    elif isinstance(raw, int):
        if raw >= 0:
            return raw
        match = None
    else:
        match = _DEVICE_TEXT.match(str(raw))
    if match is None:
        raise ValueError(
            f"{source} is not a GPU number; set it to a device index such as 0 or 'cuda:1'."
        )
    return int(match.group(1))


def check_device_index(index: int, count: int, source: str) -> None:
    if not 0 <= index < count:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        seen = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
        raise BackendUnavailableError(
            f"{source} asks for GPU {index}, but CuPy sees {count} GPU{'s' if count != 1 else ''}"
            f"{seen}, numbered 0 to {count - 1}; set LAMINA_DEVICE to one of those numbers."
        )


_UNITS = {"": 1, "b": 1, "k": 2 ** 10, "kb": 2 ** 10, "kib": 2 ** 10, "m": 2 ** 20,
          "mb": 2 ** 20, "mib": 2 ** 20, "g": 2 ** 30, "gb": 2 ** 30, "gib": 2 ** 30,
          "t": 2 ** 40, "tb": 2 ** 40, "tib": 2 ** 40}
_SIZE_TEXT = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([a-zA-Z]*|%)\s*$")


def parse_memory_limit(text: str) -> tuple[str, float]:
    """``LAMINA_GPU_MEMORY_LIMIT`` → ``("size", bytes)`` or ``("fraction", f)``.

    Accepts bytes (``"2147483648"``), binary units (``"2GB"``, ``"512MiB"``: 1 GB = 2**30 bytes,
    as nvidia-smi counts) or a share of the device's memory (``"50%"``). ``"0"`` means no limit.
    """
    match = _SIZE_TEXT.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or (unit != "%" and unit not in _UNITS):
        raise ValueError(
            f"LAMINA_GPU_MEMORY_LIMIT={text!r} is not a size; use bytes (2147483648), "
            "a binary unit (2GB, 512MiB) or a share of the GPU's memory (50%)."
        )
    value = float(match.group(1))
    if unit == "%":
        if not 0.0 <= value <= 100.0:
            raise ValueError(f"LAMINA_GPU_MEMORY_LIMIT={text!r} must be a share between 0% and 100%.")
        return "fraction", value / 100.0
    return "size", float(int(value * _UNITS[unit]))
