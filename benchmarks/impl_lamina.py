"""W1 on Lamina, exactly as a user writes it (examples/mnist_mlp.py): Sequential, Dense,
Activation, Dropout, SGD(nesterov, decay), ``fit(..., validation_data=...)``, ``evaluate``."""
from __future__ import annotations

import os
import time
from typing import Any

from .workloads import MLP

NAME = "lamina"


def library_info() -> dict:
    import lamina
    return {"lamina": lamina.__version__}


def build_model(mlp: MLP) -> Any:
    from lamina.layers import Activation, Dense, Dropout
    from lamina.models import Sequential
    from lamina.optimizers import SGD

    model = Sequential()
    for i, width in enumerate(mlp.hidden):
        model.add(Dense(width, input_shape=(mlp.sizes[0],)) if i == 0 else Dense(width))
        model.add(Activation("tanh"))
        model.add(Dropout(mlp.dropout))
    model.add(Dense(mlp.sizes[-1]))
    model.add(Activation("softmax"))
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                  optimizer=SGD(learning_rate=mlp.lr, decay=mlp.decay, momentum=mlp.momentum, nesterov=True))
    return model


class Trainer:
    label = "lamina"

    def __init__(self, backend: str, mlp: MLP, seed: int):
        os.environ["LAMINA_BACKEND"] = backend  # before lamina picks its backend
        import lamina
        from lamina.backends import set_backend

        self.be = set_backend(backend)  # BackendUnavailableError / ImportError: reported as skipped
        lamina.utils.set_random_seed(seed)
        self.mlp = mlp
        self.model = build_model(mlp)

    def device(self) -> str:
        return self.be.device_description()

    def prepare(self, x_train, y_train, x_val, y_val) -> None:
        from .data import one_hot
        self.data = (x_train, one_hot(y_train), x_val, one_hot(y_val))

    def fit_epochs(self, epochs: int, train_n: int | None = None, val_n: int | None = None) -> tuple[list[float], dict]:
        from lamina.callbacks import Callback

        be = self.be

        class EpochTimer(Callback):
            def on_train_begin(self, logs=None):
                self.times = []

            def on_epoch_begin(self, epoch, logs=None):
                be.synchronize()
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                be.synchronize()
                self.times.append(time.perf_counter() - self.t0)

        x, y, xv, yv = self.data
        timer = EpochTimer()
        history = self.model.fit(x[:train_n], y[:train_n], batch_size=self.mlp.batch, epochs=epochs, verbose=0,
                                 shuffle=True, validation_data=(xv[:val_n], yv[:val_n]), callbacks=[timer])
        self.history = history.history  # every epoch's logs (benchmarks.cuda_graph_probe compares them)
        logs = {k: float(v[-1]) for k, v in history.history.items()}
        return timer.times, logs

    def evaluate(self, val_n: int | None = None) -> tuple[float, float]:
        _, _, xv, yv = self.data
        self.be.synchronize()
        t0 = time.perf_counter()
        _, acc = self.model.evaluate(xv[:val_n], yv[:val_n], batch_size=self.mlp.batch, verbose=0)
        self.be.synchronize()
        return time.perf_counter() - t0, float(acc)

    def train_steps(self, x, y, steps: int) -> float:
        from .data import one_hot
        b = self.mlp.batch
        x, y = x[: steps * b], one_hot(y[: steps * b])
        self.be.synchronize()
        t0 = time.perf_counter()
        self.model.fit(x, y, batch_size=b, epochs=1, verbose=0, shuffle=True)
        self.be.synchronize()
        return time.perf_counter() - t0

    def final_weights(self) -> list:
        return self.model.get_weights()


def warm_w1_trainer(backend: str, seed: int) -> tuple["Trainer", dict]:
    """A W1 trainer on the benchmark's split (42,000 training, 18,000 validation samples) after a
    short warm-up fit, so first-call costs stay out of what is timed next; and the data set."""
    from . import data
    from .workloads import W1
    d = data.load()
    trainer = Trainer(backend, W1, seed)
    x, y = d["x_train"], d["y_train"]
    trainer.prepare(x[:42000], y[:42000], x[42000:], y[42000:])
    trainer.fit_epochs(1, train_n=5 * W1.batch, val_n=2 * W1.batch)
    return trainer, d
