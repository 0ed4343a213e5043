"""``lamina.backend``: the Keras 2 backend facade (``from lamina import backend as K``).

Settings (``epsilon``, ``floatx``, ``image_data_format``, ``backend()``) and the common Keras 2
backend functions, each a thin name over ``lamina.ops`` so custom code gets gradients.
Not to be confused with ``lamina.backends`` (the protocol and registry).
"""
from __future__ import annotations

from typing import Any, Sequence

from . import _config, backends as _backends, ops
from .layers.symbolic import KerasTensor
from ._config import epsilon, floatx, image_data_format, set_epsilon, set_floatx, set_image_data_format  # noqa: F401


def backend() -> str:
    """The active backend's name (``"numpy"``, ``"cupy"``, …)."""
    return _backends.current().name


def clear_session() -> None:
    """Reset layer-name counters (as Keras does) and give the backend's cached array memory back to
    the system; weights of existing models are unaffected."""
    from .layers.layer import reset_names
    reset_names()
    _config.set_learning_phase(None)  # as Keras 2's clear_session
    _backends.current().release_memory()


def image_dim_ordering() -> str:
    """Keras 1: ``"th"`` for channels_first, ``"tf"`` for channels_last."""
    return "th" if _config.image_data_format() == "channels_first" else "tf"


def set_image_dim_ordering(value: str) -> None:
    if value not in ("th", "tf"):
        raise ValueError(f"image dim ordering must be 'th' or 'tf', got {value!r}.")
    _config.set_image_data_format("channels_first" if value == "th" else "channels_last")


# --- tensors and values --------------------------------------------------------------------

def variable(value: Any, dtype: str | None = None, name: str | None = None) -> ops.Variable:
    t = ops.convert_to_tensor(value, dtype=dtype or _config.floatx())
    # A copy: the converted value may be shared (a cached scalar, the caller's array).
    return ops.Variable(_backends.current().copy(t.value), name=name or "variable")


def constant(value: Any, dtype: str | None = None, shape: Sequence[int] | None = None) -> ops.Tensor:
    t = ops.convert_to_tensor(value, dtype=dtype or _config.floatx())
    return ops.broadcast_to(t, tuple(shape)) if shape is not None else t


def get_value(x: Any) -> Any:
    if isinstance(x, (int, float)):
        return x
    return ops.convert_to_tensor(x).numpy()


def batch_get_value(xs: Sequence[Any]) -> list:
    return [get_value(x) for x in xs]


def set_value(x: Any, value: Any) -> None:
    x.assign(value)


eval = get_value  # noqa: A001 - Keras 2 name


def is_keras_tensor(x: Any) -> bool:
    """Whether ``x`` is a symbolic tensor (from ``Input()`` or a layer call on one)."""
    return isinstance(x, KerasTensor)


def int_shape(x: Any) -> tuple:
    """The shape as a tuple; ``None`` for sizes a symbolic tensor does not know (the batch)."""
    if isinstance(x, KerasTensor):  # its shape, not the conversion's refusal
        return tuple(x.shape)
    return tuple(ops.convert_to_tensor(x).shape)


def shape(x: Any) -> tuple:
    return int_shape(x)


def ndim(x: Any) -> int:
    return len(x.shape) if isinstance(x, KerasTensor) else ops.convert_to_tensor(x).ndim


def dtype(x: Any) -> str:
    return x.dtype if isinstance(x, KerasTensor) else ops.convert_to_tensor(x).dtype


def cast_to_floatx(x: Any) -> Any:
    return ops.cast(x, _config.floatx())


# --- math (each a Keras 2 name over lamina.ops) ---------------------------------------------

def sum(x, axis=None, keepdims=False): return ops.sum(x, axis=axis, keepdims=keepdims)  # noqa: A001
def mean(x, axis=None, keepdims=False): return ops.mean(x, axis=axis, keepdims=keepdims)
def max(x, axis=None, keepdims=False): return ops.max(x, axis=axis, keepdims=keepdims)  # noqa: A001
def min(x, axis=None, keepdims=False): return ops.min(x, axis=axis, keepdims=keepdims)  # noqa: A001
def prod(x, axis=None, keepdims=False): return ops.prod(x, axis=axis, keepdims=keepdims)
def var(x, axis=None, keepdims=False): return ops.var(x, axis=axis, keepdims=keepdims)
def std(x, axis=None, keepdims=False): return ops.std(x, axis=axis, keepdims=keepdims)
def logsumexp(x, axis=None, keepdims=False): return ops.logsumexp(x, axis=axis, keepdims=keepdims)
def argmax(x, axis=-1): return ops.argmax(x, axis=axis)
def argmin(x, axis=-1): return ops.argmin(x, axis=axis)
def square(x): return ops.square(x)
def sqrt(x): return ops.sqrt(ops.maximum(x, 0.0))
def abs(x): return ops.abs(x)  # noqa: A001
def exp(x): return ops.exp(x)
def log(x): return ops.log(x)
def pow(x, a): return ops.power(x, a)  # noqa: A001
def sign(x): return ops.sign(x)
def round(x): return ops.round(x)  # noqa: A001
def sin(x): return ops.sin(x)
def cos(x): return ops.cos(x)
def maximum(x, y): return ops.maximum(x, y)
def minimum(x, y): return ops.minimum(x, y)
def clip(x, min_value, max_value): return ops.clip(x, min_value, max_value)
def equal(x, y): return ops.equal(x, y)
def not_equal(x, y): return ops.not_equal(x, y)
def greater(x, y): return ops.greater(x, y)
def greater_equal(x, y): return ops.greater_equal(x, y)
def less(x, y): return ops.less(x, y)
def less_equal(x, y): return ops.less_equal(x, y)
def cast(x, dtype): return ops.cast(x, dtype)
def dot(x, y): return ops.matmul(x, y)
def transpose(x): return ops.transpose(x)
def reshape(x, shape): return ops.reshape(x, shape)
def permute_dimensions(x, pattern): return ops.transpose(x, pattern)
def expand_dims(x, axis=-1): return ops.expand_dims(x, axis)
def squeeze(x, axis): return ops.squeeze(x, axis)
def flatten(x): return ops.reshape(x, (-1,))
def batch_flatten(x): return ops.reshape(x, (ops.convert_to_tensor(x).shape[0], -1))
def concatenate(tensors, axis=-1): return ops.concatenate(tensors, axis=axis)
def stack(tensors, axis=0): return ops.stack(tensors, axis=axis)
def gather(reference, indices): return ops.take(reference, indices, axis=0)
def one_hot(indices, num_classes): return ops.one_hot(indices, num_classes)
def switch(condition, then_expression, else_expression): return ops.where(condition, then_expression, else_expression)
def stop_gradient(x): return ops.stop_gradient(x)
def zeros(shape, dtype=None, name=None): return ops.zeros(shape, dtype)
def ones(shape, dtype=None, name=None): return ops.ones(shape, dtype)
def zeros_like(x, dtype=None, name=None): return ops.zeros_like(x, dtype)
def ones_like(x, dtype=None, name=None): return ops.ones_like(x, dtype)


def batch_dot(x: Any, y: Any, axes: Any = None) -> ops.Tensor:
    """Row-wise dot product for 2-D inputs (result ``(batch, 1)``), batched matmul otherwise."""
    x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
    if x.ndim == 2 and y.ndim == 2:
        return ops.sum(ops.multiply(x, y), axis=-1, keepdims=True)
    return ops.matmul(x, y)


def l2_normalize(x: Any, axis: int = -1) -> ops.Tensor:
    x = ops.convert_to_tensor(x)
    return ops.divide(x, ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), 1e-12)))


# --- activations and losses -----------------------------------------------------------------

def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    from .activations import relu as _relu
    return _relu(x, negative_slope=alpha, max_value=max_value, threshold=threshold)


def softmax(x, axis=-1): return ops.softmax(x, axis=axis)
def sigmoid(x): return ops.sigmoid(x)
def hard_sigmoid(x): return ops.hard_sigmoid(x)
def tanh(x): return ops.tanh(x)
def softplus(x): return ops.softplus(x)
def softsign(x): return ops.softsign(x)
def elu(x, alpha=1.0): return ops.elu(x, alpha)


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    from .losses import categorical_crossentropy as f
    return f(target, output, from_logits=from_logits, axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    from .losses import sparse_categorical_crossentropy as f
    return f(target, output, from_logits=from_logits, axis=axis)


def binary_crossentropy(target, output, from_logits=False):
    from .losses import binary_crossentropy as f
    eps = _config.epsilon()
    out = ops.convert_to_tensor(output)
    if not from_logits:  # Keras 2's element-wise form (no mean over the last axis)
        t = ops.cast(ops.convert_to_tensor(target), out.dtype)
        p = ops.clip(out, eps, 1.0 - eps)
        return ops.negative(ops.add(ops.multiply(t, ops.log(p)), ops.multiply(ops.subtract(1.0, t), ops.log(ops.subtract(1.0, p)))))
    return f(ops.expand_dims(target, -1), ops.expand_dims(output, -1), from_logits=True)


def dropout(x, level, noise_shape=None, seed=None):
    gen = ops.SeedGenerator(seed)
    s, c = gen.next()
    return ops.dropout(x, level, s, c)


# --- randomness ---------------------------------------------------------------------------

def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return ops.random_normal(shape, mean, stddev, dtype, seed)


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    return ops.random_uniform(shape, minval, maxval, dtype, seed)


def random_binomial(shape, p=0.0, dtype=None, seed=None):
    return ops.cast(ops.less(ops.random_uniform(shape, 0.0, 1.0, dtype, seed), p), dtype or _config.floatx())


def gradients(loss: Any, variables: Sequence[Any]) -> None:
    raise TypeError("K.gradients needs a symbolic graph, which eager Lamina does not build; use "
                    "lamina.ops.GradientTape: with GradientTape() as t: loss = ...; t.gradient(loss, variables).")


# --- Keras 2 graph functions ------------------------------------------------------------------

class _LearningPhase:
    """Keras 2's learning-phase placeholder: an input of ``K.function`` fed 0 (inference) or 1
    (training, e.g. dropout active)."""

    def __repr__(self) -> str:
        return "<K.learning_phase()>"


_LEARNING_PHASE = _LearningPhase()


def set_learning_phase(value: int | None) -> None:
    """Keras 2's global learning phase: 1 makes layer calls without ``training=`` run in training mode
    (dropout active), 0 in inference mode; ``None`` or ``clear_session()`` clears it. ``fit``,
    ``evaluate`` and ``predict`` pass their own phase and are not affected; neither is a
    ``K.function`` that takes ``K.learning_phase()`` as an input. A ``K.function`` without one runs
    in the global phase (inference when none is set)."""
    _config.set_learning_phase(value)


def learning_phase() -> _LearningPhase:
    """The learning-phase placeholder, for ``K.function([model.input, K.learning_phase()], [out])``
    called as ``f([x, 0])`` (inference) or ``f([x, 1])`` (training mode)."""
    return _LEARNING_PHASE


class GraphFunction:
    """What ``K.function`` returns: call it with a list of arrays (one per input, and 0 or 1 for
    the learning phase where it is an input); it returns NumPy arrays, a list for a list of outputs."""

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None):
        from .layers.input_layer import InputLayer
        from .models.functional import Functional
        items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self._phase_index = next((i for i, t in enumerate(items) if t is _LEARNING_PHASE), None)
        tensors = [t for t in items if t is not _LEARNING_PHASE]
        self._outputs_are_list = isinstance(outputs, (list, tuple))
        outs = list(outputs) if self._outputs_are_list else [outputs]
        for t in tensors:
            if isinstance(t, KerasTensor) and t._keras_history is not None \
                    and not isinstance(t._keras_history[0], InputLayer):
                raise ValueError(f"K.function inputs must be model inputs (Input() tensors, model.input); {t!r} is "
                                 "computed by a layer. To start from an intermediate tensor, build a Model from an "
                                 "Input of its shape through the later layers.")
        # A functional model of the same layers runs the graph (shared weights, fused ops).
        self.model = Functional(inputs=tensors, outputs=outs, name=name)

    def __call__(self, values: Any) -> Any:
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        training = bool(_config.learning_phase_value())  # K.set_learning_phase, inference by default
        if self._phase_index is not None:
            if len(values) <= self._phase_index:
                raise ValueError(f"This K.function takes {len(self.model.inputs) + 1} values (the inputs and the "
                                 f"learning phase, 0 or 1), got {len(values)}.")
            training = _config.check_learning_phase(values.pop(self._phase_index), "This K.function")
        if len(values) != len(self.model.inputs):
            raise ValueError(f"This K.function takes {len(self.model.inputs)} input array(s), got {len(values)}.")
        from .utils import data as data_utils
        model = self.model
        xs = [data_utils.cast_inputs(a) for a in model._as_list(values if len(values) > 1 else values[0],
                                                                  model.input_names, "input")]
        model._check_inputs(xs)
        be = ops.backend_object()
        # Keras 2 ran only the outputs' graph: BatchNormalization's moving statistics were updates,
        # applied only when passed as updates=, so a training-phase call leaves them as they were.
        kept = [(w, be.copy(w.value)) for w in model.non_trainable_weights] if training else []
        try:
            # One batch, as Keras 2 ran it; in the requested phase (training=True: dropout active).
            preds = model._forward([ops.Tensor(be.asarray(a)) for a in xs], training=training)
            results = [be.to_numpy(p.value) for p in preds]
        finally:
            for w, value in kept:
                w.assign(value)
        return results if self._outputs_are_list else results[0]


def function(inputs: Any, outputs: Any, updates: Any = None, name: str | None = None, **kwargs: Any) -> GraphFunction:
    """Keras 2's ``K.function(inputs, outputs)``: a callable from input arrays to output arrays.

    Example:
        >>> get_hidden = K.function([model.input], [model.layers[1].output])
        >>> hidden = get_hidden([x])[0]
    """
    if kwargs:
        raise TypeError(f"K.function got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
    if updates:
        raise ValueError("K.function(updates=...) is not supported: Lamina updates weights with optimizers "
                         "(model.fit, or GradientTape and optimizer.apply_gradients).")
    return GraphFunction(inputs, outputs, name=name)
