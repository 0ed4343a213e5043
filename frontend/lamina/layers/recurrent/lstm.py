"""``LSTM``: the long short-term memory layer (Hochreiter & Schmidhuber 1997), Keras' formulation."""
from __future__ import annotations

from typing import Any

from ... import activations, initializers, ops
from .rnn import BaseRNN


class _UnitForgetBias(initializers.Initializer):
    """``bias_initializer`` for the i and c, o blocks, ones for the forget block (not serialised:
    the layer rebuilds it from ``unit_forget_bias``)."""

    def __init__(self, base: Any, units: int):
        self.base, self.units = base, units

    def __call__(self, shape, dtype=None):
        u = self.units
        parts = [ops.convert_to_tensor(self.base((u,), dtype), dtype), ops.ones((u,), dtype),
                 ops.convert_to_tensor(self.base((2 * u,), dtype), dtype)]
        return ops.concatenate(parts, axis=0)


class LSTMGates:
    """The LSTM cell shared by ``LSTM`` and ``ConvLSTM2D`` (mixed in before ``BaseRNN``): the gate
    math of one step, written against the ``_recurrent`` / ``_gate`` hooks, so it holds for
    matrix products and for convolutions alike; and the unit forget bias."""

    _GATES = 4
    _STATES = 2
    unit_forget_bias: bool = True

    def _bias_init(self) -> Any:
        if self.unit_forget_bias:
            return _UnitForgetBias(self.bias_initializer, self.units)
        return self.bias_initializer

    def _step(self, xk_t, states, rec_mask):
        h, c = states
        if rec_mask is not None:
            h = ops.multiply(h, rec_mask)
        z = ops.add(xk_t, self._recurrent(h))
        act, rec = self.activation, self.recurrent_activation
        if act is activations.tanh and rec is activations.sigmoid:  # Keras' defaults: the fused cell
            h, c = ops.lstm_cell(z, c, axis=len(self._gate_keys[0]) - 1)
            return h, [h, c]
        i = rec(self._gate(z, 0))
        f = rec(self._gate(z, 1))
        g = act(self._gate(z, 2))
        o = rec(self._gate(z, 3))
        c = ops.add(ops.multiply(f, c), ops.multiply(i, g))
        h = ops.multiply(o, act(c))
        return h, [h, c]


class LSTM(LSTMGates, BaseRNN):
    """Long short-term memory layer.

    Per step, with ``z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias`` split into the blocks
    i, f, c, o (Keras' order)::

        i = recurrent_activation(z_i)   f = recurrent_activation(z_f)   o = recurrent_activation(z_o)
        c_t = f * c_{t-1} + i * activation(z_c)
        h_t = o * activation(c_t)

    Args:
        units: size of the output and of both states.
        activation: default ``"tanh"``.
        recurrent_activation: default ``"sigmoid"`` (Keras 3; Keras 2 used ``"hard_sigmoid"`` —
            pass it to reproduce Keras 2 models; Keras 1 name ``inner_activation``).
        unit_forget_bias: initialise the forget block of the bias to ones (default True).
        use_bias, initializers, regularizers, constraints, dropout, recurrent_dropout, seed,
        return_sequences, return_state, go_backwards, stateful, zero_output_for_mask: as in ``SimpleRNN``.

    Call arguments: ``inputs``; ``mask`` (boolean ``(batch, time)``, usually propagated from
    ``Embedding(mask_zero=True)`` or ``Masking``); ``training``; ``initial_state=[h0, c0]``, each
    ``(batch, units)``.

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, units)``, or ``(batch, time, units)`` with ``return_sequences``;
    with ``return_state=True`` the layer returns ``[output, h, c]`` (states ``(batch, units)``).

    Weights (Keras layout, so ``set_weights`` takes Keras' arrays): ``kernel (input_dim, 4 * units)``,
    ``recurrent_kernel (units, 4 * units)``, ``bias (4 * units,)``.

    Example:
        >>> model.add(LSTM(128, input_shape=(28, 28)))   # (None, 28, 28) -> (None, 128)
        >>> model.add(LSTM(16, stateful=True, batch_input_shape=(8, 10, 3)))   # carries states between batches
    """

    def __init__(self, units: int | None = None, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 unit_forget_bias: bool = True, **kwargs: Any):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _whole_sequence(self, xk, states):
        # Only Keras' cell itself: default activations, and no hook that changes a step.
        if not (self.activation is activations.tanh and self.recurrent_activation is activations.sigmoid
                and self._hooks_of(LSTM, xk, *states, self.recurrent_kernel)):
            return None
        hs, h, c = ops.lstm_sequence(xk, states[0], states[1], self.recurrent_kernel)
        return hs, [h, c]

    def get_config(self) -> dict:
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config
