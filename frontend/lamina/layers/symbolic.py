"""Symbolic tensors and graph nodes for functional models.

Calling a layer on ``KerasTensor`` inputs (from ``Input``) computes no values: it builds the
layer for the symbolic shapes, infers the output shapes, and records a ``Node`` linking input
tensors to output tensors. ``Model(inputs, outputs)`` walks those nodes. Shape errors therefore
surface when the graph is built, naming the layer.
"""
from __future__ import annotations

import sys
from typing import Any


# Python operators a symbolic tensor refuses, with the symbol the error names. == and != keep
# identity semantics: graphs look tensors up with `in` and use them as dict keys.
_OPERATORS = {"__add__": "+", "__radd__": "+", "__sub__": "-", "__rsub__": "-", "__mul__": "*",
              "__rmul__": "*", "__truediv__": "/", "__rtruediv__": "/", "__floordiv__": "//",
              "__rfloordiv__": "//", "__mod__": "%", "__rmod__": "%", "__pow__": "**", "__rpow__": "**",
              "__matmul__": "@", "__rmatmul__": "@", "__neg__": "unary -", "__abs__": "abs()",
              "__getitem__": "[]", "__lt__": "<", "__le__": "<=", "__gt__": ">", "__ge__": ">="}


def symbolic_op_message(what: str | None) -> str:
    """The one sentence for math on a symbolic tensor outside a layer."""
    return (f"{what or 'This operation'} got a symbolic tensor (from Input() or a layer call), which has a "
            "shape but no values, so no math can run on it directly; wrap the computation in a layer, "
            "Lambda(lambda t: <the math on t>)(tensor), or write it in a custom Layer's call().")


def _refuse(symbol: str) -> Any:
    def op(self: "KerasTensor", *args: Any, **kwargs: Any) -> Any:
        raise TypeError(symbolic_op_message(f"The {symbol} operator"))
    return op


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

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        # Every lamina.ops / K function converts its operands with the backend's asarray, which
        # lands here: one place refuses them all, naming the function the user called.
        raise TypeError(symbolic_op_message(_calling_function()))

    __hash__ = object.__hash__


for _name, _symbol in _OPERATORS.items():
    setattr(KerasTensor, _name, _refuse(_symbol))


_ARRAY_LIBRARIES = ("numpy", "cupy", "_lamina_fake_cupy")


def _is_lamina(module: str) -> bool:
    return module == "lamina" or module.startswith(("lamina.", "lamina_"))


def _calling_function() -> str | None:
    """The Lamina function the user called (``K.mean``, ``lamina.losses.binary_crossentropy``):
    the outermost frame of the run of Lamina frames just above the array conversion."""
    frame = sys._getframe(2)  # the caller of KerasTensor.__array__
    while frame is not None and frame.f_globals.get("__name__", "").startswith(_ARRAY_LIBRARIES):
        frame = frame.f_back  # inside the array library's asarray
    entry = None
    while frame is not None and _is_lamina(frame.f_globals.get("__name__", "")):
        entry, frame = frame, frame.f_back
    if entry is None:
        return None
    module, name = entry.f_globals["__name__"], getattr(entry.f_code, "co_qualname", entry.f_code.co_name)  # 3.11+
    if name.rsplit(".", 1)[-1] in _OPERATORS:  # Tensor.__add__ and the like
        return f"The {_OPERATORS[name.rsplit('.', 1)[-1]]} operator"
    if module == "lamina.backend":
        return f"K.{name}"
    if module.startswith("lamina.ops"):
        return f"lamina.ops.{name}"
    return name if "." in name else f"{module}.{name}"


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
