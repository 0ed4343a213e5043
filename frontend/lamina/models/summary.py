"""``model.summary()`` in Keras 2's layout."""
from __future__ import annotations

from typing import Any, Callable


def _fmt_shape(shape: Any) -> str:
    if shape is None:
        return "multiple"
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def _row(fields: list[str], positions: list[int]) -> str:
    line = ""
    for i, field in enumerate(fields):
        if i > 0:
            line = line[:-1] + " "
        line += field
        line = line[:positions[i]]
        line += " " * (positions[i] - len(line))
    return line


def print_summary(model: Any, line_length: int | None = None, positions: list | None = None,
                  print_fn: Callable[[str], Any] | None = None) -> None:
    """Print each layer's name (type), output shape and parameter count, then the totals."""
    print_fn = print_fn or print
    line_length = line_length or 65
    positions = positions or [0.45, 0.85, 1.0]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    shapes = model.layer_output_shapes() if hasattr(model, "layer_output_shapes") else [None] * len(model.layers)
    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    print_fn(_row(["Layer (type)", "Output Shape", "Param #"], positions))
    print_fn("=" * line_length)
    layers = model.layers
    for i, (layer, shape) in enumerate(zip(layers, shapes)):
        params = layer.count_params() if layer.built else 0
        print_fn(_row([f"{layer.name} ({type(layer).__name__})", _fmt_shape(shape), str(params)], positions))
        print_fn("=" * line_length if i == len(layers) - 1 else "_" * line_length)
    if not layers:
        print_fn("=" * line_length)
    weights = model.weights if model.built else []
    trainable = {id(w) for w in model.trainable_weights} if model.built else set()

    def count(ws):
        total = 0
        for w in ws:
            n = 1
            for s in w.shape:
                n *= s
            total += n
        return total
    total = count(weights)
    n_train = count([w for w in weights if id(w) in trainable])
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {n_train:,}")
    print_fn(f"Non-trainable params: {total - n_train:,}")
    print_fn("_" * line_length)
