"""benchmarks.lean_step: the lean W1 step computes exact gradients and trains (the same Nesterov SGD
as Lamina's), and its command line refuses impossible counts."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks import lean_step


def _data(n):
    rng = np.random.default_rng(0)
    x = rng.random((n, 784), dtype=np.float32)
    labels = x[:, :10].argmax(axis=1)  # learnable from the first ten pixels
    return x, labels, np.eye(10, dtype=np.float32)[labels]


@pytest.mark.parametrize("variant", ["end", "per-layer"])
def test_lean_step_lowers_the_loss(variant):
    x, labels, y = _data(400)
    step = lean_step.LeanStep(x, y, variant)

    def loss():
        h = x
        for i, (w, b) in enumerate(zip(step.W, step.b)):
            h = h @ w + b
            h = np.tanh(h) if i < len(step.W) - 1 else h
        p = np.exp(h - h.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return float(-np.mean(np.log(p[np.arange(len(x)), labels])))

    before = loss()
    for _ in range(30):
        step.step(x[:200], y[:200])
    assert loss() < before - 0.05


@pytest.mark.parametrize("variant", ["end", "no-mask"])
def test_lean_step_gradients_match_finite_differences(variant):
    x, labels, y = _data(50)
    step = lean_step.LeanStep(x, y, variant)
    grads = {}
    step._update = lambda layers: grads.update({i: gw.copy() for i, gw, _ in layers})
    step.step(x, y)
    masks = [np.full((50, 500), 2.0) if variant == "no-mask" else
             step.be.dropout_mask((50, 500), 0.5, 1, k, "float64") for k in range(2)]  # the step's draws

    def loss(ws):
        h = x.astype(np.float64)
        for i, (w, b) in enumerate(zip(ws, step.b)):
            h = h @ w + b
            h = np.tanh(h) * masks[i] if i < 2 else h
        p = np.exp(h - h.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return -np.mean(np.log(p[np.arange(50), labels]))

    weights = [w.astype(np.float64) for w in step.W]
    for layer, (r, c) in ((2, (3, 4)), (1, (7, 9)), (0, (100, 5))):
        up, down = [w.copy() for w in weights], [w.copy() for w in weights]
        up[layer][r, c] += 1e-6
        down[layer][r, c] -= 1e-6
        numeric = (loss(up) - loss(down)) / 2e-6
        assert grads[layer][r, c] == pytest.approx(numeric, rel=1e-3, abs=1e-7)


def test_lean_step_refuses_impossible_counts():
    with pytest.raises(SystemExit):
        lean_step.main(["--steps", "0"])
    with pytest.raises(SystemExit):
        lean_step.main(["--rounds", "0"])
