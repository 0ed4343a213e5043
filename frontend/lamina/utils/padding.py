"""``pad_sequences``: lists of variable-length sequences to one array (Keras' ``pad_sequences``)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def pad_sequences(sequences: Sequence[Any], maxlen: int | None = None, dtype: Any = "int32",
                  padding: str = "pre", truncating: str = "pre", value: Any = 0.0) -> np.ndarray:
    """Pad (or cut) each sequence to ``maxlen`` steps, Keras' defaults and rules.

    Args:
        sequences: a list of sequences (lists or arrays); each step may itself be an array, of one
            shape for all.
        maxlen: the length of the result; default the longest sequence.
        dtype: the result's dtype (``"int32"``, as Keras; use ``"float32"`` for float steps).
        padding: ``"pre"`` (default) puts the padding before each sequence, ``"post"`` after.
        truncating: ``"pre"`` (default) drops the first steps of a longer sequence, ``"post"``
            the last ones.
        value: the padding value.

    Returns:
        A NumPy array of shape ``(len(sequences), maxlen) + step_shape``.

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
        array([[2, 3],
               [0, 4]], dtype=int32)
    """
    if padding not in ("pre", "post"):
        raise ValueError(f"pad_sequences padding must be 'pre' or 'post', got {padding!r}.")
    if truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences truncating must be 'pre' or 'post', got {truncating!r}.")
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences expects a list of sequences, got {type(sequences).__name__}.")
    rows = []
    for i, seq in enumerate(sequences):
        if not hasattr(seq, "__len__"):
            raise ValueError(f"pad_sequences expects a list of sequences, but item {i} is "
                             f"{type(seq).__name__} ({seq!r}); wrap single values in a list.")
        rows.append(np.asarray(seq))
    if maxlen is None:
        maxlen = max((len(r) for r in rows), default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"pad_sequences maxlen must be a non-negative integer or None, got {maxlen!r}.")
    step_shape = next((r.shape[1:] for r in rows if len(r)), ())
    is_text = np.issubdtype(np.dtype(dtype), np.str_) or np.dtype(dtype) == object
    if isinstance(value, str) and not is_text:
        raise ValueError(f"pad_sequences got the text padding value {value!r} for dtype {dtype!r}; use a "
                         "string or object dtype, or a numeric value.")
    out = np.full((len(rows), int(maxlen)) + tuple(step_shape), value, dtype=dtype)
    for i, r in enumerate(rows):
        if not len(r) or not maxlen:
            continue
        kept = r[-maxlen:] if truncating == "pre" else r[:maxlen]
        if kept.shape[1:] != step_shape:
            raise ValueError(f"pad_sequences: sequence {i} has steps of shape {kept.shape[1:]}, but the "
                             f"first non-empty one has {step_shape}; every step must have one shape.")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out
