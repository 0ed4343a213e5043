"""Keras 2's ``keras.utils.np_utils``: ``to_categorical`` and ``normalize`` (host NumPy)."""
from __future__ import annotations

from typing import Any

import numpy as np


def to_categorical(y: Any, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """One-hot encode integer class labels.

    Args:
        y: integer labels, any shape; a trailing axis of size 1 is dropped.
        num_classes: number of classes (default ``max(y) + 1``).
        dtype: output dtype.

    Returns:
        ``y.shape + (num_classes,)`` array of 0/1.
    """
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.all(np.floor(y) == y):
            raise ValueError("to_categorical expects integer class labels, got non-integer values.")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iub":
        raise TypeError(f"to_categorical expects integer class labels, got dtype {y.dtype}.")
    if y.ndim and y.shape[-1] == 1 and y.ndim > 1:
        y = y[..., 0]
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical got a negative label ({int(y.min())}); labels must be in [0, num_classes).")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise ValueError(f"to_categorical got label {int(y.max())} but num_classes={num_classes}; "
                         "labels must be in [0, num_classes).")
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None].astype(np.int64), 1, axis=-1)
    return out


def normalize(x: Any, axis: int = -1, order: int = 2) -> np.ndarray:
    """``x`` divided by its ``order``-norm along ``axis`` (zero vectors stay zero)."""
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)
