"""W1 on Keras 3 (``backend`` = jax, torch, tensorflow or numpy — one per process, because Keras
reads KERAS_BACKEND at import). Same network and optimizer; Keras 3 has no ``decay`` argument, so
the Keras-2 decay is the equivalent ``InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)``."""
from __future__ import annotations

import os
import tempfile
import time

from .workloads import MLP

NAME = "keras"


def library_info() -> dict:
    import keras
    info = {"keras": keras.__version__, "keras_backend": keras.backend.backend()}
    if keras.backend.backend() == "jax":
        import jax
        info["jax"] = jax.__version__
        info["jax_devices"] = [str(d) for d in jax.devices()]
        info["gemm"] = f"XLA {jax.default_backend()}"
    elif keras.backend.backend() == "torch":
        import torch
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        from .impl_torch import torch_gemm_kernel
        info["gemm"] = torch_gemm_kernel()
    return info


class Trainer:
    label = "keras"

    def __init__(self, backend: str, mlp: MLP, seed: int):
        os.environ["KERAS_BACKEND"] = backend
        os.environ.setdefault("KERAS_HOME", os.path.join(tempfile.gettempdir(), "lamina-bench-keras"))
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras

        if keras.backend.backend() != backend:
            raise RuntimeError(f"Keras was already imported with backend {keras.backend.backend()!r}")
        keras.utils.set_random_seed(seed)
        self.keras = keras
        self.mlp = mlp
        self.backend = backend
        self.model = self._build()

    def _build(self):
        keras = self.keras
        mlp = self.mlp
        layers = [keras.Input((mlp.sizes[0],))]
        for width in mlp.hidden:
            layers += [keras.layers.Dense(width), keras.layers.Activation("tanh"), keras.layers.Dropout(mlp.dropout)]
        layers += [keras.layers.Dense(mlp.sizes[-1]), keras.layers.Activation("softmax")]
        model = keras.Sequential(layers)
        lr = keras.optimizers.schedules.InverseTimeDecay(mlp.lr, decay_steps=1, decay_rate=mlp.decay)
        model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                      optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=mlp.momentum, nesterov=True))
        return model

    def device(self) -> str:
        if self.backend == "jax":
            import jax
            return ", ".join(str(d) for d in jax.devices())
        if self.backend == "torch":
            import torch
            return f"torch {'CUDA' if torch.cuda.is_available() else 'CPU'}, {torch.get_num_threads()} threads"
        return self.backend

    def prepare(self, x_train, y_train, x_val, y_val) -> None:
        from .data import one_hot
        self.data = (x_train, one_hot(y_train), x_val, one_hot(y_val))

    def fit_epochs(self, epochs: int, train_n: int | None = None, val_n: int | None = None) -> tuple[list[float], dict]:
        keras = self.keras

        class EpochTimer(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.times = []

            def on_epoch_begin(self, epoch, logs=None):
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):  # after validation; logs are host floats
                self.times.append(time.perf_counter() - self.t0)

        x, y, xv, yv = self.data
        timer = EpochTimer()
        history = self.model.fit(x[:train_n], y[:train_n], batch_size=self.mlp.batch, epochs=epochs, verbose=0,
                                 shuffle=True, validation_data=(xv[:val_n], yv[:val_n]), callbacks=[timer])
        return timer.times, {k: float(v[-1]) for k, v in history.history.items()}

    def evaluate(self, val_n: int | None = None) -> tuple[float, float]:
        _, _, xv, yv = self.data
        t0 = time.perf_counter()
        _, acc = self.model.evaluate(xv[:val_n], yv[:val_n], batch_size=self.mlp.batch, verbose=0)
        return time.perf_counter() - t0, float(acc)

    def train_steps(self, x, y, steps: int) -> float:
        from .data import one_hot
        b = self.mlp.batch
        x, y = x[: steps * b], one_hot(y[: steps * b])
        t0 = time.perf_counter()
        self.model.fit(x, y, batch_size=b, epochs=1, verbose=0, shuffle=True)
        return time.perf_counter() - t0
