"""A recurrent network reading MNIST digits row by row, on Lamina.

Each 28x28 image is a sequence of 28 time steps of 28 pixels (one row per step). LSTM(128) (or
GRU(128) with ``--cell gru``) reads the rows; its last output goes through Dense(10, softmax).
Adam(learning_rate=1e-3); batch 128; inputs scaled to [0, 1]. Prints the test loss and accuracy
and the seconds per epoch.

    python examples/mnist_rnn.py --epochs 3 [--cell lstm|gru] [--backend numpy|cupy] [--seed 1]
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    parser.add_argument("--cell", default="lstm", choices=("lstm", "gru"), help="recurrent layer (default lstm)")
    parser.add_argument("--units", type=int, default=128, help="recurrent units (default 128)")
    parser.add_argument("--backend", default=None, help="numpy (default), cupy, or an installed plugin")
    parser.add_argument("--seed", type=int, default=None, help="random seed for weights and shuffling")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    args = parser.parse_args(argv)
    if args.backend:
        os.environ["LAMINA_BACKEND"] = args.backend  # must be set before the backend is first used

    import lamina
    from lamina.callbacks import Callback
    from lamina.datasets import mnist
    from lamina.layers import Dense
    from lamina.layers.recurrent import GRU, LSTM
    from lamina.models import Sequential
    from lamina.optimizers import Adam
    from lamina.utils import to_categorical

    if args.seed is not None:
        lamina.utils.set_random_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train = x_train.reshape(-1, 28, 28).astype("float32") / 255.0  # (samples, time = rows, features = columns)
    x_test = x_test.reshape(-1, 28, 28).astype("float32") / 255.0
    y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)

    recurrent = LSTM if args.cell == "lstm" else GRU
    model = Sequential()
    model.add(recurrent(args.units, input_shape=(28, 28)))
    model.add(Dense(10, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=Adam(learning_rate=1e-3), metrics=["accuracy"])

    class EpochTimer(Callback):
        def on_train_begin(self, logs=None):
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    timer = EpochTimer()
    model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, shuffle=True, verbose=args.verbose,
              callbacks=[timer])
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    per_epoch = sorted(timer.times)[len(timer.times) // 2]
    print(f"Test loss: {loss:.4f}")
    print(f"Test accuracy: {accuracy:.4f}")
    print(f"Seconds per epoch (median of {len(timer.times)}): {per_epoch:.2f} "
          f"on backend {lamina.backend.backend()}")
    sys.stdout.flush()
    return {"loss": loss, "accuracy": accuracy, "seconds_per_epoch": per_epoch}


if __name__ == "__main__":
    main()
