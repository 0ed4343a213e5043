"""``python -m benchmarks.profile_w1 --calls``: one training step's backend calls, timed in place."""
from __future__ import annotations

import numpy as np

from benchmarks.impl_lamina import Trainer
from benchmarks.profile_w1 import step_calls
from benchmarks.workloads import MLP


def test_step_calls_lists_one_training_step_in_order():
    mlp = MLP(hidden=(16, 16), batch=20)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 784)).astype("float32")
    y = rng.integers(0, 10, 200)
    trainer = Trainer("numpy", mlp, seed=1)
    trainer.prepare(x[:160], y[:160], x[160:], y[160:])
    table = step_calls(trainer).splitlines()
    calls = [line.split()[1] for line in table[1:-1]]
    assert calls.count("matmul") == 8  # three forward products, three weight and two input gradients
    assert calls[-1] == "sgd_update_many" and calls.count("sgd_update_many") == 1
    # each layer's bias, activation (and a hidden layer's Dropout) after its product: one call
    forward = calls[calls.index("matmul"):calls.index("categorical_crossentropy")]
    assert forward == ["matmul", "dense_activation"] * 3
    assert "ones" not in calls  # the tape's seed is made once, not per step
    assert calls.count("dense_activation_grad") == 3 and "multiply" not in calls[calls.index("matmul"):]
    # 8 steps give 7 runs of calls between updates; those that match the middle one are counted
    assert 5 <= int(table[-1].split()[0]) <= 7 and "steps of the same calls" in table[-1]
    assert "categorical_crossentropy_grad" in calls
    assert not any(name.startswith("_") for name in calls)
    assert all(not hasattr(trainer.be, "__dict__") or name not in vars(trainer.be) for name in calls)  # unwrapped
