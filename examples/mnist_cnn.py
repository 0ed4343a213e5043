"""The classic Keras MNIST convnet, on Lamina.

Conv2D(32, 3x3, relu) -> Conv2D(64, 3x3, relu) -> MaxPooling2D(2x2) -> Dropout(0.25) -> Flatten ->
Dense(128, relu) -> Dropout(0.5) -> Dense(10, softmax); Adadelta (learning rate 1.0, Keras 2's
default); batch 128; inputs scaled to [0, 1]; the test set as validation data (as the Keras
example). Prints the test loss and accuracy and the seconds per epoch. Keras reaches about 0.99
test accuracy in 12 epochs.

    python examples/mnist_cnn.py --epochs 12 [--backend numpy|cupy] [--data-format channels_first]
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    parser.add_argument("--backend", default=None, help="numpy (default), cupy, or an installed plugin")
    parser.add_argument("--data-format", default=None, choices=("channels_last", "channels_first"),
                        help="image layout (default: the configured image_data_format)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for weights, dropout and shuffling")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train-samples", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    args = parser.parse_args(argv)
    if args.backend:
        os.environ["LAMINA_BACKEND"] = args.backend  # must be set before the backend is first used

    import lamina
    from lamina.callbacks import Callback
    from lamina.datasets import mnist
    from lamina.layers import Dense, Dropout, Flatten
    from lamina.layers.convolutional import Conv2D
    from lamina.layers.pooling import MaxPooling2D
    from lamina.models import Sequential
    from lamina.optimizers import Adadelta
    from lamina.utils import to_categorical

    if args.data_format:
        lamina.backend.set_image_data_format(args.data_format)
    if args.seed is not None:
        lamina.utils.set_random_seed(args.seed)

    rows = cols = 28
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    if args.train_samples:
        x_train, y_train = x_train[:args.train_samples], y_train[:args.train_samples]
    if lamina.backend.image_data_format() == "channels_first":
        x_train = x_train.reshape(x_train.shape[0], 1, rows, cols)
        x_test = x_test.reshape(x_test.shape[0], 1, rows, cols)
        input_shape = (1, rows, cols)
    else:
        x_train = x_train.reshape(x_train.shape[0], rows, cols, 1)
        x_test = x_test.reshape(x_test.shape[0], rows, cols, 1)
        input_shape = (rows, cols, 1)
    x_train = x_train.astype("float32") / 255.0
    x_test = x_test.astype("float32") / 255.0
    y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)

    model = Sequential()
    model.add(Conv2D(32, kernel_size=(3, 3), activation="relu", input_shape=input_shape))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(128, activation="relu"))
    model.add(Dropout(0.5))
    model.add(Dense(10, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=Adadelta(), metrics=["accuracy"])

    class EpochTimer(Callback):
        def on_train_begin(self, logs=None):
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    timer = EpochTimer()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
              validation_data=(x_test, y_test), verbose=args.verbose, callbacks=[timer])
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)
    per_epoch = sorted(timer.times)[len(timer.times) // 2]
    print(f"Test loss: {loss:.4f}")
    print(f"Test accuracy: {accuracy:.4f}")
    print(f"Seconds per epoch (median of {len(timer.times)}, incl. validation): {per_epoch:.2f} "
          f"on backend {lamina.backend.backend()} ({lamina.backend.image_data_format()})")
    sys.stdout.flush()
    return {"loss": loss, "accuracy": accuracy, "seconds_per_epoch": per_epoch}


if __name__ == "__main__":
    main()
