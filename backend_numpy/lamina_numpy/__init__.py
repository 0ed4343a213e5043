"""The NumPy backend: the shared base class over ``numpy``, with host-speed overrides."""
from __future__ import annotations

import numpy as np

from lamina.backends.base import ArrayBackend

__all__ = ["NumpyBackend"]


class NumpyBackend(ArrayBackend):
    """CPU backend. Arrays are ``numpy.ndarray``; random bits come from NumPy's C Philox."""

    name = "numpy"
    xp = np
    host_sync_cheap = True

    def device_description(self) -> str:
        import platform
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
