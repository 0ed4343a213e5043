"""``Layer``: the base class of every layer (Keras' contract: config in ``__init__``, weights in
``build``, math in ``call``, shapes in ``compute_output_shape``, round trip via ``get_config``)."""
from __future__ import annotations

from typing import Any, Iterable

from .. import _config, constraints, initializers, ops, regularizers
from .._lookup import snake_case
from ..ops import replay
from . import symbolic

_NAME_COUNTS: dict[str, int] = {}


def unique_name(base: str) -> str:
    n = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def reset_names() -> None:
    _NAME_COUNTS.clear()


_CALL_PARAMS: dict[type, tuple[frozenset, bool]] = {}


def _call_params(cls: type) -> tuple[frozenset, bool]:
    """The names of ``cls.call``'s arguments and whether it takes ``**kwargs`` (read once per class)."""
    if cls not in _CALL_PARAMS:
        import inspect
        params = inspect.signature(cls.call).parameters
        _CALL_PARAMS[cls] = (frozenset(params),
                             any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()))
    return _CALL_PARAMS[cls]


def _accepts_training(cls: type) -> bool:
    """Whether ``cls.call`` has a ``training`` argument."""
    names, var_keyword = _call_params(cls)
    return "training" in names or var_keyword


def _mask_of(inputs: Any) -> Any:
    """The ``_keras_mask`` the input tensor(s) carry: one mask, a list for list inputs, or None."""
    if isinstance(inputs, list):
        masks = [getattr(x, "_keras_mask", None) for x in inputs]
        return masks if any(m is not None for m in masks) else None
    return getattr(inputs, "_keras_mask", None)


def _alias(t: ops.Tensor) -> ops.Tensor:
    """A new tensor with ``t``'s value and gradient, so that it can carry a mask of its own."""
    return ops.tape.make(t.value, (t,), lambda g: (g,))


_BASE_KWARGS = {"input_shape", "input_dim", "batch_input_shape", "batch_size", "weights", "input_length"}


class Layer:
    """Base layer. Subclasses override ``build``, ``call``, ``compute_output_shape``, ``get_config``.

    Args:
        trainable: whether the layer's weights are updated by training.
        name: unique name (default: snake_case class name plus a counter).
        dtype: weight dtype (default ``floatx``).
        input_shape / input_dim / batch_input_shape: shape of the input, without the batch axis
            (``input_dim=n`` and an int ``input_shape`` mean ``(n,)``); used by the first layer of a
            ``Sequential`` model.
    """

    def __init__(self, trainable: bool = True, name: str | None = None, dtype: str | None = None,
                 **kwargs: Any):
        unknown = set(kwargs) - _BASE_KWARGS
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) "
                            f"{', '.join(sorted(unknown))}; check the spelling against the Keras documentation.")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self._trainable = trainable
        self.dtype = dtype or _config.floatx()
        self.built = False
        self.supports_masking = False
        self._weights: list[ops.Variable] = []
        self._initial_weights = kwargs.get("weights")
        self.input_spec_shape: tuple | None = None
        self.batch_input_shape = self._input_shape_from_kwargs(kwargs)
        self.activity_regularizer = None
        self._call_losses: list[Any] = []  # penalties added during the latest call
        self._callable_losses: list[Any] = []  # zero-argument callables, re-evaluated on access
        self._call_metrics: dict[str, Any] = {}
        self._inbound_nodes: list[Any] = []

    # --- shapes ------------------------------------------------------------------------
    def _input_shape_from_kwargs(self, kwargs: dict) -> tuple | None:
        if kwargs.get("batch_input_shape") is not None:
            return tuple(kwargs["batch_input_shape"])
        shape = kwargs.get("input_shape")
        if shape is None and kwargs.get("input_dim") is not None:
            shape = (int(kwargs["input_dim"]),)
        if shape is None:
            return None
        if isinstance(shape, int):
            shape = (shape,)
        if kwargs.get("input_length") is not None and len(shape) == 1:
            shape = (kwargs["input_length"],) + tuple(shape)
        return (kwargs.get("batch_size"),) + tuple(shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape(s) for ``input_shape`` (``None`` for unknown sizes).

        The default runs ``call`` once on a small batch of zeros (unknown sizes taken as 2) and
        reads the result's shape, so a custom layer gets symbolic shapes without writing this;
        layers whose output shape is cheap to state override it.
        """
        def zeros(shape):
            return ops.zeros(tuple(2 if s is None else s for s in shape), self.dtype)
        if isinstance(input_shape, list):
            probe = [zeros(s) for s in input_shape]
            batch_unknown = any(s and s[0] is None for s in input_shape)
        else:
            probe = zeros(input_shape)
            batch_unknown = bool(input_shape) and input_shape[0] is None
        kwargs = {"training": False} if _accepts_training(type(self)) else {}
        out = self.call(probe, **kwargs)

        def spec(t):
            shape = tuple(t.shape)
            return ((None,) + shape[1:]) if batch_unknown and shape else shape
        return [spec(t) for t in out] if isinstance(out, (list, tuple)) else spec(out)

    # --- weights -----------------------------------------------------------------------
    def add_weight(self, name: str | None = None, shape: Iterable[int] = (), dtype: str | None = None,
                   initializer: Any = "glorot_uniform", regularizer: Any = None, trainable: bool = True,
                   constraint: Any = None) -> ops.Variable:
        """Create, initialise (on the host, then uploaded) and track a weight."""
        shape = tuple(int(s) for s in shape)
        dtype = dtype or self.dtype
        init = initializers.get(initializer)
        host = init(shape, dtype)
        if hasattr(host, "flags") and not host.flags.c_contiguous:
            host = host.copy(order="C")  # weights are updated in place; BLAS is slower on other layouts
        value = ops.convert_to_tensor(host, dtype=dtype).value
        var = ops.Variable(value, name=f"{self.name}/{name or 'weight'}", trainable=trainable,
                           constraint=constraints.get(constraint))
        var.regularizer = regularizers.get(regularizer)
        self._weights.append(var)
        return var

    @property
    def weights(self) -> list[ops.Variable]:
        return list(self._weights)

    @property
    def trainable(self) -> bool:
        """Whether training updates the layer's weights."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = value
        # A call may branch on the flag even where no weight list changes (a frozen
        # BatchNormalization normalises with its moving statistics): recorded steps are not reused.
        replay.invalidate()

    @property
    def trainable_weights(self) -> list[ops.Variable]:
        return [w for w in self._weights if w.trainable] if self._trainable else []

    @property
    def non_trainable_weights(self) -> list[ops.Variable]:
        if self.trainable:
            return [w for w in self._weights if not w.trainable]
        return list(self._weights)

    trainable_variables = trainable_weights
    variables = weights

    def get_weights(self) -> list[Any]:
        """Weights as host NumPy arrays, in creation order."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights: list[Any]) -> None:
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"Layer {self.name!r} has {len(mine)} weights but set_weights got "
                             f"{len(weights)} arrays.")
        for var, value in zip(mine, weights):
            shape = tuple(getattr(value, "shape", ()))
            if shape != var.shape:
                raise ValueError(f"Layer {self.name!r} weight {var.name!r} has shape {var.shape}, "
                                 f"but set_weights gave shape {shape}.")
            var.assign(value)

    def count_params(self) -> int:
        total = 0
        for w in self.weights:
            n = 1
            for s in w.shape:
                n *= s
            total += n
        return total

    @property
    def losses(self) -> list[ops.Tensor]:
        """Weight-regularisation penalties (recomputed on access, so they are differentiable),
        the losses added with ``add_loss``, and the activity penalties of the latest call."""
        out = [w.regularizer(w) for w in self._weights if w.regularizer is not None]
        out += [fn() for fn in self._callable_losses]
        return out + list(self._call_losses)

    def add_loss(self, loss: Any) -> None:
        """Add a penalty to the training loss: a tensor computed in ``call`` (counted for that
        call) or a zero-argument callable (re-evaluated at every step, e.g. a weight penalty)."""
        if callable(loss) and not isinstance(loss, ops.Tensor):
            self._callable_losses.append(loss)
        else:
            self._add_call_loss(ops.convert_to_tensor(loss))

    def _add_call_loss(self, loss: ops.Tensor) -> None:
        """Keep a penalty of this call for ``model.losses``. A replayed step would not run the call
        that keeps it, so a step that adds one is not replayed."""
        replay.refuse(f"layer {self.name!r} adds a loss in call (add_loss, activity_regularizer)")
        self._call_losses.append(loss)

    def add_metric(self, value: Any, name: str | None = None, aggregation: str = "mean") -> None:
        """Report ``value`` (computed in ``call``) as a metric averaged over the epoch (Keras 2 API)."""
        if name is None:
            raise ValueError(f"Layer {self.name!r}: add_metric needs a name, e.g. add_metric(x, name='mean_act').")
        if aggregation != "mean":
            raise ValueError(f"add_metric supports aggregation='mean' only, got {aggregation!r}.")
        replay.refuse(f"layer {self.name!r} adds a metric in call (add_metric)")  # a replay would not
        self._call_metrics[name] = ops.mean(ops.stop_gradient(ops.convert_to_tensor(value)))

    # --- calling -----------------------------------------------------------------------
    def build(self, input_shape: tuple) -> None:
        self.built = True

    def _maybe_build(self, input_shape: tuple) -> None:
        if not self.built:
            self.build(tuple(input_shape))
            self.built = True
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return inputs

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The mask of the output(s), given the inputs and their mask (boolean, ``(batch, time)``
        for sequences; a list for list inputs/outputs; ``None`` for no mask).

        The default passes ``mask`` on when ``supports_masking`` is set and drops it otherwise
        (Keras 3 drops it too, rather than raising as Keras 2 did).
        """
        return mask if self.supports_masking else None

    def __call__(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        if symbolic.is_symbolic(inputs):
            return self._call_symbolic(inputs, kwargs)
        if isinstance(inputs, (list, tuple)):
            inputs = [ops.convert_to_tensor(x) for x in inputs]
            shape = [x.shape for x in inputs]
        else:
            inputs = ops.convert_to_tensor(inputs)
            shape = inputs.shape
        self._maybe_build(shape)
        if _accepts_training(type(self)):
            # K.set_learning_phase decides a call without training= (None until set)
            kwargs["training"] = training if training is not None else _config.learning_phase_value()
        mask = self._incoming_mask(inputs, kwargs)
        self._call_losses = []
        self._call_metrics = {}
        outputs = self.call(inputs, **kwargs)
        if self.activity_regularizer is not None:
            self._add_call_loss(ops.divide(self.activity_regularizer(outputs), float(max(outputs.shape[0], 1))))
        if mask is None and not self._makes_masks():
            return outputs  # no mask in, none made: nothing to attach (the common, hot case)
        return self._set_output_masks(inputs, outputs, mask)

    def _makes_masks(self) -> bool:
        """Whether this layer's ``compute_mask`` may create a mask from no mask."""
        return type(self).compute_mask is not Layer.compute_mask

    def _incoming_mask(self, inputs: Any, kwargs: dict) -> Any:
        """The mask of this call — the caller's ``mask=`` if given, else the inputs' — put into
        ``kwargs`` when ``call`` has a ``mask`` argument."""
        explicit = kwargs.pop("mask", None)
        mask = explicit if explicit is not None else _mask_of(inputs)
        names, var_keyword = _call_params(type(self))
        if "mask" in names or (explicit is not None and var_keyword):
            kwargs["mask"] = mask
        return mask

    def _set_output_masks(self, inputs: Any, outputs: Any, mask: Any, compute: Any = None) -> Any:
        """Attach ``compute_mask``'s result (or ``compute``'s) to the output tensor(s) as ``_keras_mask``."""
        many = isinstance(outputs, (list, tuple))
        outs = list(outputs) if many else [outputs]
        ins = inputs if isinstance(inputs, list) else [inputs]
        passed_through = [any(o is x for x in ins) for o in outs]
        # A new output that already has a mask got it inside call (from inner layers, e.g. a
        # model used as a layer); it stands, as in Keras 3.
        if all(not isinstance(o, ops.Tensor) or (o._keras_mask is not None and not p)
               for o, p in zip(outs, passed_through)):
            return outputs
        masks = (compute or self.compute_mask)(inputs, mask)
        masks = list(masks) if isinstance(masks, (list, tuple)) else [masks]
        masks += [None] * (len(outs) - len(masks))
        for i, (o, m, p) in enumerate(zip(outs, masks, passed_through)):
            if not isinstance(o, ops.Tensor) or (o._keras_mask is not None and not p):
                continue
            if p and o._keras_mask is not m:
                o = outs[i] = _alias(o)  # never change the mask of a tensor other layers may read
            o._keras_mask = None if m is None else ops.convert_to_tensor(m)
        if not many:
            return outs[0]
        return outs if isinstance(outputs, list) else tuple(outs)

    def _collected_metrics(self) -> dict[str, Any]:
        return dict(self._call_metrics)

    def _call_symbolic(self, inputs: Any, kwargs: dict, out_shape: Any = None) -> Any:
        """Record this call in the graph: build for the symbolic shapes, infer output shapes (unless
        the caller knows ``out_shape``)."""
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(inputs, list) and not all(isinstance(t, symbolic.KerasTensor) for t in inputs):
            raise TypeError(f"Layer {self.name!r} got a list mixing symbolic tensors (from Input) and "
                            "concrete values; pass only tensors from the same graph.")
        tensor_kwargs = sorted(k for k, v in kwargs.items() if symbolic.is_symbolic(v))
        if tensor_kwargs:
            raise TypeError(f"Layer {self.name!r} got symbolic tensors as keyword arguments "
                            f"({', '.join(tensor_kwargs)}), which functional models cannot replay; masks flow from "
                            "the inputs by themselves (Embedding(mask_zero=True), Masking), or compute the value "
                            "inside a custom layer.")
        shapes = symbolic.shape_of(inputs)
        try:
            self._maybe_build(shapes if isinstance(shapes, list) else tuple(shapes))
            if out_shape is None:
                out_shape = self.compute_output_shape(shapes if isinstance(shapes, list) else tuple(shapes))
        except (ValueError, TypeError) as exc:
            if str(exc).startswith("Layer "):
                raise
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) cannot take inputs of shape "
                             f"{shapes}: {exc}") from None
        multiple = isinstance(out_shape, list)
        outputs = [symbolic.KerasTensor(s, self.dtype) for s in (out_shape if multiple else [out_shape])]
        symbolic.Node(self, inputs, outputs, kwargs)
        return outputs if multiple else outputs[0]

    @property
    def inbound_nodes(self) -> list:
        return list(self._inbound_nodes)

    # --- Keras' node attributes: the tensors and shapes of this layer's calls in graphs ----------
    def _only_node(self, what: str, shapes: Any = None) -> Any:
        """The node ``what`` is read from: the one inbound node, or the first when every node has
        the same ``shapes(node)`` (Keras' rule for ``input_shape``/``output_shape``)."""
        nodes = self._inbound_nodes
        if not nodes:
            raise AttributeError(
                f"Layer {self.name!r} has not been called on a symbolic tensor (from Input(), or inside a "
                f"Sequential model that knows its input shape), so it has no {what} yet.")
        if len(nodes) > 1 and (shapes is None or any(shapes(n) != shapes(nodes[0]) for n in nodes[1:])):
            how = "on tensors of different shapes" if shapes is not None else "in graphs"
            raise AttributeError(
                f"Layer {self.name!r} has been called {len(nodes)} times {how}, so its {what} is ambiguous; "
                f"pick one call with get_{what}_at(node_index).")
        return nodes[0]

    def _node_at(self, node_index: int, what: str) -> Any:
        nodes = self._inbound_nodes
        if not -len(nodes) <= node_index < len(nodes):
            raise ValueError(f"Asked for the {what} of call {node_index} of layer {self.name!r}, but it has been "
                             f"called {len(nodes)} time(s) on symbolic tensors.")
        return nodes[node_index]

    @staticmethod
    def _node_inputs(node: Any) -> Any:
        if not node.parents:  # an InputLayer: its input is the tensor it makes, as in Keras
            return node.outputs[0]
        return list(node.input_structure) if isinstance(node.input_structure, tuple) else node.input_structure

    @staticmethod
    def _node_outputs(node: Any) -> Any:
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    @property
    def input(self) -> Any:
        """The symbolic input tensor(s) of the layer's one call in a graph (Keras' ``layer.input``)."""
        return self._node_inputs(self._only_node("input"))

    @property
    def output(self) -> Any:
        """The symbolic output tensor(s) of the layer's one call in a graph (Keras' ``layer.output``)."""
        return self._node_outputs(self._only_node("output"))

    @property
    def input_shape(self) -> Any:
        """The input shape of the layer's calls in graphs (``None`` for the batch axis)."""
        def shapes(node: Any) -> Any:
            return symbolic.shape_of(self._node_inputs(node))
        return shapes(self._only_node("input_shape", shapes))

    @property
    def output_shape(self) -> Any:
        """The output shape of the layer's calls in graphs (``None`` for the batch axis)."""
        def shapes(node: Any) -> Any:
            return symbolic.shape_of(self._node_outputs(node))
        return shapes(self._only_node("output_shape", shapes))

    def get_input_at(self, node_index: int) -> Any:
        """The input tensor(s) of the layer's call number ``node_index`` in graphs."""
        return self._node_inputs(self._node_at(node_index, "input"))

    def get_output_at(self, node_index: int) -> Any:
        """The output tensor(s) of the layer's call number ``node_index`` in graphs."""
        return self._node_outputs(self._node_at(node_index, "output"))

    def get_input_shape_at(self, node_index: int) -> Any:
        return symbolic.shape_of(self.get_input_at(node_index))

    def get_output_shape_at(self, node_index: int) -> Any:
        return symbolic.shape_of(self.get_output_at(node_index))

    # --- config ------------------------------------------------------------------------
    def get_config(self) -> dict:
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"
