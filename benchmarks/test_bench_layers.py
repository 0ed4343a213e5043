"""pytest-benchmark: the layer workloads of benchmarks.layers -- a Conv2D forward + backward
(mnist_cnn's second layer: (128, 26, 26, 32) -> 64 filters 3x3 valid) and one LSTM(128) training
step on (128, 28, 28) -> Dense(10) -- on every usable Lamina backend, beside PyTorch on the CPU
when it is installed."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

from benchmarks import layers  # noqa: E402


def _synced(backend, fn):
    def call():
        out = fn()
        backend.synchronize()
        return out
    return call


@pytest.mark.benchmark(group="CONV fwd+bwd (128,26,26,32) 3x3x32x64")
def test_conv_fwd_bwd(benchmark, backend):
    step = layers.lamina_conv_step(backend)
    gx, gk = step()  # warm-up
    assert tuple(gx.shape) == layers.CONV_X and tuple(gk.shape) == layers.CONV_K
    benchmark(_synced(backend, step))


@pytest.mark.benchmark(group="CONV fwd+bwd (128,26,26,32) 3x3x32x64")
def test_conv_fwd_bwd_torch_cpu(benchmark):
    pytest.importorskip("torch")
    step = layers.torch_conv_step("cpu")
    gx, gw = step()
    benchmark(step)
    # Same gradients as Lamina's NumPy backend (NCHW/OIHW here, NHWC/HWIO there).
    from lamina import backends, ops
    lx, lk = layers.lamina_conv_step(backends.get_backend("numpy"))()
    np.testing.assert_allclose(ops.convert_to_numpy(lx), gx.numpy().transpose(0, 2, 3, 1), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(ops.convert_to_numpy(lk), gw.numpy().transpose(2, 3, 1, 0), rtol=1e-3, atol=1e-2)


@pytest.mark.benchmark(group="LSTM(128) train step (128,28,28)")
def test_lstm_train_on_batch(benchmark, backend):
    model = layers.lamina_lstm_model()
    xs, ys, _ = layers.lstm_batch()
    model.train_on_batch(xs, ys)  # first call builds the optimizer slots
    loss = benchmark(_synced(backend, lambda: model.train_on_batch(xs, ys)))
    assert np.isfinite(np.asarray(loss, dtype=float)).all()


@pytest.mark.benchmark(group="LSTM(128) train step (128,28,28)")
def test_lstm_step_torch_cpu(benchmark):
    pytest.importorskip("torch")
    step = layers.torch_lstm_step("cpu")
    step()
    loss = benchmark(step)
    assert np.isfinite(float(loss))


@pytest.mark.benchmark(group="GRU(128) train step (128,28,28)")
def test_gru_train_on_batch(benchmark, backend):
    model = layers.lamina_lstm_model(recurrent="GRU")
    xs, ys, _ = layers.lstm_batch()
    model.train_on_batch(xs, ys)
    loss = benchmark(_synced(backend, lambda: model.train_on_batch(xs, ys)))
    assert np.isfinite(np.asarray(loss, dtype=float)).all()
