"""Issue acceptance: a functional siamese model (two inputs, a shared tower, a K.* distance in a
Lambda, a custom contrastive loss) trains on MNIST pairs, its loss falls, and the saved model
reloaded in a new process predicts the same distances."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

LOAD = """
import sys, numpy as np
sys.path.insert(0, {examples!r})
import mnist_siamese
from lamina.models import load_model
model = load_model({path!r}, custom_objects=mnist_siamese.CUSTOM_OBJECTS)
pairs = np.load({path!r} + ".test_pairs.npy")
np.save({path!r} + ".reloaded.npy", model.predict([pairs[:, 0], pairs[:, 1]], batch_size=1024))
print(model.loss.__name__, [layer.name for layer in model.layers])
"""


@pytest.mark.slow
def test_siamese_trains_on_mnist_pairs_and_reloads_in_a_new_process(mnist_dir, tmp_path):
    sys.path.insert(0, str(REPO / "examples"))
    try:
        import mnist_siamese
    finally:
        sys.path.pop(0)
    path = str(tmp_path / "siamese.lamina")
    result = mnist_siamese.main(["--epochs", "3", "--pairs", "20000", "--save", path, "--verbose", "0"])
    losses = result["history"]["loss"]
    assert losses[-1] < 0.6 * losses[0]
    assert result["history"]["val_loss"][-1] < result["history"]["val_loss"][0]
    assert result["test_accuracy"] > 0.85
    proc = subprocess.run([sys.executable, "-c", LOAD.format(examples=str(REPO / "examples"), path=path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[0] == "contrastive_loss"
    np.testing.assert_array_equal(np.load(path + ".reloaded.npy"), np.load(path + ".test_distances.npy"))
