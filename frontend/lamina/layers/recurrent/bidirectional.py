"""``Bidirectional``: runs a recurrent layer forwards and a copy of it backwards, and merges them."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..layer import Layer
from ..wrappers.wrapper import Wrapper
from .rnn import BaseRNN, sequence_mask

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _reverse_time(x: ops.Tensor) -> ops.Tensor:
    return ops.getitem(x, (slice(None), slice(None, None, -1)))


class Bidirectional(Wrapper):
    """Bidirectional wrapper for ``SimpleRNN``, ``LSTM``, ``GRU`` and ``ConvLSTM2D``.

    As in Keras, ``layer`` is a template: the forward layer is a new layer from its config (named
    ``forward_<name>``, fresh weights), and so is the backward layer (``backward_<name>``,
    ``go_backwards`` flipped) unless ``backward_layer`` is given. With ``return_sequences`` the backward outputs
    are turned back into forward time order before merging, so step ``t`` of the result sees the
    whole sequence.

    With a mask both directions skip the masked steps; with ``return_sequences`` both inner layers
    output zeros there (Keras forces ``zero_output_for_mask`` on them), so a padded step of the
    merged sequence is zeros whichever direction it came from.

    Args:
        layer: the recurrent layer to run forwards.
        merge_mode: ``"concat"`` (default; features ``2 * units``), ``"sum"``, ``"mul"``, ``"ave"``,
            or ``None`` (return ``[forward_output, backward_output]``).
        backward_layer: optional recurrent layer for the backward direction (its
            ``return_sequences`` / ``return_state`` / ``stateful`` must match ``layer``'s).

    Call arguments: ``inputs``; ``mask`` (boolean ``(batch, time)``, given to both directions);
    ``training``; ``initial_state``: the forward layer's states followed by the backward layer's
    (e.g. ``[h_f, c_f, h_b, c_b]`` for LSTM).

    Input shape: the wrapped layer's, e.g. ``(batch, time, features)``.
    Output shape: the wrapped layer's with the last axis doubled for ``"concat"``; a list of the
    two outputs for ``merge_mode=None``; with ``return_state``
    ``[output(s)..., *forward_states, *backward_states]``.

    Stateful wrapped layers: ``reset_states()`` resets both directions.

    Weights: the forward layer's, then the backward layer's.

    Example:
        >>> model.add(Bidirectional(LSTM(64), input_shape=(28, 28)))   # -> (None, 128)
    """

    def __init__(self, layer: Layer, merge_mode: str | None = "concat", backward_layer: Layer | None = None,
                 weights: Any = None, **kwargs: Any):
        if not isinstance(layer, BaseRNN):
            raise ValueError(f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU, ConvLSTM2D), got "
                             f"{layer!r}.")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional merge_mode must be one of {list(_MERGE_MODES)}, got {merge_mode!r}.")
        # Named after the wrapped layer (Keras names it "bidirectional"); kept so that weights files
        # saved with these names still load by name.
        kwargs.setdefault("name", f"bidirectional_{layer.name}")
        # As in Keras, the given layer is a template: both directions are rebuilt from its config, so
        # the user's object is never changed (zero_output_for_mask below) nor shared.
        template = layer.get_config()
        template.pop("batch_input_shape", None)
        base_name = layer.name[len("forward_"):] if layer.name.startswith("forward_") else layer.name
        layer = type(layer).from_config({**template, "name": f"forward_{base_name}"})
        super().__init__(layer, **kwargs)
        if backward_layer is None:
            backward_layer = type(layer).from_config({**template, "name": f"backward_{base_name}",
                                                      "go_backwards": not layer.go_backwards})
        elif not isinstance(backward_layer, BaseRNN):
            raise ValueError(f"Bidirectional backward_layer must be a recurrent layer, got {backward_layer!r}.")
        elif (backward_layer.return_sequences != layer.return_sequences
              or backward_layer.return_state != layer.return_state
              or backward_layer.stateful != layer.stateful
              or backward_layer.go_backwards == layer.go_backwards):
            raise ValueError("Bidirectional backward_layer must have the same return_sequences, return_state and "
                             "stateful as layer and the opposite go_backwards.")
        self.forward_layer = layer
        self.backward_layer = backward_layer
        for inner in (layer, backward_layer):
            inner.zero_output_for_mask = inner.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        self.supports_masking = True
        if weights is not None:  # Keras 2: forward weights then backward weights
            self._initial_weights = weights

    # --- weights -------------------------------------------------------------------------
    @property
    def weights(self) -> list[ops.Variable]:
        return self.forward_layer.weights + self.backward_layer.weights

    @property
    def trainable_weights(self) -> list[ops.Variable]:
        if not self.trainable:
            return []
        return self.forward_layer.trainable_weights + self.backward_layer.trainable_weights

    @property
    def non_trainable_weights(self) -> list[ops.Variable]:
        if not self.trainable:
            return self.weights
        return self.forward_layer.non_trainable_weights + self.backward_layer.non_trainable_weights

    trainable_variables = trainable_weights
    variables = weights

    @property
    def losses(self) -> list[ops.Tensor]:
        return list(Layer.losses.fget(self)) + self.forward_layer.losses + self.backward_layer.losses

    # --- calling -------------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        shape = BaseRNN._sequence_shape(input_shape)
        for layer in (self.forward_layer, self.backward_layer):
            if not layer.built:
                layer.build(shape)
                layer.built = True
        self.built = True

    def __call__(self, inputs: Any, training: bool | None = None, initial_state: Any = None, **kwargs: Any) -> Any:
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            inputs = [inputs] + states
        return super().__call__(inputs, training=training, **kwargs)

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        if isinstance(inputs, (list, tuple)):
            x, states = inputs[0], list(inputs[1:])
        else:
            x, states = inputs, []
        n_f, n_b = self.forward_layer._STATES, self.backward_layer._STATES
        if states and len(states) != n_f + n_b:
            raise ValueError(f"Layer {self.name!r} (Bidirectional) takes {n_f + n_b} initial states (forward then "
                             f"backward), got {len(states)}.")
        kwargs = {} if mask is None else {"mask": mask}
        fw = self.forward_layer(x, training=training, initial_state=states[:n_f] or None, **kwargs)
        bw = self.backward_layer(x, training=training, initial_state=states[n_f:] or None, **kwargs)
        fw_states = bw_states = []
        if self.return_state:
            fw, fw_states = fw[0], fw[1:]
            bw, bw_states = bw[0], bw[1:]
        if self.return_sequences:
            bw = _reverse_time(bw)
        if self.merge_mode == "concat":
            out = [ops.concatenate([fw, bw], axis=-1)]
        elif self.merge_mode == "sum":
            out = [ops.add(fw, bw)]
        elif self.merge_mode == "mul":
            out = [ops.multiply(fw, bw)]
        elif self.merge_mode == "ave":
            out = [ops.multiply(ops.add(fw, bw), 0.5)]
        else:
            out = [fw, bw]
        out = out + list(fw_states) + list(bw_states)
        return out[0] if len(out) == 1 else out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The input mask for each output with ``return_sequences`` (else ``None``), ``None`` per state."""
        out = sequence_mask(mask) if self.return_sequences else None
        outs = [out] if self.merge_mode is not None else [out, out]
        if self.return_state:
            outs += [None] * (self.forward_layer._STATES + self.backward_layer._STATES)
        return outs[0] if len(outs) == 1 else outs

    # --- stateful ------------------------------------------------------------------------
    @property
    def states(self) -> list | None:
        """The forward layer's carried states then the backward layer's (``None`` unless stateful)."""
        if self.forward_layer.states is None or self.backward_layer.states is None:
            return None
        return list(self.forward_layer.states) + list(self.backward_layer.states)

    def reset_states(self) -> None:
        """Reset both directions' carried states to zeros (nothing to do unless stateful)."""
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    def reset_state(self) -> None:
        """Keras 3 spelling of ``reset_states``."""
        self.reset_states()

    def compute_output_shape(self, input_shape: Any) -> Any:
        fw = self.forward_layer.compute_output_shape(input_shape)
        bw = self.backward_layer.compute_output_shape(input_shape)
        fw_states = bw_states = []
        if self.return_state:
            fw, fw_states = fw[0], fw[1:]
            bw, bw_states = bw[0], bw[1:]
        if self.merge_mode == "concat":
            out = [tuple(fw[:-1]) + (fw[-1] + bw[-1],)]
        elif self.merge_mode is None:
            out = [tuple(fw), tuple(bw)]
        else:
            out = [tuple(fw)]
        out = out + list(fw_states) + list(bw_states)
        return out[0] if len(out) == 1 else out

    # --- config --------------------------------------------------------------------------
    def get_config(self) -> dict:
        from .. import serialize
        config = super().get_config()
        config["merge_mode"] = self.merge_mode
        config["backward_layer"] = serialize(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Bidirectional":
        from .. import deserialize
        from . import GRU, LSTM, ConvLSTM2D, SimpleRNN
        known = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU, "ConvLSTM2D": ConvLSTM2D}
        known.update(custom_objects or {})
        config = dict(config)
        specs = {k: config.pop(k) for k in ("layer", "backward_layer") if k in config}
        built = {k: v if isinstance(v, Layer) else deserialize(v, custom_objects=known) for k, v in specs.items()}
        return cls(built["layer"], backward_layer=built.get("backward_layer"), **config)
