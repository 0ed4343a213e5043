"""pytest-benchmark: the protocol ops W1 spends its time in, on every usable backend.

    pytest benchmarks --benchmark-autosave            # save a run under .benchmarks/
    pytest benchmarks --benchmark-compare             # ... and diff against the last saved run
    pytest benchmarks --benchmark-compare=0001 --benchmark-compare-fail=median:10%

Shapes are W1's: a batch of 200, layers 784-500-500-10. Skipped as a module when pytest-benchmark
is not installed (``pip install -e '.[bench]'``).
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

RNG = np.random.default_rng(0)


def _host(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def _run(benchmark, backend, fn):
    def call():
        out = fn()
        backend.synchronize()
        return out
    return benchmark(call)


@pytest.mark.benchmark(group="matmul 200x784x500")
def test_matmul(benchmark, backend):
    a, b = backend.asarray(_host(200, 784)), backend.asarray(_host(784, 500, scale=0.05))
    out = backend.empty((200, 500), "float32")
    r = _run(benchmark, backend, lambda: backend.matmul(a, b, out=out))
    np.testing.assert_allclose(backend.to_numpy(r), backend.to_numpy(a) @ backend.to_numpy(b), rtol=1e-3, atol=1e-3)


@pytest.mark.benchmark(group="matmul 200x784x500")
def test_matmul_no_out(benchmark, backend):
    a, b = backend.asarray(_host(200, 784)), backend.asarray(_host(784, 500, scale=0.05))
    _run(benchmark, backend, lambda: backend.matmul(a, b))


@pytest.mark.benchmark(group="tanh 200x500")
def test_tanh(benchmark, backend):
    x = backend.asarray(_host(200, 500))
    _run(benchmark, backend, lambda: backend.tanh(x))


@pytest.mark.parametrize("shape", [(200, 10), (200, 500)], ids=["200x10", "200x500"])
@pytest.mark.benchmark(group="softmax")
def test_softmax(benchmark, backend, shape):
    x = backend.asarray(_host(*shape, scale=3.0))
    r = _run(benchmark, backend, lambda: backend.softmax(x, axis=-1))
    np.testing.assert_allclose(backend.to_numpy(r).sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("op", ["sum", "max"])
@pytest.mark.benchmark(group="row reductions 200x10")
def test_short_row_reduction(benchmark, backend, op):
    """A classifier's reduction over its 10 classes (softmax, cross-entropy)."""
    x = backend.asarray(_host(200, 10))
    r = _run(benchmark, backend, lambda: getattr(backend, op)(x, axis=-1, keepdims=True))
    want = getattr(np, op)(backend.to_numpy(x), axis=-1, keepdims=True)
    np.testing.assert_allclose(backend.to_numpy(r), want, rtol=1e-6)


@pytest.mark.benchmark(group="relu_grad 128x24x24x64")
def test_relu_grad(benchmark, backend):
    """relu's backward at mnist_cnn's second convolution."""
    y = np.maximum(_host(128, 24, 24, 64), 0)
    g = _host(128, 24, 24, 64)
    yd, gd = backend.asarray(y), backend.asarray(g)
    r = _run(benchmark, backend, lambda: backend.relu_grad(yd, gd))
    np.testing.assert_array_equal(backend.to_numpy(r), g * (y > 0))


@pytest.mark.parametrize("rate", [0.5, 0.25, 0.2], ids=["rate0.5-1bit", "rate0.25-2bit", "rate0.2-32bit"])
@pytest.mark.benchmark(group="dropout_mask 200x500")
def test_dropout_mask(benchmark, backend, rate):
    counter = iter(range(10**9))
    r = _run(benchmark, backend, lambda: backend.dropout_mask((200, 500), rate, 1234, next(counter), "float32"))
    assert abs(float((backend.to_numpy(r) > 0).mean()) - (1 - rate)) < 0.01


@pytest.mark.benchmark(group="take 200 rows of 42000x784")
def test_batch_gather(benchmark, backend):
    data = backend.asarray(_host(42_000, 784))
    order = RNG.permutation(42_000)
    batches = iter(range(10**9))

    def gather():
        start = 200 * (next(batches) % 210)
        return backend.take(data, backend.asarray(order[start:start + 200]), 0)
    r = _run(benchmark, backend, gather)
    assert backend.to_numpy(r).shape == (200, 784)


@pytest.mark.benchmark(group="sigmoid 128x512")
def test_sigmoid(benchmark, backend):
    x = backend.asarray(_host(128, 512, scale=3.0))
    r = _run(benchmark, backend, lambda: backend.sigmoid(x))
    np.testing.assert_allclose(backend.to_numpy(r), 1 / (1 + np.exp(-backend.to_numpy(x).astype(np.float64))), rtol=1e-6)


@pytest.mark.benchmark(group="random_bits 100k")
def test_random_bits(benchmark, backend):
    counter = iter(range(10**9))
    r = _run(benchmark, backend, lambda: backend.random_bits(1234, next(counter), 100_000))
    assert backend.to_numpy(r).shape == (100_000,)


@pytest.mark.benchmark(group="sgd_update 784x500")
def test_sgd_update_nesterov(benchmark, backend):
    p = backend.asarray(_host(784, 500, scale=0.05))
    g = backend.asarray(_host(784, 500, scale=0.01))
    v = backend.zeros((784, 500), "float32")
    _run(benchmark, backend, lambda: backend.sgd_update(p, g, v, 0.01, 0.9, True))


@pytest.mark.benchmark(group="sgd_update W1's six parameters")
@pytest.mark.parametrize("fused", [True, False], ids=["one-call", "per-parameter"])
def test_sgd_update_all_w1_parameters(benchmark, backend, fused):
    shapes = [(784, 500), (500,), (500, 500), (500,), (500, 10), (10,)]
    params = [backend.asarray(_host(*s, scale=0.05)) for s in shapes]
    grads = [backend.asarray(_host(*s, scale=0.01)) for s in shapes]
    velocities = [backend.zeros(s, "float32") for s in shapes]

    def per_parameter():
        for p, g, v in zip(params, grads, velocities):
            backend.sgd_update(p, g, v, 0.01, 0.9, True)
    _run(benchmark, backend, (lambda: backend.sgd_update_many(params, grads, velocities, 0.01, 0.9, True))
         if fused else per_parameter)


@pytest.mark.benchmark(group="adam_update 784x500")
def test_adam_update(benchmark, backend):
    p = backend.asarray(_host(784, 500, scale=0.05))
    g = backend.asarray(_host(784, 500, scale=0.01))
    m, v = backend.zeros((784, 500), "float32"), backend.zeros((784, 500), "float32")
    _run(benchmark, backend, lambda: backend.adam_update(p, g, m, v, None, 1e-3, 0.9, 0.999, 1e-7))
