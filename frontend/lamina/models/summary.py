"""``model.summary()`` in Keras 2's layout (with a "Connected to" column for functional graphs)."""
from __future__ import annotations

from typing import Any, Callable


def _fmt_shape(shape: Any) -> str:
    if shape is None:
        return "multiple"
    if isinstance(shape, list):
        return "[" + ", ".join(_fmt_shape(s) for s in shape) + "]"
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


def _count(weights: list) -> int:
    total = 0
    for w in weights:
        n = 1
        for s in w.shape:
            n *= s
        total += n
    return total


def _rows(model: Any) -> tuple[list[str], list[list[list[str]]]]:
    """Header and, per layer, its lines of fields."""
    from .functional import Functional
    if isinstance(model, Functional):
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        rows = []
        for layer in model.layers:
            nodes = [n for n in model._nodes if n.layer is layer]
            shapes = {tuple(t.shape) for n in nodes for t in n.outputs}
            shape = list(shapes)[0] if len(shapes) == 1 else None
            if nodes and len(nodes[0].outputs) > 1:
                shape = [t.shape for t in nodes[0].outputs]
            links = [f"{t._keras_history[0].name}[{model._node_key(t._keras_history[0]._inbound_nodes[t._keras_history[1]])}]"
                     f"[{t._keras_history[2]}]" for n in nodes for t in n.parents]
            first = [f"{layer.name} ({type(layer).__name__})", _fmt_shape(shape),
                     str(layer.count_params() if layer.built else 0), links[0] if links else ""]
            rows.append([first] + [["", "", "", link] for link in links[1:]])
        return header, rows
    shapes = model.layer_output_shapes() if hasattr(model, "layer_output_shapes") else [None] * len(model.layers)
    header = ["Layer (type)", "Output Shape", "Param #"]
    return header, [[[f"{layer.name} ({type(layer).__name__})", _fmt_shape(shape),
                      str(layer.count_params() if layer.built else 0)]] for layer, shape in zip(model.layers, shapes)]


def print_summary(model: Any, line_length: int | None = None, positions: list | None = None,
                  print_fn: Callable[[str], Any] | None = None) -> None:
    """Print each layer's name (type), output shape, parameter count (and, for functional
    models, the layers it is connected to), then the total, trainable and non-trainable counts."""
    print_fn = print_fn or print
    header, rows = _rows(model)
    wide = len(header) == 4
    line_length = line_length or (98 if wide else 65)
    positions = positions or ([0.33, 0.55, 0.67, 1.0] if wide else [0.45, 0.85, 1.0])
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    print_fn(_row(header, positions))
    print_fn("=" * line_length)
    for i, lines in enumerate(rows):
        for fields in lines:
            print_fn(_row(fields, positions))
        print_fn("=" * line_length if i == len(rows) - 1 else "_" * line_length)
    if not rows:
        print_fn("=" * line_length)
    weights = model.weights if model.built else []
    trainable = {id(w) for w in model.trainable_weights} if model.built else set()
    total = _count(weights)
    n_train = _count([w for w in weights if id(w) in trainable])
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {n_train:,}")
    print_fn(f"Non-trainable params: {total - n_train:,}")
    print_fn("_" * line_length)
