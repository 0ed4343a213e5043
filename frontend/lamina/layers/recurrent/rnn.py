"""``BaseRNN``: what SimpleRNN, LSTM, GRU and ConvLSTM2D share — arguments, dropout masks, the
loop over time steps with ``mask``, ``stateful``, ``return_sequences`` / ``return_state`` /
``go_backwards`` / ``initial_state`` — written once, generic over the shape of the states.

The input projection of every time step is computed before the loop, for the whole (time-major)
sequence at once: one matmul for the dense layers, one convolution over all ``batch * time``
frames for ConvLSTM2D. Only the recurrent product runs inside the Python loop over time steps.
Every step is made of ``lamina.ops``, so the tape records the unrolled sequence and
backpropagation through time needs no code of its own.

Hooks a subclass provides (the defaults here are the dense layers'):

* ``_build_weights(input_shape)``: the weights; sets ``_gate_keys`` (see ``gate_keys``).
* ``_check_sequence(x)``: a ValueError for inputs the built layer cannot take.
* ``_state_shape(batch)``: the shape of each state (and of one step's output).
* ``_step_output_shape(input_shape)``: one step's output shape without the batch axis.
* ``_project_inputs(x)``: ``(time, batch, ...)`` input projections including the input bias.
* ``_recurrent(h)``: the recurrent product of the previous output.
* ``_step(xk_t, states, rec_mask) -> (output, new_states)``: the cell.
"""
from __future__ import annotations

from typing import Any

from ... import activations, constraints, initializers, ops, regularizers
from ..layer import Layer
from ...ops import replay

# Keras 1 / Keras 2 spellings of the arguments (old name -> Keras 3 name).
_OLD_NAMES = {
    "output_dim": "units", "init": "kernel_initializer", "inner_init": "recurrent_initializer",
    "inner_activation": "recurrent_activation", "W_regularizer": "kernel_regularizer",
    "U_regularizer": "recurrent_regularizer", "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint", "U_constraint": "recurrent_constraint",
    "b_constraint": "bias_constraint", "dropout_W": "dropout", "dropout_U": "recurrent_dropout",
}
# Accepted for compatibility and ignored: they choose how Keras schedules the same math.
_IGNORED = ("implementation", "unroll", "consume_less", "forget_bias_init", "use_cudnn")


def sequence_mask(mask: Any) -> Any:
    """The mask of the sequence: masks of ``[x, *initial_states]`` come as a list, and x's counts."""
    if isinstance(mask, (list, tuple)):
        return mask[0] if mask else None
    return mask


def gate_keys(axis: int, gates: int, width: int) -> list[tuple]:
    """``getitem`` keys selecting each gate's block of ``width`` entries along ``axis``."""
    return [(slice(None),) * axis + (slice(k * width, (k + 1) * width),) for k in range(gates)]


class BaseRNN(Layer):
    """Base of the recurrent layers (not used directly).

    Subclasses set ``_GATES`` (blocks of ``units`` in the kernels) and ``_STATES`` (state
    tensors) and implement ``_step``; see the module docstring for the other hooks.

    Common arguments (beyond the cell's own): ``return_sequences``, ``return_state``,
    ``go_backwards``, ``stateful``, ``zero_output_for_mask``, ``dropout``, ``recurrent_dropout``,
    ``seed``. Call arguments: ``inputs``, ``mask`` (boolean ``(batch, time)``), ``training``,
    ``initial_state``.

    **Masks** (from ``Embedding(mask_zero=True)``, ``Masking`` or ``mask=``): at a masked step the
    states are carried over unchanged and the step's output repeats the previous output (zeros
    before the first unmasked step), or is zeros with ``zero_output_for_mask=True``.
    ``go_backwards`` reads the mask backwards with the sequence. ``compute_mask`` passes the mask
    on with ``return_sequences`` (and ``None`` for each state with ``return_state``).

    **stateful=True**: the last states of a batch are the initial states of the next, sample by
    sample, so the batch size must be fixed (``batch_input_shape=(batch, time, ...)``,
    ``batch_size=`` on the first layer, or ``Input(batch_size=...)``). ``reset_states(states=None)``
    sets them to zeros or to given values; ``model.reset_states()`` resets every layer. The
    states are not weights: not trainable, not in ``get_weights`` or saved files (as in Keras 3).
    """

    _GATES = 1
    _STATES = 1
    _SIZE_NAME = "units"
    _SIZE_EXAMPLE = "32"

    def __init__(self, units: int | None = None, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 seed: int | None = None, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, zero_output_for_mask: bool = False,
                 **kwargs: Any):
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
            raise ValueError(f"{name} needs a positive integer number of {self._SIZE_NAME}, got {units!r}; "
                             f"e.g. {name}({self._SIZE_EXAMPLE}).")
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
        self.stateful = bool(stateful)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        # The carried states of a stateful layer (plain tensors, no graph); None otherwise.
        self.states: list[ops.Tensor] | None = None
        self.kernel = self.recurrent_kernel = self.bias = None
        self.input_dim: int | None = None
        self._gate_keys: list[tuple] = []

    def _label(self) -> str:
        return f"Layer {self.name!r} ({type(self).__name__})"

    # --- weights -------------------------------------------------------------------------
    def _bias_shape(self) -> tuple:
        return (self._GATES * self.units,)

    def _bias_init(self) -> Any:
        return self.bias_initializer

    def _input_bias(self) -> Any:
        """The bias added to the input projection (before the loop); ``None`` for none."""
        return self.bias

    def _add_bias(self) -> None:
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), initializer=self._bias_init(),
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    @staticmethod
    def _sequence_shape(input_shape: Any) -> tuple:
        # [x, *initial_states] (the base's build hands a list of shapes over as a tuple of tuples)
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        return tuple(input_shape)

    def build(self, input_shape: Any) -> None:
        shape = self._sequence_shape(input_shape)
        if self.stateful and (not shape or shape[0] is None):
            raise ValueError(f"{self._label()} is stateful, so it needs a fixed batch size: give the first layer "
                             "batch_input_shape=(batch, time, ...) or batch_size=..., or use Input(batch_size=...).")
        self._build_weights(shape)
        if self.stateful:
            self.states = [ops.zeros(self._state_shape(int(shape[0])), self.dtype) for _ in range(self._STATES)]
        self.built = True

    def _build_weights(self, shape: tuple) -> None:
        if len(shape) != 3 or shape[-1] is None:
            raise ValueError(f"{self._label()} needs inputs of shape (batch, time, features) with known features, "
                             f"got {shape}; e.g. input_shape=(28, 28) for 28 steps of 28 features.")
        self.input_dim = int(shape[-1])
        width = self._GATES * self.units
        self.kernel = self.add_weight("kernel", (self.input_dim, width), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self._add_bias()
        self._gate_keys = gate_keys(1, self._GATES, self.units)

    # --- dense hooks (ConvLSTM2D overrides them) -----------------------------------------
    def _check_sequence(self, x: ops.Tensor) -> None:
        if x.ndim != 3 or x.shape[-1] != self.input_dim:
            raise ValueError(f"{self._label()} expects inputs of shape (batch, time, {self.input_dim}), "
                             f"got {x.shape}.")

    def _state_shape(self, batch: Any) -> tuple:
        return (batch, self.units)

    def _step_output_shape(self, input_shape: tuple) -> tuple:
        return (self.units,)

    def _project_inputs(self, x: ops.Tensor) -> ops.Tensor:
        batch, steps = x.shape[0], x.shape[1]
        # Time-major and 2-D: the reshape of the transposed view makes one contiguous copy, so the
        # projection is a single BLAS product (a batched matmul over a strided view was 30x slower)
        # and each step's slice xk[t] is a contiguous block (cheap to slice and to scatter back).
        flat = ops.reshape(ops.transpose(x, (1, 0, 2)), (steps * batch, self.input_dim))
        xk = ops.reshape(ops.matmul(flat, self.kernel), (steps, batch, self._GATES * self.units))
        bias = self._input_bias()
        return xk if bias is None else ops.add(xk, bias)

    def _recurrent(self, h: ops.Tensor) -> ops.Tensor:
        return ops.matmul(h, self.recurrent_kernel)

    def _prepare_step(self) -> None:
        """Hook run once per call before the loop (e.g. slicing weights that every step uses)."""

    def _gate(self, z: ops.Tensor, k: int) -> ops.Tensor:
        """Gate block ``k`` of ``z`` (``units`` entries of the gate axis)."""
        return ops.getitem(z, self._gate_keys[k])

    def _step(self, xk_t: ops.Tensor, states: list, rec_mask: Any) -> tuple:
        raise NotImplementedError

    def _whole_sequence(self, xk: ops.Tensor, states: list) -> tuple | None:
        """``(hs, final states)`` from one op over all steps, where the layer has one (``LSTM``;
        ``GRU`` with ``reset_after``; ``SimpleRNN``; all with their default activations); None runs the step
        loop. ``xk`` and ``hs`` are time-major, in the order the steps run (``xk`` already reversed
        for ``go_backwards``). Called only without a mask and without recurrent dropout, after
        ``_prepare_step``."""
        return None

    _STEP_HOOKS = ("_step", "_recurrent", "_gate", "_prepare_step")

    def _hooks_of(self, owner: type, *tensors: Any) -> bool:
        """Whether the whole-sequence op may replace the loop: every step hook is still
        ``owner``'s (the class whose ``_whole_sequence`` does that class's step; a subclass or an
        instance that changes a step must run the loop, which calls it), and ``tensors`` (the op's inputs) share
        one dtype (the loop promotes mixed ones, e.g. float64 inputs to a float32 layer)."""
        cls = type(self)
        if not all(getattr(cls, name) is getattr(owner, name) and name not in vars(self) for name in self._STEP_HOOKS):
            return False  # replaced by a subclass, or on the instance
        return len({t.dtype for t in tensors if t is not None}) <= 1

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

    def _initial_states(self, states: list, batch: int, dtype: str) -> list:
        name = self._label()
        want = self._state_shape(batch)
        if not states:
            if self.stateful:
                return list(self.states)
            return [ops.zeros(want, dtype) for _ in range(self._STATES)]
        if len(states) != self._STATES:
            raise ValueError(f"{name} has {self._STATES} state tensor(s) but initial_state gave {len(states)}; "
                             f"{type(self).__name__} states are {'[h, c]' if self._STATES == 2 else '[h]'}, "
                             f"each of shape {want}.")
        states = [ops.convert_to_tensor(s, dtype) for s in states]
        for s in states:
            if tuple(s.shape) != want:
                raise ValueError(f"{name} initial state must have shape {want}, got {s.shape}.")
        return states

    def _time_mask(self, mask: Any, x: ops.Tensor) -> ops.Tensor | None:
        """The ``(batch, time)`` mask as time-major booleans shaped to broadcast over a state."""
        mask = sequence_mask(mask)
        if mask is None:
            return None
        mask = ops.convert_to_tensor(mask)
        batch, steps = x.shape[0], x.shape[1]
        if tuple(mask.shape) != (batch, steps):
            raise ValueError(f"{self._label()} needs a mask of shape (batch, time) = {(batch, steps)} for inputs "
                             f"of shape {x.shape}, got {mask.shape}.")
        if mask.dtype != "bool":
            mask = ops.not_equal(mask, 0)
        tail = (1,) * (len(self._state_shape(batch)) - 1)
        return ops.reshape(ops.transpose(mask, (1, 0)), (steps, batch) + tail)

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        if isinstance(inputs, (list, tuple)):
            x, states = inputs[0], list(inputs[1:])
        else:
            x, states = inputs, []
        x = ops.convert_to_tensor(x)
        self._check_sequence(x)
        batch, steps = x.shape[0], x.shape[1]
        if steps == 0:
            raise ValueError(f"{self._label()} got a sequence with 0 time steps (shape {x.shape}).")
        if self.stateful and batch != self.states[0].shape[0]:
            fixed = self.states[0].shape[0]
            raise ValueError(f"{self._label()} is stateful with a fixed batch size of {fixed}, but got a batch of "
                             f"{batch}; feed batches of exactly {fixed} samples (batch_size={fixed} and a sample "
                             f"count divisible by {fixed}).")
        states = self._initial_states(states, batch, x.dtype)
        time_mask = self._time_mask(mask, x)

        # Dropout masks are drawn once per call, so every time step of a sequence drops the same units.
        if training and self.dropout > 0.0:
            x = ops.multiply(x, ops.expand_dims(self._dropout_mask((batch,) + tuple(x.shape[2:]), self.dropout,
                                                                   x.dtype), 1))
        rec_mask = None
        if training and self.recurrent_dropout > 0.0:
            rec_mask = self._dropout_mask(self._state_shape(batch), self.recurrent_dropout, x.dtype)

        xk = self._project_inputs(x)
        self._prepare_step()
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs = []
        out = None
        fused = None
        if time_mask is None and rec_mask is None:  # one op over the whole sequence, where the layer has one
            fused = self._whole_sequence(ops.getitem(xk, slice(None, None, -1)) if self.go_backwards else xk, states)
        if fused is not None:
            hs, states = fused  # hs: time-major, in the order the steps ran
            out = states[0]
        elif time_mask is None:
            for t in order:
                out, states = self._step(ops.getitem(xk, t), states, rec_mask)
                if self.return_sequences:
                    outputs.append(out)
        else:
            # Keras: a masked step keeps the states and repeats the previous output (zeros before
            # the first step), or outputs zeros with zero_output_for_mask (used for sequences only).
            previous = zeros = ops.zeros(self._state_shape(batch), x.dtype)
            zero_fill = self.zero_output_for_mask and self.return_sequences  # Keras: sequences only
            for t in order:
                step_out, new_states = self._step(ops.getitem(xk, t), states, rec_mask)
                keep = ops.getitem(time_mask, t)
                states = [ops.where(keep, new, old) for new, old in zip(new_states, states)]
                out = previous = ops.where(keep, step_out, zeros if zero_fill else previous)
                if self.return_sequences:
                    outputs.append(out)
        if self.stateful:
            # Raw values: the next batch must not keep this batch's graph alive. A replayed step
            # would not run this assignment, so a step with a stateful layer is never replayed.
            replay.refuse(f"{self._label()} is stateful: its state is kept in Python between batches")
            self.states = [ops.stop_gradient(s) for s in states]
        if not self.return_sequences:
            output = out
        else:
            output = ops.transpose(hs, (1, 0, 2)) if fused is not None else ops.stack(outputs, axis=1)
        if self.output_regularizer is not None:
            self._add_call_loss(ops.divide(self.output_regularizer(output), float(max(batch, 1))))
        if self.return_state:
            return [output] + list(states)
        return output

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The input mask with ``return_sequences`` (else ``None``), plus ``None`` per state with ``return_state``."""
        out = sequence_mask(mask) if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * self._STATES
        return out

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = self._sequence_shape(input_shape)
        batch = shape[0]
        step = tuple(self._step_output_shape(shape))
        out = (batch, shape[1]) + step if self.return_sequences else (batch,) + step
        if self.return_state:
            return [out] + [(batch,) + step] * self._STATES
        return out

    # --- stateful ------------------------------------------------------------------------
    def reset_states(self, states: Any = None) -> None:
        """Set the carried states of a stateful layer to zeros, or to ``states`` (one array per
        state, each of the state's shape). Does nothing on a layer that is not stateful (Keras 3)."""
        name = self._label()
        if not self.stateful:
            if states is not None:
                raise ValueError(f"{name} is not stateful, so it has no states to set; create it with stateful=True.")
            return
        if self.states is None:
            if states is not None:
                raise ValueError(f"{name} is not built yet, so its states cannot be set; build the model or call "
                                 "the layer on a batch first.")
            return
        if states is None:
            self.states = [ops.zeros(s.shape, s.dtype) for s in self.states]
            return
        values = list(states) if isinstance(states, (list, tuple)) else [states]
        if len(values) != self._STATES:
            raise ValueError(f"{name} has {self._STATES} state tensor(s) but reset_states got {len(values)}.")
        new = [ops.stop_gradient(ops.convert_to_tensor(v, old.dtype)) for v, old in zip(values, self.states)]
        for value, old in zip(new, self.states):
            if tuple(value.shape) != tuple(old.shape):
                raise ValueError(f"{name} states have shape {tuple(old.shape)}, but reset_states got {value.shape}.")
        self.states = new

    def reset_state(self, states: Any = None) -> None:
        """Keras 3 spelling of ``reset_states``."""
        self.reset_states(states)

    # --- config --------------------------------------------------------------------------
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
            "zero_output_for_mask": self.zero_output_for_mask,
        })
        return config
