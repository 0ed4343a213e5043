"""Host-side data handling for ``fit``/``evaluate``/``predict``: validation of the arrays the user
gives, dtype casting, the validation split and the per-epoch shuffle (a host module: uses NumPy)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _config
from ..backends import philox


def to_host_array(x: Any, what: str) -> np.ndarray:
    """``x`` as a NumPy array, with a clear error for things that are not arrays."""
    if x is None:
        raise ValueError(f"{what} is None; pass a NumPy array (or a list) of samples.")
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    elif hasattr(x, "__cuda_array_interface__"):
        return x  # a device array: the backend converts at the boundary
    if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
        x = x[0]  # Keras accepts a one-element list for a single-input model
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{what} could not be converted to an array ({exc}); pass a NumPy array "
                        "whose first axis indexes the samples.") from None
    if arr.dtype == object:
        raise TypeError(f"{what} has dtype object (ragged or mixed data); pass a numeric NumPy array.")
    if arr.ndim == 0:
        raise ValueError(f"{what} is a scalar; pass an array whose first axis indexes the samples.")
    return arr


def _contiguous(a: Any) -> Any:
    # Batches are gathered with take(), which copies a whole non-contiguous array first (a strided
    # view such as pairs[:, 0] would cost a full copy per batch); one copy per fit instead.
    return np.ascontiguousarray(a) if isinstance(a, np.ndarray) and not a.flags.c_contiguous else a


def cast_inputs(x: np.ndarray) -> np.ndarray:
    """Integer, bool and non-floatx float inputs become floatx, as Keras does (C-contiguous)."""
    floatx = _config.floatx()
    if getattr(x, "dtype", None) is not None and str(x.dtype) != floatx and x.dtype.kind in "biuf":
        return x.astype(floatx)
    return _contiguous(x)


def cast_targets(y: np.ndarray) -> np.ndarray:
    """Float targets become floatx; integer labels stay integers (sparse losses index with them)."""
    floatx = _config.floatx()
    if y.dtype.kind == "f" and str(y.dtype) != floatx:
        return y.astype(floatx)
    if y.dtype.kind == "b":
        return y.astype(floatx)
    return _contiguous(y)


def check_same_length(x: Any, y: Any, sample_weight: Any = None) -> int:
    n = len(x)
    if y is not None and len(y) != n:
        raise ValueError(f"x and y have different numbers of samples: x has {n} and y has {len(y)}; "
                         "pass one target per input sample.")
    if sample_weight is not None and len(sample_weight) != n:
        raise ValueError(f"sample_weight has {len(sample_weight)} entries but x has {n} samples; "
                         "give one weight per sample.")
    return n


def split_at(n: int, validation_split: float) -> int:
    """Index where the validation part starts: the last ``validation_split`` of the samples,
    taken before any shuffling, as Keras does."""
    if not isinstance(validation_split, (int, float)) or not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be a number in [0, 1), got {validation_split!r}.")
    at = int(math.floor(n * (1.0 - validation_split)))
    if validation_split and (at == 0 or at == n):
        raise ValueError(f"validation_split={validation_split} leaves no training or no validation samples "
                         f"out of {n}; use more data or a different split.")
    return at


def epoch_order(n: int, shuffle: Any, batch_size: int, seed: int, counter: int) -> np.ndarray | None:
    """Sample order for one epoch (``None`` keeps the natural order).

    ``shuffle=True`` permutes samples; ``"batch"`` permutes whole batches (Keras 2, for HDF5 data).
    The permutation comes from the Philox stream, so it is the same on every backend.
    """
    if not shuffle:
        return None
    if shuffle == "batch":
        n_batches = math.ceil(n / batch_size)
        batch_perm = philox.host_permutation(seed, counter, n_batches)
        idx = np.arange(n)
        return np.concatenate([idx[b * batch_size:(b + 1) * batch_size] for b in batch_perm])
    return philox.host_permutation(seed, counter, n)


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def class_weights_to_sample_weights(y: np.ndarray, class_weight: dict, sample_weight: Any, dtype: str) -> np.ndarray:
    """Per-sample weights from a ``{class: weight}`` dict (labels read from one-hot or integer y)."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict mapping class index to weight, got {type(class_weight).__name__}.")
    labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
    table = np.ones(int(max(max(class_weight, default=0), labels.max(initial=0))) + 1)
    for cls, w in class_weight.items():
        table[int(cls)] = float(w)
    weights = table[labels.astype(np.int64)].astype(dtype)
    return weights if sample_weight is None else weights * np.asarray(sample_weight, dtype=dtype)
