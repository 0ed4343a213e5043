"""The classic Keras MNIST convnet, on Lamina.

Conv2D(32, 3x3, relu) -> Conv2D(64, 3x3, relu) -> MaxPooling2D(2x2) -> Dropout(0.25) -> Flatten ->
Dense(128, relu) -> Dropout(0.5) -> Dense(10, softmax); Adadelta (learning rate 1.0, Keras 2's
default); batch 128; inputs scaled to [0, 1]; the test set as validation data (as the Keras
example). Prints the test loss and accuracy and the seconds per epoch. Keras reaches about 0.99
test accuracy in 12 epochs.

    python examples/mnist_cnn.py --epochs 12 [--backend numpy|cupy] [--data-format channels_first]
"""
from __future__ import annotations

from _common import fit_and_report, load_mnist, parse_args


def _options(parser) -> None:
    parser.add_argument("--data-format", default=None, choices=("channels_last", "channels_first"),
                        help="image layout (default: the configured image_data_format)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train-samples", type=int, default=None, help="use only the first N training images")


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, 12, argv, _options)
    import lamina
    from lamina.layers import Dense, Dropout, Flatten
    from lamina.layers.convolutional import Conv2D
    from lamina.layers.pooling import MaxPooling2D
    from lamina.models import Sequential
    from lamina.optimizers import Adadelta

    if args.data_format:
        lamina.backend.set_image_data_format(args.data_format)
    first = lamina.backend.image_data_format() == "channels_first"
    input_shape = (1, 28, 28) if first else (28, 28, 1)
    (x_train, y_train), test = load_mnist(input_shape)
    if args.train_samples:
        x_train, y_train = x_train[:args.train_samples], y_train[:args.train_samples]

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
    print(f"image_data_format: {lamina.backend.image_data_format()}")
    return fit_and_report(model, (x_train, y_train), test, batch_size=args.batch_size, epochs=args.epochs,
                          verbose=args.verbose, validation_data=test)


if __name__ == "__main__":
    main()
