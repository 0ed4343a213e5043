"""The tape's backward walk (``lamina.ops.tape.backward``): nodes in decreasing creation order."""
from __future__ import annotations

import copy

import numpy as np

import lamina.ops as ops


def test_gradient_walk_survives_copied_tensors():
    """A copy.copy of a recorded tensor shares its creation number; the tape must not compare the
    tensors themselves when both wait to be processed."""
    w = ops.Variable(np.array([1.0, 2.0, 3.0], np.float32))
    with ops.GradientTape() as tape:
        y = ops.multiply(w, w)
        twin = copy.copy(y)
        loss = ops.sum(ops.add(ops.multiply(y, 2.0), ops.multiply(twin, 3.0)))
    (g,) = tape.gradient(loss, [w])
    np.testing.assert_allclose(g.numpy(), 10.0 * np.array([1.0, 2.0, 3.0]), rtol=1e-6)


def test_gradient_of_a_node_used_by_later_and_earlier_consumers():
    """x feeds ops made long after it and right after it; its gradient is complete before its own
    VJP runs (d/dw of w*w*3 + tanh(w*w) + (w*w)^2 summed)."""
    w = ops.Variable(np.array([0.5, -1.5], np.float64))
    with ops.GradientTape() as tape:
        x = ops.multiply(w, w)
        a = ops.multiply(x, 3.0)
        b = ops.tanh(x)
        c = ops.multiply(x, x)
        loss = ops.sum(ops.add(ops.add(a, b), c))
    (g,) = tape.gradient(loss, [w])
    wv = np.array([0.5, -1.5])
    xv = wv * wv
    want = (3.0 + (1 - np.tanh(xv) ** 2) + 2 * xv) * 2 * wv
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-12)
