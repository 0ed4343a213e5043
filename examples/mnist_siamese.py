"""A siamese network on MNIST pairs (the Keras 2 example), on Lamina.

Two inputs share one tower (Dense-ReLU layers); a Lambda layer computes the Euclidean distance
of the two embeddings with ``K.*`` functions; a custom contrastive loss pulls pairs of the same
digit together and pushes other pairs at least ``margin`` apart. Pairs are predicted "same"
when their distance is below 0.5.

    python examples/mnist_siamese.py [--epochs 20] [--pairs 0] [--save siamese.lamina] [--backend numpy]
"""
from __future__ import annotations

import argparse
import os

import numpy as np


def euclidean_distance(vects):
    from lamina import backend as K
    x, y = vects
    return K.sqrt(K.maximum(K.sum(K.square(x - y), axis=1, keepdims=True), K.epsilon()))


def contrastive_loss(y_true, y_pred):
    """Hadsell et al. 2006: same pairs (y=1) pay d², different pairs pay max(margin - d, 0)²."""
    from lamina import backend as K
    margin = 1.0
    return K.mean(y_true * K.square(y_pred) + (1.0 - y_true) * K.square(K.maximum(margin - y_pred, 0.0)))


CUSTOM_OBJECTS = {"euclidean_distance": euclidean_distance, "contrastive_loss": contrastive_loss}


def create_pairs(x: np.ndarray, digit_indices: list, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Alternating positive and negative pairs, as many per digit as the rarest digit allows.

    Returns the pairs as an array of shape (pairs, 2, 784) and the labels (1: same digit)."""
    left, right, labels = [], [], []
    n = min(len(d) for d in digit_indices) - 1
    for d in range(10):
        for i in range(n):
            other = (d + rng.integers(1, 10)) % 10
            left += [digit_indices[d][i], digit_indices[d][i]]
            right += [digit_indices[d][i + 1], digit_indices[other][i]]
            labels += [1.0, 0.0]
    return np.stack([x[left], x[right]], axis=1), np.array(labels, dtype="float32")


def build_model():
    from lamina.layers import Dense, Dropout, Input, Lambda
    from lamina.models import Model, Sequential
    tower = Sequential([Dense(128, activation="relu", input_shape=(784,)), Dropout(0.1),
                        Dense(128, activation="relu"), Dropout(0.1), Dense(128, activation="relu")],
                       name="tower")
    a, b = Input(shape=(784,), name="left"), Input(shape=(784,), name="right")
    distance = Lambda(euclidean_distance, name="distance")([tower(a), tower(b)])
    return Model([a, b], distance, name="siamese")


def pair_accuracy(labels: np.ndarray, distances: np.ndarray) -> float:
    return float(np.mean((distances.ravel() < 0.5) == (labels == 1)))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=0, help="use only this many training pairs (0: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save", default=None, help="save the trained model to this .lamina file")
    parser.add_argument("--backend", default=None)
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = parser.parse_args(argv)
    if args.backend:
        os.environ["LAMINA_BACKEND"] = args.backend

    import lamina
    from lamina.datasets import mnist
    from lamina.optimizers import RMSprop

    lamina.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train = x_train.reshape(60000, 784).astype("float32") / 255.0
    x_test = x_test.reshape(10000, 784).astype("float32") / 255.0
    tr_pairs, tr_y = create_pairs(x_train, [np.where(y_train == i)[0] for i in range(10)], rng)
    te_pairs, te_y = create_pairs(x_test, [np.where(y_test == i)[0] for i in range(10)], rng)
    if args.pairs:  # a random subset: the pairs are grouped by digit
        keep = rng.permutation(len(tr_y))[:args.pairs]
        tr_pairs, tr_y = tr_pairs[keep], tr_y[keep]

    model = build_model()
    model.compile(loss=contrastive_loss, optimizer=RMSprop())
    history = model.fit([tr_pairs[:, 0], tr_pairs[:, 1]], tr_y, batch_size=128, epochs=args.epochs,
                        validation_data=([te_pairs[:, 0], te_pairs[:, 1]], te_y), verbose=args.verbose)
    train_acc = pair_accuracy(tr_y, model.predict([tr_pairs[:, 0], tr_pairs[:, 1]], batch_size=1024))
    test_dist = model.predict([te_pairs[:, 0], te_pairs[:, 1]], batch_size=1024)
    test_acc = pair_accuracy(te_y, test_dist)
    print(f"Accuracy on training pairs: {100 * train_acc:.2f}%")
    print(f"Accuracy on test pairs: {100 * test_acc:.2f}%")
    if args.save:
        model.save(args.save)
        # Predicted again on exactly the saved pairs: BLAS may round differently for another
        # number of rows (OpenBLAS picks its blocking by matrix size), and a reload check
        # compares these bits with a prediction of the same 500 rows.
        sample = te_pairs[:500]
        np.save(args.save + ".test_distances.npy", model.predict([sample[:, 0], sample[:, 1]], batch_size=1024))
        np.save(args.save + ".test_pairs.npy", sample)
    return {"history": history.history, "train_accuracy": train_acc, "test_accuracy": test_acc}


if __name__ == "__main__":
    main()
