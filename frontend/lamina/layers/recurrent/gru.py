"""``GRU``: the gated recurrent unit (Cho et al. 2014), both of Keras' formulations."""
from __future__ import annotations

from typing import Any

from ... import activations, ops
from .rnn import BaseRNN


class GRU(BaseRNN):
    """Gated recurrent unit.

    Blocks z (update), r (reset), h (candidate), in Keras' order. With ``reset_after=True``
    (Keras 3 and cuDNN; the default), ``x_* = x_t @ kernel_* + input_bias_*`` and
    ``u_* = h_{t-1} @ recurrent_kernel_* + recurrent_bias_*``::

        z = recurrent_activation(x_z + u_z)     r = recurrent_activation(x_r + u_r)
        hh = activation(x_h + r * u_h)
        h_t = z * h_{t-1} + (1 - z) * hh

    With ``reset_after=False`` (Keras 2's default) the reset gate applies before the product:
    ``hh = activation(x_h + (r * h_{t-1}) @ recurrent_kernel_h)`` and there is one bias.

    Args:
        units: size of the output and state.
        activation: default ``"tanh"``; recurrent_activation: default ``"sigmoid"`` (Keras 2 used
            ``"hard_sigmoid"``).
        reset_after: see above (default True).
        use_bias, initializers, regularizers, constraints, dropout, recurrent_dropout, seed,
        return_sequences, return_state, go_backwards, stateful, zero_output_for_mask: as in ``SimpleRNN``.

    Call arguments: ``inputs``; ``mask`` (boolean ``(batch, time)``; see ``SimpleRNN``);
    ``training``; ``initial_state=h0`` of shape ``(batch, units)``.

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, units)``, or ``(batch, time, units)`` with ``return_sequences``; with
    ``return_state`` the list ``[output, h]``.

    Weights (Keras layout): ``kernel (input_dim, 3 * units)``, ``recurrent_kernel (units, 3 * units)``,
    ``bias (2, 3 * units)`` (row 0 input bias, row 1 recurrent bias) with ``reset_after``, else ``(3 * units,)``.

    Example:
        >>> model.add(GRU(64, return_sequences=True, input_shape=(None, 16)))
    """

    _GATES = 3
    _STATES = 1

    def __init__(self, units: int | None = None, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 reset_after: bool = True, **kwargs: Any):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self) -> Any:
        if self.bias is None:
            return None
        return ops.getitem(self.bias, 0) if self.reset_after else self.bias

    def _prepare_step(self) -> None:
        u = self.units
        if self.reset_after:
            self._recurrent_bias = ops.getitem(self.bias, 1) if self.bias is not None else None
        else:
            self._kernel_zr = ops.getitem(self.recurrent_kernel, (slice(None), slice(0, 2 * u)))
            self._kernel_h = ops.getitem(self.recurrent_kernel, (slice(None), slice(2 * u, 3 * u)))

    def _step(self, xk_t, states, rec_mask):
        h = states[0]
        if rec_mask is not None:
            h = ops.multiply(h, rec_mask)  # as in Keras 3, the masked state also carries through z
        act, rec = self.activation, self.recurrent_activation
        if self.reset_after:
            inner = ops.matmul(h, self.recurrent_kernel)
            if self._recurrent_bias is not None:
                inner = ops.add(inner, self._recurrent_bias)
            z = rec(ops.add(self._gate(xk_t, 0), self._gate(inner, 0)))
            r = rec(ops.add(self._gate(xk_t, 1), self._gate(inner, 1)))
            hh = act(ops.add(self._gate(xk_t, 2), ops.multiply(r, self._gate(inner, 2))))
        else:
            inner = ops.matmul(h, self._kernel_zr)
            z = rec(ops.add(self._gate(xk_t, 0), self._gate(inner, 0)))
            r = rec(ops.add(self._gate(xk_t, 1), self._gate(inner, 1)))
            hh = act(ops.add(self._gate(xk_t, 2), ops.matmul(ops.multiply(r, h), self._kernel_h)))
        h = ops.add(ops.multiply(z, h), ops.multiply(ops.subtract(1.0, z), hh))
        return h, [h]

    def _whole_sequence(self, xk, states):
        # Keras 3's cell itself (reset_after, default activations, no subclass hook changing a step)
        if not (self.reset_after and self.activation is activations.tanh
                and self.recurrent_activation is activations.sigmoid
                and self._hooks_of(GRU, xk, states[0], self.recurrent_kernel, self._recurrent_bias)):
            return None
        hs, h = ops.gru_sequence(xk, states[0], self.recurrent_kernel, self._recurrent_bias)
        return hs, [h]

    def get_config(self) -> dict:
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config
