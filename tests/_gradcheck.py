"""Finite-difference helpers shared by the layer tests (float64 references)."""
from __future__ import annotations

import numpy as np

from lamina import ops


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _t(a):
    return ops.convert_to_tensor(np.asarray(a, dtype=np.float64))


def numeric_grad(f, arrays, eps=1e-6):
    """Central finite differences of the scalar ``f(*arrays)`` (NumPy float64 arrays)."""
    grads = []
    for k, a in enumerate(arrays):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            plus = [b.copy() for b in arrays]
            minus = [b.copy() for b in arrays]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            g[idx] = (f(*plus) - f(*minus)) / (2 * eps)
        grads.append(g)
    return grads


def roundtrip(layer):
    """A layer rebuilt from its config; the config must survive the trip unchanged."""
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    return clone
