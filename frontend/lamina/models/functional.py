"""``Functional``: a model defined by a graph of layer calls, ``Model(inputs, outputs)``."""
from __future__ import annotations

from typing import Any

from ..layers.core.dense import activation_to_fuse, dropout_to_fuse, run_fused
from ..layers.input_layer import InputLayer
from ..layers.layer import Layer
from ..layers.symbolic import KerasTensor, Node
from .model import Model


def _as_tensor_list(value: Any, what: str) -> list[KerasTensor]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for t in items:
        if not isinstance(t, KerasTensor) or t._keras_history is None:
            raise TypeError(f"Model {what} must be symbolic tensors (from Input() and layer calls), got "
                            f"{type(t).__name__}.")
    return items


class Functional(Model):
    """A model whose layers form a directed acyclic graph (several inputs and outputs, shared
    layers, models used as layers).

    Example:
        >>> a = Input(shape=(784,))
        >>> h = Dense(64, activation="relu")(a)
        >>> model = Model(inputs=a, outputs=Dense(10, activation="softmax")(h))
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None, **kwargs: Any):
        if inputs is None or outputs is None:
            raise TypeError("Model(inputs, outputs) needs both the input tensors and the output tensors.")
        super().__init__(name=name, **kwargs)
        self._nested_inputs = inputs
        self._nested_outputs = outputs
        self.inputs = _as_tensor_list(inputs, "inputs")
        self.outputs = _as_tensor_list(outputs, "outputs")
        for t in self.inputs:
            if not isinstance(t._keras_history[0], InputLayer):
                raise ValueError(f"Model inputs must come straight from Input(); {t!r} is the output of layer "
                                 f"{t._keras_history[0].name!r}.")
        self._nodes = self._collect_nodes()
        self._pairs = self._dense_activation_pairs()
        self._graph_layers = [t._keras_history[0] for t in self.inputs]  # inputs first, as Keras lists them
        for node in self._nodes:
            if node.layer not in self._graph_layers:
                self._graph_layers.append(node.layer)
        for t in self.inputs:
            if t._keras_history[0] not in self._graph_layers:
                self._graph_layers.insert(0, t._keras_history[0])
        names = [layer.name for layer in self._graph_layers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"Layer names must be unique within a model; {dupes} appear more than once.")
        self.built = True

    def _collect_nodes(self) -> list[Node]:
        """Nodes between the inputs and the outputs, in an order where parents come first."""
        input_ids = {id(t) for t in self.inputs}
        order: list[Node] = []
        state: dict[int, str] = {}

        def visit(tensor: KerasTensor, path: list[str]) -> None:
            layer, node_index, _ = tensor._keras_history
            node = layer._inbound_nodes[node_index]
            if state.get(id(node)) == "done":
                return
            if state.get(id(node)) == "active":
                raise ValueError(f"The graph has a cycle through layer {layer.name!r}.")
            if isinstance(layer, InputLayer) and id(tensor) not in input_ids:
                raise ValueError(f"Output {self.outputs} depends on input {layer.name!r}, which is not among "
                                 f"the model's inputs; add it to Model(inputs=[...]).")
            state[id(node)] = "active"
            for parent in node.parents:
                visit(parent, path + [layer.name])
            state[id(node)] = "done"
            order.append(node)

        for t in self.outputs:
            visit(t, [])
        return order

    def _dense_activation_pairs(self) -> dict[int, Node]:
        """Nodes whose one output feeds only one node of this model, with no call arguments on
        either and not a model output: ``id(node) -> that consumer``. ``call`` may run such a pair
        as one op when it is Dense + Activation (``activation_to_fuse`` decides at run time), and
        a Dropout that is the Activation's one consumer with it (``dropout_to_fuse``)."""
        consumers: dict[int, list[Node]] = {}
        for node in self._nodes:
            for t in node.parents:
                consumers.setdefault(id(t), []).append(node)
        outputs = {id(t) for t in self.outputs}
        pairs = {}
        for node in self._nodes:
            if len(node.outputs) != 1 or node.kwargs or id(node.outputs[0]) in outputs:
                continue
            after = consumers.get(id(node.outputs[0]), [])
            if len(after) == 1 and not after[0].kwargs and after[0].input_structure is node.outputs[0]:
                pairs[id(node)] = after[0]
        return pairs

    # --- structure -----------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return list(self._graph_layers)

    def _all_layers(self) -> list[Layer]:
        return [layer for layer in self._graph_layers if not isinstance(layer, InputLayer)]

    @property
    def input(self) -> Any:
        """The input tensor(s) as given to ``Model(inputs=...)`` (one tensor, or the list)."""
        return self._nested_inputs

    @property
    def output(self) -> Any:
        """The output tensor(s) as given to ``Model(outputs=...)`` (one tensor, or the list)."""
        return self._nested_outputs

    @property
    def input_names(self) -> list[str]:
        return [t._keras_history[0].name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t._keras_history[0].name for t in self.outputs]

    @property
    def input_shape(self) -> Any:
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def _expected_input_shapes(self) -> list:
        return [t.shape for t in self.inputs]

    def _input_layer_label(self, i: int) -> str:
        return f"{self.input_names[i]!r} (InputLayer)"

    def build(self, input_shape: Any = None) -> None:
        self.built = True

    def _ensure_built(self, xs: list) -> None:
        return None

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes if isinstance(self._nested_outputs, (list, tuple)) else shapes[0]

    # --- running the graph -----------------------------------------------------------------
    def call(self, inputs: Any, training: bool | None = None) -> Any:
        values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(values) != len(self.inputs):
            raise ValueError(f"Model {self.name!r} has {len(self.inputs)} inputs but was called with {len(values)}.")
        computed: dict[int, Any] = {id(t): v for t, v in zip(self.inputs, values)}
        done: set[int] = set()  # consumers already run as the second half of a fused pair
        for node in self._nodes:
            if isinstance(node.layer, InputLayer) or id(node) in done:
                continue
            args = node.input_structure
            if isinstance(args, (list, tuple)):
                call_in = [computed[id(t)] for t in args]
            else:
                call_in = computed[id(args)]
            after = self._pairs.get(id(node))
            fused = None if after is None else activation_to_fuse(node.layer, after.layer, call_in)
            if fused is not None:  # Dense(n) + Activation(a) as one op, with a Dropout after them folded in
                third = self._pairs.get(id(after))
                mode = dropout_to_fuse(third.layer, training) if third is not None else None
                drop = third if mode is not None else None
                last = after if drop is None else drop
                computed[id(last.outputs[0])] = run_fused(node.layer, after.layer, call_in, fused, training,
                                                          None if drop is None else drop.layer, mode)
                done.update((id(after), id(last)))
                continue
            out = node.layer(call_in, training=training, **node.kwargs)
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
            for t, v in zip(node.outputs, outs):
                computed[id(t)] = v
        results = [computed[id(t)] for t in self.outputs]
        return results if isinstance(self._nested_outputs, (list, tuple)) else results[0]

    # --- config --------------------------------------------------------------------------
    def _node_key(self, node: Node) -> int:
        """A node's index among its layer's nodes that belong to this model."""
        mine = [n for n in node.layer._inbound_nodes if n in self._nodes or isinstance(node.layer, InputLayer)]
        return mine.index(node) if node in mine else 0

    def _ref(self, tensor: KerasTensor) -> list:
        layer, node_index, tensor_index = tensor._keras_history
        return [layer.name, self._node_key(layer._inbound_nodes[node_index]), tensor_index]

    def get_config(self) -> dict:
        from ..layers import serialize
        layers = []
        for layer in self._graph_layers:
            spec = serialize(layer)
            spec["name"] = layer.name
            nodes = [n for n in self._nodes if n.layer is layer and not isinstance(layer, InputLayer)]
            spec["inbound_nodes"] = [
                {"args": [self._ref(t) for t in n.parents],
                 "list": isinstance(n.input_structure, (list, tuple)), "kwargs": dict(n.kwargs)}
                for n in nodes]
            layers.append(spec)
        return {"name": self.name, "layers": layers,
                "input_layers": [self._ref(t) for t in self.inputs],
                "output_layers": [self._ref(t) for t in self.outputs],
                "outputs_are_list": isinstance(self._nested_outputs, (list, tuple)),
                "inputs_are_list": isinstance(self._nested_inputs, (list, tuple))}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Functional":
        from ..layers import deserialize
        created: dict[str, Layer] = {}
        produced: dict[tuple, KerasTensor] = {}
        pending = []
        for spec in config["layers"]:
            layer = deserialize(spec, custom_objects=custom_objects)
            created[spec["name"]] = layer
            if isinstance(layer, InputLayer):
                produced[(layer.name, 0, 0)] = layer.output
            pending.extend((layer, k, node) for k, node in enumerate(spec.get("inbound_nodes", [])))
        # Call layers in an order where each call's inputs already exist (the config lists
        # layers in graph order, but shared layers can interleave).
        while pending:
            progressed = False
            for item in list(pending):
                layer, k, node = item
                refs = [tuple(r) for r in node["args"]]
                if all(r in produced for r in refs):
                    args = [produced[r] for r in refs]
                    out = layer(args if node.get("list") else args[0], **node.get("kwargs", {}))
                    outs = out if isinstance(out, list) else [out]
                    for i, t in enumerate(outs):
                        produced[(layer.name, k, i)] = t
                    pending.remove(item)
                    progressed = True
            if not progressed:
                raise ValueError("The model config's layer connections cannot be resolved (a missing or "
                                 "misnamed layer); the file may be corrupt.")
        inputs = [produced[tuple(r)] for r in config["input_layers"]]
        outputs = [produced[tuple(r)] for r in config["output_layers"]]
        return cls(inputs=inputs if config.get("inputs_are_list", len(inputs) > 1) else inputs[0],
                   outputs=outputs if config.get("outputs_are_list", len(outputs) > 1) else outputs[0],
                   name=config.get("name"))
