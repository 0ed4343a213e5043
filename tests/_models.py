"""Small model builders and data shared by the frontend tests."""
from __future__ import annotations

import numpy as np

import lamina
from lamina.layers import Activation, Dense, Dropout
from lamina.models import Sequential


def blobs(n: int = 600, features: int = 20, classes: int = 3, seed: int = 0):
    """A separable classification problem: (x float32, one-hot y float32, integer labels)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    w = rng.normal(size=(features, classes))
    labels = (x @ w).argmax(axis=1)
    return x, lamina.utils.to_categorical(labels, classes), labels


def mlp(features: int = 20, classes: int = 3, hidden: int = 32, dropout: float = 0.0, seed: int = 1) -> Sequential:
    lamina.utils.set_random_seed(seed)
    model = Sequential()
    model.add(Dense(hidden, input_shape=(features,), activation="tanh"))
    if dropout:
        model.add(Dropout(dropout))
    model.add(Dense(classes))
    model.add(Activation("softmax"))
    return model


def every_third_step_progbar(draws: list):
    """A Progbar class that draws at every third step (the default draws by time), appending each
    drawn step to ``draws``: the host-sync tests count reads per drawn update with it."""
    import lamina.models.model as model_module

    class EveryThirdStep(model_module.Progbar):
        def wants_update(self, current, finalize=None):
            return current % 3 == 0

        def update(self, current, values=None, finalize=None):
            draws.append(current)
            super().update(current, values, finalize)

    return EveryThirdStep


def embedding_classifier(eager: bool = False, seed: int | None = None) -> Sequential:
    """Embedding(50, 4) over sequences of 6, Flatten, Dense(3, softmax), compiled with Adam
    (``seed``: set before the weights are made)."""
    from lamina.layers import Embedding, Flatten
    if seed is not None:
        lamina.utils.set_random_seed(seed)
    model = Sequential([Embedding(50, 4, input_length=6), Flatten(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"], run_eagerly=eager)
    return model
