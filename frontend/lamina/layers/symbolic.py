"""Symbolic tensors and graph nodes for functional models.

Calling a layer on ``KerasTensor`` inputs (from ``Input``) computes no values: it builds the
layer for the symbolic shapes, infers the output shapes, and records a ``Node`` linking input
tensors to output tensors. ``Model(inputs, outputs)`` walks those nodes. Shape errors therefore
surface when the graph is built, naming the layer.
"""
from __future__ import annotations

from typing import Any


class KerasTensor:
    """A symbolic tensor: a shape (``None`` for unknown sizes, e.g. the batch) and a dtype,
    plus where it came from (``_keras_history = (layer, node_index, tensor_index)``)."""

    def __init__(self, shape: tuple, dtype: str, name: str | None = None):
        self.shape = tuple(None if s is None else int(s) for s in shape)
        self.dtype = dtype
        self.name = name
        self._keras_history: tuple | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        layer = self._keras_history[0].name if self._keras_history else None
        return f"<KerasTensor shape={self.shape} dtype={self.dtype} from layer {layer!r}>"

    def _op_error(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "A symbolic tensor from Input() has no values yet, so it cannot go through math "
            "directly; put the computation in a layer, e.g. Lambda(lambda t: K.sum(t, axis=1)), "
            "or in a custom Layer's call().")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _op_error
    __truediv__ = __rtruediv__ = __pow__ = __matmul__ = __neg__ = __getitem__ = _op_error
    __hash__ = object.__hash__


class Node:
    """One call of a layer in a graph: the symbolic inputs it took and the outputs it made."""

    def __init__(self, layer: Any, inputs: Any, outputs: list[KerasTensor], kwargs: dict):
        self.layer = layer
        self.input_structure = inputs  # a KerasTensor or a list of them, as the layer was called
        self.parents: list[KerasTensor] = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self.outputs = outputs
        self.kwargs = kwargs
        self.index = len(layer._inbound_nodes)
        layer._inbound_nodes.append(self)
        for i, t in enumerate(outputs):
            t._keras_history = (layer, self.index, i)

    @property
    def parent_nodes(self) -> list["Node"]:
        out = []
        for t in self.parents:
            layer, node_index, _ = t._keras_history
            out.append(layer._inbound_nodes[node_index])
        return out


def is_symbolic(x: Any) -> bool:
    if isinstance(x, KerasTensor):
        return True
    return isinstance(x, (list, tuple)) and len(x) > 0 and any(isinstance(t, KerasTensor) for t in x)


def shape_of(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [shape_of(t) for t in x]
    return tuple(x.shape)
