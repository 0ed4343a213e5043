"""MNIST for the benchmarks, read straight from the IDX files (no Lamina import, so every peer
process loads the same arrays the same way).

Search order: ``$LAMINA_DATASETS/mnist``, ``<checkout>/../shared/data/mnist``,
``<checkout>/shared/data/mnist``, ``$LAMINA_HOME/datasets/mnist`` (default ``~/.lamina``).
Either the four IDX ``.gz`` files or Keras' ``mnist.npz`` are accepted. When none is found,
:func:`load` falls back to synthetic data of the same shapes (timings are shape-bound) and says
so; accuracies are then meaningless.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def candidate_dirs() -> list[Path]:
    out = []
    env = os.environ.get("LAMINA_DATASETS")
    if env:
        out.append(Path(env).expanduser() / "mnist")
    out.append(REPO.parent / "shared" / "data" / "mnist")
    out.append(REPO / "shared" / "data" / "mnist")
    home = os.environ.get("LAMINA_HOME")
    out.append((Path(home).expanduser() if home else Path.home() / ".lamina") / "datasets" / "mnist")
    return out


def find_mnist() -> Path | None:
    """The first folder holding MNIST (IDX .gz files or mnist.npz), or None."""
    for d in candidate_dirs():
        if all((d / f).is_file() for f in _FILES) or (d / "mnist.npz").is_file():
            return d
    return None


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(synthetic: bool = False) -> dict:
    """``{"x_train": (60000, 784) float32 in [0, 1], "y_train": (60000,) int64, "x_test", "y_test",
    "source": str}``."""
    where = None if synthetic else find_mnist()
    if where is None:
        rng = np.random.default_rng(0)
        x_train = rng.random((60000, 784), dtype=np.float32)
        y_train = rng.integers(0, 10, 60000)
        x_test = rng.random((10000, 784), dtype=np.float32)
        y_test = rng.integers(0, 10, 10000)
        return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
                "source": "synthetic (MNIST not found)" if not synthetic else "synthetic (--synthetic)"}
    if all((where / f).is_file() for f in _FILES):
        xtr, ytr, xte, yte = (_read_idx(where / f) for f in _FILES)
    else:
        with np.load(where / "mnist.npz", allow_pickle=False) as f:
            xtr, ytr, xte, yte = (np.asarray(f[k]) for k in ("x_train", "y_train", "x_test", "y_test"))
    return {"x_train": xtr.reshape(len(xtr), 784).astype(np.float32) / np.float32(255.0),
            "y_train": ytr.astype(np.int64),
            "x_test": xte.reshape(len(xte), 784).astype(np.float32) / np.float32(255.0),
            "y_test": yte.astype(np.int64),
            "source": f"MNIST ({where})"}


def one_hot(labels: np.ndarray, classes: int = 10) -> np.ndarray:
    out = np.zeros((len(labels), classes), dtype=np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    return out
