"""A fake ``cupy`` for dry runs on a machine without a GPU (``GPU_CHECK_FAKE_CUPY=1 bash benchmarks/gpu_check.sh``).

Put ``tests/fake_cupy_site`` first on PYTHONPATH and ``import cupy`` gives the fake CuPy of
tests/test_cupy_backend.py (``FakeCupy``): arrays are NumPy arrays, every ``RawModule`` launch is
checked against the kernel's C signature in backend_cupy/lamina_cupy/kernels/*.cu and emulated in
NumPy. Nothing here touches a GPU, so a run on it proves the Python side (arguments, launches,
scripts, summaries), never CUDA numerics, speed or the real CuPy's behaviour.

The module replaces itself in ``sys.modules`` while it is being imported, so ``import cupy``
returns the fake object. The device is named ``FAKE-CUPY`` so that no log can pass for a real GPU.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

_REPO = Path(__file__).resolve().parents[3]
FAKE_DEVICE_NAME = "FAKE-CUPY dry run (NumPy on the CPU, no GPU)"


def _load_fake_source() -> types.ModuleType:
    """tests/test_cupy_backend.py, imported under a private name (it holds FakeCupy and its kernels)."""
    name = "_lamina_fake_cupy_source"
    if name in sys.modules:
        return sys.modules[name]
    for extra in (_REPO, _REPO / "frontend", _REPO / "backend_numpy", _REPO / "backend_cupy"):
        if str(extra) not in sys.path:  # lamina, lamina_cupy and conformance._updates, installed or not
            sys.path.append(str(extra))
    spec = importlib.util.spec_from_file_location(name, _REPO / "tests" / "test_cupy_backend.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _install() -> types.ModuleType:
    source = _load_fake_source()
    fake = source.FakeCupy(name=FAKE_DEVICE_NAME.encode())
    fake.__file__ = __file__
    fake.FAKE = True  # what a script can test: getattr(cupy, "FAKE", False)
    linalg = source.FakeLinalg()
    fake.linalg = linalg
    core = types.ModuleType("cupy._core")
    core._routines_linalg = linalg
    fake._core = core
    sys.modules["cupy"] = fake
    sys.modules["cupy._core"] = core
    sys.modules["cupy._core._routines_linalg"] = linalg
    return fake


_install()
