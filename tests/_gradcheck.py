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


def check_layer_gradients(layer, x, out_w=None, rng=None, **call_kwargs):
    """Assert that the tape's gradients of ``sum(layer(x, **call_kwargs) * out_w)`` for ``x`` and
    every trainable weight match central finite differences (float64 layer and ``x``).
    ``out_w`` defaults to random weights from ``rng``, so every output entry matters."""
    layer(_t(x), **call_kwargs)  # builds the layer
    weights = [w.copy() for w in layer.get_weights()]
    if out_w is None:
        out_w = (rng or np.random.default_rng(0)).normal(size=_np(layer(_t(x), **call_kwargs)).shape)

    def scalar(xx, *ws):
        layer.set_weights(list(ws))
        return float(np.sum(_np(layer(_t(xx), **call_kwargs)) * out_w))

    numeric = numeric_grad(scalar, [x] + weights)
    layer.set_weights(weights)
    xt = _t(x)
    with ops.GradientTape() as tape:
        tape.watch(xt)
        loss = ops.sum(ops.multiply(layer(xt, **call_kwargs), out_w))
    analytic = tape.gradient(loss, [xt] + layer.trainable_weights)
    for got, want in zip(analytic, numeric):
        np.testing.assert_allclose(_np(got), want, rtol=1e-6, atol=1e-8)
