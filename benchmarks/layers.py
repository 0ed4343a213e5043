"""Layer workloads: CONV (a convolution's forward + backward) and LSTM (one LSTM training step).

Not part of the default ``python -m benchmarks`` run; ask for them with ``--workloads conv,lstm``.
They run in the same child processes as W1 (``benchmarks.child``), for ``lamina/<backend>`` and
``torch/cpu|cuda`` only (the hand-written NumPy MLP and Keras do not take part). Inputs are
seeded random arrays of the shapes below (no data set is read). Each process warms up
(``WARMUP`` calls), then times ``REPEATS`` calls one by one with ``time.perf_counter`` around
device-synchronised work; the table reports the median, min and max of every timed call of
every round.

* **CONV** -- the second layer of examples/mnist_cnn: inputs (128, 26, 26, 32) channels-last,
  kernel (3, 3, 32, 64), valid padding, stride 1 -> (128, 24, 24, 64); forward, then the
  gradients with respect to the inputs and the kernel for an upstream gradient of ones.
  Lamina: ``lamina.ops.conv`` inside ``lamina.ops.GradientTape``; PyTorch:
  ``torch.nn.functional.conv2d`` on NCHW tensors with autograd.
* **LSTM** -- one training step (forward + backward + optimizer update) of LSTM(128) over a batch
  (128, 28, 28) -> Dense(10, softmax), categorical cross-entropy, Adam(1e-3). Lamina:
  ``Sequential([LSTM(128), Dense(10, activation="softmax")]).train_on_batch``; PyTorch:
  ``nn.LSTM(28, 128, batch_first=True)`` + ``nn.Linear(128, 10)``, ``cross_entropy`` on the logits,
  ``torch.optim.Adam`` step.
"""
from __future__ import annotations

import time

import numpy as np

LAYER_WORKLOADS = ("conv", "lstm")
TITLES = {"conv": "CONV fwd+bwd (s/call)", "lstm": "LSTM step (s/call)"}
CONV_X, CONV_K = (128, 26, 26, 32), (3, 3, 32, 64)
LSTM_BATCH, LSTM_STEPS, LSTM_FEATURES, LSTM_UNITS, LSTM_CLASSES = 128, 28, 28, 128, 10
SAMPLES = {"conv": CONV_X[0], "lstm": LSTM_BATCH}
WARMUP = {"conv": 2, "lstm": 3}
REPEATS = {"conv": 5, "lstm": 10}
QUICK_REPEATS = {"conv": 2, "lstm": 3}


def conv_flops() -> float:
    """Multiply-adds x 2 of the forward pass; forward + both gradients is 3x this."""
    n, h, w, cin = CONV_X
    kh, kw, _, cout = CONV_K
    return 2.0 * n * (h - kh + 1) * (w - kw + 1) * cout * kh * kw * cin


def _host(seed: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(CONV_X).astype(np.float32)
    k = (rng.standard_normal(CONV_K) * (2.0 / (9 * 32)) ** 0.5).astype(np.float32)
    xs = rng.standard_normal((LSTM_BATCH, LSTM_STEPS, LSTM_FEATURES)).astype(np.float32)
    labels = rng.integers(0, LSTM_CLASSES, LSTM_BATCH)
    ys = np.eye(LSTM_CLASSES, dtype=np.float32)[labels]
    return x, k, xs, ys, labels


def _time(fn, sync, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        fn()
    sync()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t0)
    return out


# ----------------------------------------------------------------------------------------- Lamina
def lamina_conv_step(be, seed: int = 1):
    """A callable doing CONV once on the active Lamina backend (returns the two gradients)."""
    from lamina import ops

    x_h, k_h, *_ = _host(seed)
    x, k = ops.convert_to_tensor(be.asarray(x_h)), ops.convert_to_tensor(be.asarray(k_h))

    def step():
        with ops.GradientTape() as tape:
            tape.watch(x)
            tape.watch(k)
            y = ops.conv(x, k, strides=1, padding="valid", data_format="channels_last")
        return tape.gradient(y, [x, k])  # upstream gradient: ones
    return step


def lamina_lstm_model(seed: int = 1, recurrent: str = "LSTM"):
    """The LSTM workload's model; ``recurrent="GRU"`` or ``"SimpleRNN"`` swaps the recurrent layer
    (pytest-benchmark cases only)."""
    import lamina
    from lamina import layers as lamina_layers
    from lamina.layers import Dense
    from lamina.models import Sequential
    from lamina.optimizers import Adam

    lamina.utils.set_random_seed(seed)
    model = Sequential()
    model.add(getattr(lamina_layers, recurrent)(LSTM_UNITS, input_shape=(LSTM_STEPS, LSTM_FEATURES)))
    model.add(Dense(LSTM_CLASSES, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=Adam(learning_rate=1e-3))
    return model


def lstm_batch(seed: int = 1):
    _, _, xs, ys, labels = _host(seed)
    return xs, ys, labels


def run_lamina(backend: str, workloads: list[str], seed: int, quick: bool) -> dict:
    import os
    os.environ["LAMINA_BACKEND"] = backend
    from lamina.backends import set_backend

    be = set_backend(backend)
    reps = QUICK_REPEATS if quick else REPEATS
    out: dict = {"device": be.device_description()}
    if "conv" in workloads:
        out["conv"] = {"seconds": _time(lamina_conv_step(be, seed), be.synchronize, WARMUP["conv"], reps["conv"]),
                       "unit": "call"}
    if "lstm" in workloads:
        model = lamina_lstm_model(seed)
        xs, ys, _ = lstm_batch(seed)
        losses = []
        secs = _time(lambda: losses.append(model.train_on_batch(xs, ys)), be.synchronize, WARMUP["lstm"],
                     reps["lstm"])
        out["lstm"] = {"seconds": secs, "unit": "call", "last_loss": float(np.asarray(losses[-1]).ravel()[0])}
    return out


# ---------------------------------------------------------------------------------------- PyTorch
def torch_conv_step(device: str, seed: int = 1):
    import torch
    import torch.nn.functional as F

    x_h, k_h, *_ = _host(seed)
    x = torch.from_numpy(np.ascontiguousarray(x_h.transpose(0, 3, 1, 2))).to(device).requires_grad_(True)
    w = torch.from_numpy(np.ascontiguousarray(k_h.transpose(3, 2, 0, 1))).to(device).requires_grad_(True)
    n, h, wd, _ = CONV_X
    g = torch.ones((n, CONV_K[3], h - 2, wd - 2), device=device)

    def step():
        x.grad = w.grad = None
        y = F.conv2d(x, w, stride=1, padding=0)
        y.backward(g)
        return x.grad, w.grad
    return step


def torch_lstm_step(device: str, seed: int = 1):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    lstm = nn.LSTM(LSTM_FEATURES, LSTM_UNITS, batch_first=True).to(device)
    head = nn.Linear(LSTM_UNITS, LSTM_CLASSES).to(device)
    params = list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    xs, _, labels = lstm_batch(seed)
    x = torch.from_numpy(xs).to(device)
    y = torch.from_numpy(labels).to(device)

    def step():
        opt.zero_grad(set_to_none=True)
        seq, _ = lstm(x)
        loss = nn.functional.cross_entropy(head(seq[:, -1]), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return step


def run_torch(backend: str, workloads: list[str], seed: int, quick: bool) -> dict:
    import torch

    if backend == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("PyTorch sees no CUDA device (torch.cuda.is_available() is False)")
    sync = torch.cuda.synchronize if backend == "cuda" else (lambda: None)
    reps = QUICK_REPEATS if quick else REPEATS
    out: dict = {"device": (f"CUDA {torch.cuda.get_device_name()}" if backend == "cuda"
                            else f"CPU, {torch.get_num_threads()} threads")}
    if "conv" in workloads:
        out["conv"] = {"seconds": _time(torch_conv_step(backend, seed), sync, WARMUP["conv"], reps["conv"]),
                       "unit": "call"}
    if "lstm" in workloads:
        step = torch_lstm_step(backend, seed)
        losses = []
        secs = _time(lambda: losses.append(step()), sync, WARMUP["lstm"], reps["lstm"])
        out["lstm"] = {"seconds": secs, "unit": "call", "last_loss": float(losses[-1])}
    return out


RUNNERS = {"lamina": run_lamina, "torch": run_torch}
