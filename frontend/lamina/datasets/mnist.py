"""MNIST handwritten digits, as ``keras.datasets.mnist``.

60,000 training and 10,000 test images of the digits 0-9, 28x28 grey levels. Files are
looked for in ``$LAMINA_DATASETS/mnist/``, then ``lamina_home()/datasets/mnist/``, then
``lamina_home()/datasets/``; either Keras' ``mnist.npz`` or the four original IDX ``.gz``
files are accepted, each only if its sha256 is the known one. Otherwise ``mnist.npz`` is
downloaded (falling back to the ``.gz`` files) into ``lamina_home()/datasets/mnist/``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lamina.datasets import _cache
from lamina.datasets._cache import DatasetNotFoundError

__all__ = ["load_data", "DatasetNotFoundError"]

_TITLE = "The MNIST data set"
_FOLDER = "mnist"
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_NPZ_SHAPES = ((60000, 28, 28), (60000,), (10000, 28, 28), (10000,))

_GZ_FILES = tuple(
    _cache.RemoteFile(name, digests, tuple(base + name for base in _cache._MNIST_MIRRORS))
    for name, digests in _cache.MNIST_GZ_SHA256.items()
)


def _npz_spec(path: str | os.PathLike[str]) -> _cache.RemoteFile:
    p = Path(path).expanduser()
    if p.is_absolute():
        # An explicit location is searched first and is where a download goes.
        return _cache.RemoteFile(p.name, (_cache.MNIST_NPZ_SHA256,), (_cache.MNIST_NPZ_URL,), folder=p.parent)
    # Relative names are relative to the data set folders, as in Keras (relative to its cache).
    return _cache.RemoteFile(str(p), (_cache.MNIST_NPZ_SHA256,), (_cache.MNIST_NPZ_URL,))


def _load_npz(path: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    # allow_pickle=False: the file came from the network; never unpickle it.
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in _NPZ_KEYS if k not in f.files]
        if missing:
            raise ValueError(f"{path} lacks the arrays {', '.join(missing)} that an MNIST npz file holds.")
        arrays = [np.asarray(f[k]) for k in _NPZ_KEYS]
    for key, a, shape in zip(_NPZ_KEYS, arrays, _NPZ_SHAPES):
        if a.dtype != np.uint8 or a.shape != shape:
            raise ValueError(f"{path}: {key} has dtype {a.dtype} and shape {a.shape}; expected uint8 {shape}.")
    x_train, y_train, x_test, y_test = arrays
    return (x_train, y_train), (x_test, y_test)


def load_data(
    path: str | os.PathLike[str] = "mnist.npz",
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST, downloading it on first use.

    Args:
        path: name of the npz file in the data set folders (an absolute path is searched
            first and is where a download goes), as in Keras.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes (60000, 28, 28),
        (60000,), (10000, 28, 28), (10000,); pixels 0-255, labels 0-9, original order.

    Raises:
        DatasetNotFoundError: (an OSError) no verified local copy and the download failed.
        ValueError: a file with the right digest does not parse (should not happen).
    """
    kind, paths = _cache.resolve(_FOLDER, _TITLE, [[_npz_spec(path)], list(_GZ_FILES)])
    if kind == 0:
        return _load_npz(paths[0])
    return _cache.load_idx_set(paths, _TITLE)
