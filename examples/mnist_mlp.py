"""The classic Keras MNIST multilayer perceptron, on Lamina.

784-500-500-10, tanh, Dropout(0.5), softmax; SGD(lr=0.01, decay=1e-6, momentum=0.9,
nesterov=True); batch 200; the last 30% of the training set for validation; inputs scaled to
[0, 1]. Prints the test loss and accuracy and the seconds per epoch.

    python examples/mnist_mlp.py --epochs 20 [--backend numpy|cupy] [--seed 1]
"""
from __future__ import annotations

from _common import fit_and_report, load_mnist, parse_args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, 20, argv)
    from lamina.layers import Activation, Dense, Dropout
    from lamina.models import Sequential
    from lamina.optimizers import SGD

    train, test = load_mnist((784,))
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
    return fit_and_report(model, train, test, batch_size=200, epochs=args.epochs, verbose=args.verbose,
                          validation_split=0.3)


if __name__ == "__main__":
    main()
