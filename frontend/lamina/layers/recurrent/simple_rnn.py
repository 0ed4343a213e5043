"""``SimpleRNN``: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``."""
from __future__ import annotations

from typing import Any

from ... import activations, ops
from .rnn import BaseRNN


class SimpleRNN(BaseRNN):
    """Fully connected recurrent layer whose output is fed back as the next step's state.

    Args:
        units: size of the output and state.
        activation: default ``"tanh"``.
        use_bias: default True.
        kernel_initializer / recurrent_initializer / bias_initializer: defaults
            ``"glorot_uniform"`` / ``"orthogonal"`` / ``"zeros"``.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: as in Keras.
        dropout: fraction of the input features dropped (one mask per sequence) while training.
        recurrent_dropout: fraction of the state units dropped (one mask per sequence).
        seed: seed of the dropout masks' Philox stream.
        return_sequences: output every step ``(batch, time, units)`` instead of the last ``(batch, units)``.
        return_state: also return the final state: ``[output, h]``.
        go_backwards: read the sequence (and its mask) from the last step to the first
            (sequences come out in that processing order, as in Keras).
        stateful: carry the last states of each batch over as the initial states of the next
            (sample ``i`` to sample ``i``); needs a fixed batch size (``batch_input_shape`` or
            ``batch_size=`` on the first layer, ``Input(batch_size=...)``). ``reset_states()``
            sets them back to zeros.
        zero_output_for_mask: with ``return_sequences``, output zeros at masked steps instead of
            repeating the previous output (default False, as Keras).

    Call arguments: ``inputs``; ``mask``: boolean ``(batch, time)``, False at padding (usually
    propagated from ``Embedding(mask_zero=True)`` or ``Masking``): a masked step keeps the state
    and repeats the previous output; ``training``; ``initial_state=h0`` of shape ``(batch, units)``.

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, units)``, or ``(batch, time, units)`` with ``return_sequences``; with
    ``return_state`` the list ``[output, h]``.

    Weights: ``kernel (input_dim, units)``, ``recurrent_kernel (units, units)``, ``bias (units,)``.

    Example:
        >>> model.add(SimpleRNN(32, input_shape=(10, 8)))   # (None, 10, 8) -> (None, 32)
        >>> model = Sequential([Embedding(1000, 16, mask_zero=True), SimpleRNN(8)])   # index 0 = padding, skipped
    """

    _GATES = 1
    _STATES = 1

    def __init__(self, units: int | None = None, activation: Any = "tanh", **kwargs: Any):
        kwargs.pop("recurrent_activation", None)  # SimpleRNN has none
        super().__init__(units, activation=activation, **kwargs)

    def _step(self, xk_t, states, rec_mask):
        h = states[0]
        if rec_mask is not None:
            h = ops.multiply(h, rec_mask)
        h = self.activation(ops.add(xk_t, ops.matmul(h, self.recurrent_kernel)))
        return h, [h]

    def _whole_sequence(self, xk, states):
        if not (self.activation is activations.tanh and self._hooks_of(SimpleRNN, xk, states[0], self.recurrent_kernel)):
            return None
        hs, h = ops.simple_rnn_sequence(xk, states[0], self.recurrent_kernel)
        return hs, [h]

    def get_config(self) -> dict:
        config = super().get_config()
        del config["recurrent_activation"]
        return config
