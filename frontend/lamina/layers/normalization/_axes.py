"""Axis handling shared by the normalisation layers."""
from __future__ import annotations

from typing import Any


def check_axis_argument(layer_name: str, axis: Any) -> Any:
    """``axis`` as an int or a list of ints; anything else is a clear error."""
    if isinstance(axis, tuple):
        axis = list(axis)
    ok = (isinstance(axis, int) and not isinstance(axis, bool)) or (
        isinstance(axis, list) and axis and all(isinstance(a, int) and not isinstance(a, bool) for a in axis))
    if not ok:
        raise ValueError(f"{layer_name} needs axis to be an int or a non-empty list of ints, got {axis!r}.")
    return axis


def normalized_axes(layer: Any, kind: str, axis: Any, input_shape: tuple) -> tuple[int, ...]:
    """``axis`` as sorted non-negative axes of ``input_shape``, each of known size."""
    ndim = len(input_shape)
    wanted = [axis] if isinstance(axis, int) else list(axis)
    out = []
    for a in wanted:
        if not -ndim <= a < ndim:
            raise ValueError(f"Layer {layer.name!r} ({kind}) got axis={axis!r}, but its input of shape "
                             f"{tuple(input_shape)} has rank {ndim}; use an axis in [{-ndim}, {ndim - 1}].")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"Layer {layer.name!r} ({kind}) got duplicate axes in axis={axis!r} for an input of "
                         f"rank {ndim}.")
    for a in out:
        if input_shape[a] is None:
            raise ValueError(f"Layer {layer.name!r} ({kind}) normalises over axis {a}, whose size is unknown in "
                             f"input shape {tuple(input_shape)}; give that axis a fixed size.")
    return tuple(sorted(out))
