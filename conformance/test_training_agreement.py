"""End to end: the MNIST MLP trained from one seed on the backend under test agrees with the
NumPy backend — same initial weights, same dropout masks, same batches — step by step.

Tolerance, and why: both runs start from bit-identical weights (drawn on the host) and use
bit-identical dropout masks and batch order (the Philox stream), so every difference comes from
float32 rounding inside the ops — chiefly the summation order of the matrix products (cuBLAS and
OpenBLAS block differently), a relative error of order sqrt(K) * eps32 ~ 30 * 6e-8 ~ 2e-6 per
product. Through 30 SGD steps with Nesterov momentum these differences are carried forward but
not amplified much (the loss surface is smooth at this scale and the learning rate small), so we
require the running loss after every step to agree to 1e-4 relative and every final weight to
1e-4 absolute (weights are O(0.05); 1e-4 is ~1000 float32 ulps of a typical weight, and a
single wrong mask bit or a wrong op moves weights by more than 1e-3). A NumPy run against itself
must be bit-identical.
"""
from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import backends

STEPS = 30
BATCH = 200
SEED = 20261127
LOSS_RTOL = 1e-4
WEIGHT_ATOL = 1e-4
_reference: dict = {}


def _mnist_subset():
    from lamina.datasets import DatasetNotFoundError, mnist
    try:
        (x, y), _ = mnist.load_data()
    except DatasetNotFoundError as exc:
        pytest.skip(f"MNIST is not available offline here: {exc}")
    n = STEPS * BATCH
    x = x[:n].reshape(n, 784).astype("float32") / 255.0
    return x, lamina.utils.to_categorical(y[:n], 10)


def _train(name: str) -> tuple[list[float], list[np.ndarray]]:
    from lamina.callbacks import LambdaCallback
    from lamina.layers import Activation, Dense, Dropout
    from lamina.models import Sequential
    from lamina.optimizers import SGD

    previous = backends.current().name
    backends.set_backend(name)
    try:
        x, y = _mnist_subset()
        lamina.utils.set_random_seed(SEED)
        model = Sequential([Dense(500, input_shape=(784,)), Activation("tanh"), Dropout(0.5), Dense(500),
                            Activation("tanh"), Dropout(0.5), Dense(10), Activation("softmax")])
        model.compile(loss="categorical_crossentropy",
                      optimizer=SGD(learning_rate=0.01, decay=1e-6, momentum=0.9, nesterov=True))
        losses: list[float] = []
        record = LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append(logs["loss"]))
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=True, verbose=0, callbacks=[record])
        return losses, model.get_weights()
    finally:
        backends.set_backend(previous)


def _numpy_reference():
    if "run" not in _reference:
        _reference["run"] = _train("numpy")
    return _reference["run"]


def test_mlp_training_agrees_with_numpy(backend):
    ref_losses, ref_weights = _numpy_reference()
    losses, weights = _train(backend.name)
    assert len(losses) == len(ref_losses) == STEPS
    if backend.name == "numpy":
        assert losses == ref_losses
        for a, b in zip(weights, ref_weights):
            np.testing.assert_array_equal(a, b)
        return
    np.testing.assert_allclose(losses, ref_losses, rtol=LOSS_RTOL,
                               err_msg=f"running loss per step differs between {backend.name} and numpy")
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(weights, ref_weights))
    assert worst <= WEIGHT_ATOL, f"final weights differ by up to {worst:.3g} (allowed {WEIGHT_ATOL})"


def test_training_actually_learns():
    """Guards the agreement test against comparing two runs that both do nothing."""
    losses, _ = _numpy_reference()
    assert losses[-1] < 0.8 * losses[0]
