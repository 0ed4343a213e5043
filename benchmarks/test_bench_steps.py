"""pytest-benchmark: one W1 training step (``train_on_batch``) and one inference batch on every
usable backend, beside the hand-written NumPy step and the step's GEMMs alone (the floor), so a
saved run shows where a step's time goes and a compare run shows which part moved."""
from __future__ import annotations

import pytest

pytest.importorskip("pytest_benchmark")

from benchmarks.workloads import W1  # noqa: E402


@pytest.fixture
def w1_model(backend):
    import lamina
    from benchmarks.impl_lamina import build_model

    lamina.utils.set_random_seed(1)
    return build_model(W1)


@pytest.mark.benchmark(group="W1 train step (batch 200)")
def test_w1_train_on_batch(benchmark, backend, w1_model, mnist_batch):
    x, y, _ = mnist_batch
    w1_model.train_on_batch(x, y)  # first call builds slots
    loss = benchmark(lambda: w1_model.train_on_batch(x, y))
    assert loss == loss  # finite, not NaN


@pytest.mark.benchmark(group="W1 inference batch (batch 200)")
def test_w1_predict_on_batch(benchmark, backend, w1_model, mnist_batch):
    x, _, _ = mnist_batch
    out = benchmark(lambda: w1_model.predict_on_batch(x))
    assert out.shape == (200, 10)


@pytest.mark.benchmark(group="W1 train step (batch 200)")
def test_w1_numpy_hand_step(benchmark, mnist_batch):
    from benchmarks.impl_numpy import HandMLP

    x, y, _ = mnist_batch
    net = HandMLP(W1, seed=1)
    benchmark(lambda: net.train_step(x, y))


@pytest.mark.benchmark(group="W1 train step (batch 200)")
def test_w1_gemm_floor_step(benchmark):
    from benchmarks.floor import GemmSequence

    seq = GemmSequence(W1)
    benchmark(lambda: seq.train_steps(1))
