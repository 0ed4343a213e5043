"""``BaseRNN``: what SimpleRNN, LSTM and GRU share — arguments, weights, dropout masks, the loop
over time steps, ``return_sequences`` / ``return_state`` / ``go_backwards`` / ``initial_state``.

The input projection ``x @ kernel (+ bias)`` of every time step is one matmul over the whole
(time-major) sequence; only the recurrent product ``h @ recurrent_kernel`` runs inside the Python
loop over time steps. Every step is made of ``lamina.ops``, so the tape records the unrolled
sequence and backpropagation through time needs no code of its own.
"""
from __future__ import annotations

from typing import Any

from ... import activations, constraints, initializers, ops, regularizers
from ..layer import Layer

# Keras 1 / Keras 2 spellings of the arguments (old name -> Keras 3 name).
_OLD_NAMES = {
    "output_dim": "units", "init": "kernel_initializer", "inner_init": "recurrent_initializer",
    "inner_activation": "recurrent_activation", "W_regularizer": "kernel_regularizer",
    "U_regularizer": "recurrent_regularizer", "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint", "U_constraint": "recurrent_constraint",
    "b_constraint": "bias_constraint", "dropout_W": "dropout", "dropout_U": "recurrent_dropout",
}
# Accepted for compatibility and ignored: they choose how Keras schedules the same math.
_IGNORED = ("implementation", "unroll", "consume_less", "forget_bias_init")


class BaseRNN(Layer):
    """Base of the recurrent layers (not used directly).

    Subclasses set ``_GATES`` (blocks of ``units`` columns in the kernels) and ``_STATES`` (state
    tensors), and implement ``_step(xk_t, states, rec_mask) -> (output, new_states)`` plus, when
    the bias is not a plain ``(gates * units,)`` vector, ``_bias_shape`` / ``_input_bias``.
    """

    _GATES = 1
    _STATES = 1

    def __init__(self, units: int | None = None, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 seed: int | None = None, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, **kwargs: Any):
        given = dict(units=units, kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                     recurrent_activation=recurrent_activation, kernel_regularizer=kernel_regularizer,
                     recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                     kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                     bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout)
        for old, new in _OLD_NAMES.items():
            if old in kwargs:
                given[new] = kwargs.pop(old)
        for name in _IGNORED:
            kwargs.pop(name, None)
        if kwargs.pop("time_major", False):
            raise ValueError(f"{type(self).__name__}(time_major=True) is not supported; pass inputs of shape "
                             "(batch, time, features), e.g. ops.transpose(x, (1, 0, 2)).")
        super().__init__(**kwargs)
        name = type(self).__name__
        units = given["units"]
        if units is None or isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"{name} needs a positive integer number of units, got {units!r}; e.g. {name}(32).")
        if stateful:
            raise NotImplementedError(f"{name}(stateful=True) is not supported yet; carry states between "
                                      "batches with return_state=True and initial_state=... instead.")
        for arg in ("dropout", "recurrent_dropout"):
            rate = given[arg]
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= float(rate) < 1.0:
                raise ValueError(f"{name} {arg} must be a number in [0, 1), got {rate!r}.")
        self.units = units
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(given["recurrent_activation"])
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(given["kernel_initializer"])
        self.recurrent_initializer = initializers.get(given["recurrent_initializer"])
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(given["kernel_regularizer"])
        self.recurrent_regularizer = regularizers.get(given["recurrent_regularizer"])
        self.bias_regularizer = regularizers.get(given["bias_regularizer"])
        # Kept apart from ``activity_regularizer`` (which the base applies to the whole result) so
        # that only the main output is penalised when ``return_state`` adds the states.
        self.output_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(given["kernel_constraint"])
        self.recurrent_constraint = constraints.get(given["recurrent_constraint"])
        self.bias_constraint = constraints.get(given["bias_constraint"])
        self.dropout = float(given["dropout"])
        self.recurrent_dropout = float(given["recurrent_dropout"])
        self.seed = seed
        # Created only when needed, so a layer without dropout does not consume the global stream.
        self.seed_generator = (ops.SeedGenerator(seed) if self.dropout or self.recurrent_dropout else None)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.kernel = self.recurrent_kernel = self.bias = None
        self.input_dim: int | None = None

    # --- weights -------------------------------------------------------------------------
    def _bias_shape(self) -> tuple:
        return (self._GATES * self.units,)

    def _bias_init(self) -> Any:
        return self.bias_initializer

    def _input_bias(self) -> Any:
        """The bias added to ``x @ kernel`` (before the loop); ``None`` for none."""
        return self.bias

    @staticmethod
    def _sequence_shape(input_shape: Any) -> tuple:
        # [x, *initial_states] (the base's build hands a list of shapes over as a tuple of tuples)
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        return tuple(input_shape)

    def build(self, input_shape: Any) -> None:
        shape = self._sequence_shape(input_shape)
        if len(shape) != 3 or shape[-1] is None:
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) needs inputs of shape "
                             f"(batch, time, features) with known features, got {shape}; e.g. "
                             "input_shape=(28, 28) for 28 steps of 28 features.")
        self.input_dim = int(shape[-1])
        width = self._GATES * self.units
        self.kernel = self.add_weight("kernel", (self.input_dim, width), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), initializer=self._bias_init(),
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    # --- calling -------------------------------------------------------------------------
    def __call__(self, inputs: Any, training: bool | None = None, initial_state: Any = None, **kwargs: Any) -> Any:
        # Initial states travel as extra inputs (as in Keras), so a functional graph sees them as parents.
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if isinstance(inputs, (list, tuple)):
                raise ValueError(f"Layer {self.name!r}: give the initial states either in the inputs list or "
                                 "as initial_state=..., not both.")
            inputs = [inputs] + states
        return super().__call__(inputs, training=training, **kwargs)

    def _dropout_mask(self, shape: tuple, rate: float, dtype: str) -> ops.Tensor:
        """An inverted-dropout mask (kept entries 1/(1-rate)) from the layer's Philox stream."""
        seed, counter = self.seed_generator.next()
        return ops.stop_gradient(ops.dropout(ops.ones(shape, dtype), rate, seed, counter))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        name = f"Layer {self.name!r} ({type(self).__name__})"
        if isinstance(inputs, (list, tuple)):
            x, states = inputs[0], list(inputs[1:])
        else:
            x, states = inputs, []
        x = ops.convert_to_tensor(x)
        if x.ndim != 3 or x.shape[-1] != self.input_dim:
            raise ValueError(f"{name} expects inputs of shape (batch, time, {self.input_dim}), got {x.shape}.")
        batch, steps = x.shape[0], x.shape[1]
        if steps == 0:
            raise ValueError(f"{name} got a sequence with 0 time steps (shape {x.shape}).")
        if states:
            if len(states) != self._STATES:
                raise ValueError(f"{name} has {self._STATES} state tensor(s) but initial_state gave "
                                 f"{len(states)}; {type(self).__name__} states are "
                                 f"{'[h, c]' if self._STATES == 2 else '[h]'}, each (batch, units).")
            states = [ops.convert_to_tensor(s, x.dtype) for s in states]
            for s in states:
                if tuple(s.shape) != (batch, self.units):
                    raise ValueError(f"{name} initial state must have shape {(batch, self.units)}, got {s.shape}.")
        else:
            states = [ops.zeros((batch, self.units), x.dtype) for _ in range(self._STATES)]

        # Masks are drawn once per call, so every time step of a sequence drops the same units.
        if training and self.dropout > 0.0:
            x = ops.multiply(x, ops.expand_dims(self._dropout_mask((batch, self.input_dim), self.dropout, x.dtype), 1))
        rec_mask = None
        if training and self.recurrent_dropout > 0.0:
            rec_mask = self._dropout_mask((batch, self.units), self.recurrent_dropout, x.dtype)

        # Time-major and 2-D: the reshape of the transposed view makes one contiguous copy, so the
        # projection is a single BLAS product (a batched matmul over a strided view was 30x slower)
        # and each step's slice xk[t] is a contiguous block (cheap to slice and to scatter back).
        flat = ops.reshape(ops.transpose(x, (1, 0, 2)), (steps * batch, self.input_dim))
        xk = ops.reshape(ops.matmul(flat, self.kernel), (steps, batch, self._GATES * self.units))
        bias = self._input_bias()
        if bias is not None:
            xk = ops.add(xk, bias)
        self._prepare_step()
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs = []
        out = None
        for t in order:
            out, states = self._step(ops.getitem(xk, t), states, rec_mask)
            if self.return_sequences:
                outputs.append(out)
        output = ops.stack(outputs, axis=1) if self.return_sequences else out
        if self.output_regularizer is not None:
            self._call_losses.append(ops.divide(self.output_regularizer(output), float(max(batch, 1))))
        if self.return_state:
            return [output] + list(states)
        return output

    def _prepare_step(self) -> None:
        """Hook run once per call before the loop (e.g. slicing weights that every step uses)."""

    def _gate(self, z: ops.Tensor, k: int) -> ops.Tensor:
        """Columns ``[k * units, (k + 1) * units)`` of ``z`` (batch, gates * units)."""
        return ops.getitem(z, (slice(None), slice(k * self.units, (k + 1) * self.units)))

    def _step(self, xk_t: ops.Tensor, states: list, rec_mask: Any) -> tuple:
        raise NotImplementedError

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = self._sequence_shape(input_shape)
        batch = shape[0]
        out = (batch, shape[1], self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self._STATES
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "units": self.units, "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.output_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
            "return_sequences": self.return_sequences, "return_state": self.return_state,
            "go_backwards": self.go_backwards, "stateful": self.stateful,
        })
        return config
