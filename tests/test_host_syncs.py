"""Host synchronisations in the training loop, counted on the CPU: a NumPy backend that says its
host transfers are expensive (``host_sync_cheap = False``, as on a GPU, where every transfer waits
for the queued work) and counts them. The performance issue asks for at most one per displayed
progress update."""
from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import backends
from lamina.layers import Dense, Dropout
from lamina.models import Sequential
from lamina_numpy import NumpyBackend


class CountingBackend(NumpyBackend):
    name = "numpy-counting"
    host_sync_cheap = False

    def __init__(self) -> None:
        super().__init__()
        self.transfers = 0

    def to_numpy(self, x):
        self.transfers += 1
        return super().to_numpy(x)


@pytest.fixture
def counting():
    previous = backends.current().name
    backends.register_backend("numpy-counting", CountingBackend)
    be = backends.set_backend("numpy-counting")
    try:
        yield be
    finally:
        backends.set_backend(previous)


def _model_and_data(n: int = 600):
    lamina.utils.set_random_seed(2)
    model = Sequential([Dense(16, activation="tanh", input_shape=(8,)), Dropout(0.5), Dense(3, activation="softmax")])
    model.compile("sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((n, 8), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    return model, x, y


def test_a_silent_fit_transfers_once_per_epoch(counting):
    model, x, y = _model_and_data()
    model.fit(x[:20], y[:20], batch_size=10, verbose=0)  # build, first calls
    counting.transfers = 0
    hist = model.fit(x, y, batch_size=20, epochs=3, verbose=0)  # 30 steps per epoch
    assert counting.transfers == 3, counting.transfers
    assert len(hist.history["loss"]) == 3 and np.isfinite(hist.history["loss"]).all()
    counting.transfers = 0
    model.fit(x, y, batch_size=20, epochs=2, verbose=0, validation_data=(x[:100], y[:100]))
    assert counting.transfers == 2 * 2, counting.transfers  # the training epoch's and the validation's


def test_a_displayed_fit_transfers_once_per_progress_update(counting, monkeypatch):
    import lamina.models.model as model_module
    from _models import every_third_step_progbar

    draws = []
    monkeypatch.setattr(model_module, "Progbar", every_third_step_progbar(draws))
    model, x, y = _model_and_data()
    model.fit(x[:20], y[:20], batch_size=10, verbose=0)
    counting.transfers = 0
    draws.clear()
    model.fit(x, y, batch_size=20, epochs=2, verbose=1)
    # 30 steps per epoch: updates at steps 3, 6, ..., 27 and the epoch's final line, 10 per epoch.
    assert len(draws) == 20, draws
    assert counting.transfers == len(draws), (counting.transfers, draws)


def test_nan_is_still_caught_at_the_step_it_happens(counting, capsys):
    model, x, y = _model_and_data()
    x = x.copy()
    x[45] = np.nan  # batch 2 of 20-sample batches, without shuffling
    hist = model.fit(x, y, batch_size=20, epochs=2, verbose=0, shuffle=False)
    assert "Batch 2 of epoch 1: the loss is not finite" in capsys.readouterr().err
    assert len(hist.history.get("loss", [])) <= 1


def test_the_step_count_tool_reports_one_transfer_per_update(counting, mnist_dir, monkeypatch, tmp_path):
    """``python -m benchmarks.step_counts`` (the GPU check runs it on CuPy) on the counting backend:
    its numbers are the ones the tests above establish."""
    import json

    from benchmarks import step_counts

    monkeypatch.setenv("LAMINA_BACKEND", "numpy-counting")  # the tool sets it; restored afterwards
    out = tmp_path / "counts.json"
    assert step_counts.main(["--backend", "numpy-counting", "--steps", "3", "--json", str(out)]) == 0
    r = json.loads(out.read_text())["lamina"]
    assert r["host_transfers_per_train_on_batch"] == 1.0  # train_on_batch returns the loss
    assert r["fit_steps"] == 210 and r["fit_progress_updates"] >= 1
    assert r["fit_transfers_per_update"] == 1.0
    # Forward, backward and update of the 3-layer MLP: dozens of calls, 8 of them products.
    assert r["top_calls_per_step"]["matmul"] == 8.0
    assert 40 <= r["protocol_calls_per_step"] <= 200
    assert not any(type(v).__name__ == "function" for v in vars(counting).values())  # counters removed
