"""The classic Keras MNIST multilayer perceptron, on Lamina.

784-500-500-10, tanh, Dropout(0.5), softmax; SGD(lr=0.01, decay=1e-6, momentum=0.9,
nesterov=True); batch 200; the last 30% of the training set for validation; inputs scaled to
[0, 1]. Prints the test loss and accuracy and the seconds per epoch.

    python examples/mnist_mlp.py --epochs 20 [--backend numpy|cupy] [--seed 1]
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    parser.add_argument("--backend", default=None, help="numpy (default), cupy, or an installed plugin")
    parser.add_argument("--seed", type=int, default=None, help="random seed for weights, dropout and shuffling")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    args = parser.parse_args(argv)
    if args.backend:
        os.environ["LAMINA_BACKEND"] = args.backend  # must be set before the backend is first used

    import lamina
    from lamina.callbacks import Callback
    from lamina.datasets import mnist
    from lamina.layers import Activation, Dense, Dropout
    from lamina.models import Sequential
    from lamina.optimizers import SGD
    from lamina.utils import to_categorical

    if args.seed is not None:
        lamina.utils.set_random_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train = x_train.reshape(60000, 784).astype("float32") / 255.0
    x_test = x_test.reshape(10000, 784).astype("float32") / 255.0
    y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)

    model = Sequential()
    model.add(Dense(500, input_shape=(784,)))
    model.add(Activation("tanh"))
    model.add(Dropout(0.5))
    model.add(Dense(500))
    model.add(Activation("tanh"))
    model.add(Dropout(0.5))
    model.add(Dense(10))
    model.add(Activation("softmax"))
    sgd = SGD(learning_rate=0.01, decay=1e-6, momentum=0.9, nesterov=True)
    model.compile(loss="categorical_crossentropy", optimizer=sgd, metrics=["accuracy"])

    class EpochTimer(Callback):
        def on_train_begin(self, logs=None):
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    timer = EpochTimer()
    model.fit(x_train, y_train, batch_size=200, epochs=args.epochs, shuffle=True, validation_split=0.3,
              verbose=args.verbose, callbacks=[timer])
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=200, verbose=0)
    per_epoch = sorted(timer.times)[len(timer.times) // 2]
    print(f"Test loss: {loss:.4f}")
    print(f"Test accuracy: {accuracy:.4f}")
    print(f"Seconds per epoch (median of {len(timer.times)}, incl. validation): {per_epoch:.2f} "
          f"on backend {lamina.backend.backend()}")
    sys.stdout.flush()
    return {"loss": loss, "accuracy": accuracy, "seconds_per_epoch": per_epoch}


if __name__ == "__main__":
    main()
