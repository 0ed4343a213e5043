"""The same seed gives the same initial weights, dropout masks, shuffles and trained weights,
in one process and run after run."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import lamina
from lamina.backends import philox
from lamina.layers import Dropout
from _models import blobs, mlp

SCRIPT = """
import hashlib, numpy as np, lamina
from lamina.layers import Dropout
from lamina.utils.data import epoch_order
lamina.utils.set_random_seed(123)
layer = Dropout(0.5)
mask = layer(np.ones((64, 100), 'float32'), training=True).numpy()
order = epoch_order(1000, True, 10, 77, 3)
print(hashlib.sha256(mask.tobytes() + order.tobytes()).hexdigest())
"""


def test_dropout_masks_and_shuffles_repeat_across_processes():
    tests_dir = str(Path(__file__).parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    digests = {subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True,
                              cwd=tests_dir, env=env).stdout.strip() for _ in range(2)}
    assert len(digests) == 1
    lamina.utils.set_random_seed(123)
    mask = Dropout(0.5)(np.ones((64, 100), "float32"), training=True).numpy()
    from lamina.utils.data import epoch_order
    order = epoch_order(1000, True, 10, 77, 3)
    assert hashlib.sha256(mask.tobytes() + order.tobytes()).hexdigest() in digests


def test_dropout_mask_follows_the_documented_formula():
    layer = Dropout(0.3, seed=99)
    out = layer(np.ones((8, 50), "float32"), training=True).numpy()
    # First call of the layer's generator: counter 0; 400 elements take 200 words, two apiece.
    words = philox.philox_words(99, 0, 200)
    halves = np.stack([words & np.uint64(0xFFFFFFFF), words >> np.uint64(32)], axis=1).reshape(-1)
    keep = (halves >> np.uint64(8)) >= np.uint64(int(np.ceil(0.3 * 2 ** 24)))
    np.testing.assert_array_equal(out.reshape(-1) != 0, keep)
    np.testing.assert_allclose(out[out != 0], 1 / 0.7, rtol=1e-6)
    out2 = layer(np.ones((8, 50), "float32"), training=True).numpy()  # next counter: a new mask
    assert not np.array_equal(out, out2)


def test_same_seed_same_training_run():
    x, y, _ = blobs(n=200)
    runs = []
    for _ in range(2):
        model = mlp(dropout=0.5, seed=7)
        model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
        hist = model.fit(x, y, batch_size=20, epochs=2, verbose=0)
        runs.append((hist.history["loss"], model.get_weights()))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    other = mlp(dropout=0.5, seed=8)
    assert not np.array_equal(other.get_weights()[0], runs[0][1][0])


def test_glorot_uniform_weights_come_from_the_host_stream():
    lamina.utils.set_random_seed(5)
    model = mlp(seed=5)
    kernel = model.get_weights()[0]
    limit = np.sqrt(6 / (20 + 32))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
