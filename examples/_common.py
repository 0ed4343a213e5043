"""What the MNIST examples share: the command line, loading MNIST, and the timed fit + report."""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Callable


def parse_args(doc: str, default_epochs: int, argv: list[str] | None,
               extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """``--epochs --backend --seed --verbose`` (+ ``extra``); selects the backend before Lamina starts."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=default_epochs, help=f"training epochs (default {default_epochs})")
    parser.add_argument("--backend", default=None, help="numpy (default), cupy, or an installed plugin")
    parser.add_argument("--seed", type=int, default=None, help="random seed for weights, dropout and shuffling")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    if args.backend:
        os.environ["LAMINA_BACKEND"] = args.backend  # must be set before the backend is first used
    if args.seed is not None:
        import lamina
        lamina.utils.set_random_seed(args.seed)
    return args


def load_mnist(sample_shape: tuple) -> tuple:
    """MNIST scaled to [0, 1], reshaped to ``sample_shape`` per image, with one-hot labels."""
    from lamina.datasets import DatasetNotFoundError, mnist
    from lamina.utils import to_categorical
    try:
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
    except DatasetNotFoundError as exc:  # offline and not cached: the one sentence, not a traceback
        raise SystemExit(str(exc)) from None
    x_train = x_train.reshape((-1,) + tuple(sample_shape)).astype("float32") / 255.0
    x_test = x_test.reshape((-1,) + tuple(sample_shape)).astype("float32") / 255.0
    return (x_train, to_categorical(y_train, 10)), (x_test, to_categorical(y_test, 10))


def fit_and_report(model: Any, train: tuple, test: tuple, batch_size: int, epochs: int, verbose: int,
                   **fit_kwargs: Any) -> dict:
    """Train, then print the test loss and accuracy and the median seconds per epoch."""
    import lamina
    from lamina.callbacks import Callback

    class EpochTimer(Callback):
        def on_train_begin(self, logs=None):
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    timer = EpochTimer()
    model.fit(train[0], train[1], batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose,
              callbacks=[timer], **fit_kwargs)
    loss, accuracy = model.evaluate(test[0], test[1], batch_size=max(batch_size, 200), verbose=0)
    per_epoch = sorted(timer.times)[len(timer.times) // 2]
    print(f"Test loss: {loss:.4f}")
    print(f"Test accuracy: {accuracy:.4f}")
    print(f"Seconds per epoch (median of {len(timer.times)}, incl. validation if any): {per_epoch:.2f} "
          f"on backend {lamina.backend.backend()}")
    sys.stdout.flush()
    return {"loss": loss, "accuracy": accuracy, "seconds_per_epoch": per_epoch}
