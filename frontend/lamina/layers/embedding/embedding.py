"""``Embedding``: turns integer indices into dense vectors (a trainable lookup table)."""
from __future__ import annotations

from typing import Any

from ... import constraints, initializers, ops, regularizers
from ...ops import replay
from ..layer import Layer


class Embedding(Layer):
    """Maps each integer index in ``[0, input_dim)`` to a row of a trainable ``(input_dim,
    output_dim)`` matrix.

    Args:
        input_dim: size of the vocabulary (largest index + 1).
        output_dim: size of each embedding vector.
        embeddings_initializer: default ``"uniform"`` (``RandomUniform(-0.05, 0.05)``; Keras 1
            name: ``init``).
        embeddings_regularizer, activity_regularizer: penalties (Keras 1 name ``W_regularizer``).
        embeddings_constraint: applied after each update (Keras 1 name ``W_constraint``).
        mask_zero: whether index 0 is padding; the output then carries the mask ``inputs != 0``,
            which later layers receive (recurrent layers skip padded steps, the loss ignores
            them), and index 0 must stay free (``input_dim`` = vocabulary size + 1).
        input_length: (Keras 2) length of the input sequences, a constant; when given it sets
            the input shape ``(input_length,)`` of the first layer of a ``Sequential`` model.

    Input shape: ``(batch, ...)`` of integers; floats are truncated to ``int64`` as Keras does.
    Output shape: ``(batch, ..., output_dim)``, in the layer's dtype.

    The gradient of the table is a scatter-add of the output gradient into the looked-up rows
    (dense, like Keras 3 on NumPy/JAX).

    Out-of-range indices (negative or ``>= input_dim``) raise a ``ValueError`` on backends whose
    host synchronisation is cheap (``backend.host_sync_cheap``, e.g. NumPy). On the GPU the check
    would stall the device once per call, so it is skipped there; an out-of-range index then
    follows the backend's ``take`` (CuPy wraps around), as TensorFlow's GPU kernels do not check
    either.

    Example:
        >>> model.add(Embedding(1000, 64, input_length=10))  # (batch, 10) -> (batch, 10, 64)
    """

    def __init__(self, input_dim: int | None = None, output_dim: int | None = None,
                 embeddings_initializer: Any = "uniform", embeddings_regularizer: Any = None,
                 activity_regularizer: Any = None, embeddings_constraint: Any = None,
                 mask_zero: bool = False, input_length: Any = None, **kwargs: Any):
        # Keras 1 spellings.
        embeddings_initializer = kwargs.pop("init", embeddings_initializer)
        embeddings_regularizer = kwargs.pop("W_regularizer", embeddings_regularizer)
        embeddings_constraint = kwargs.pop("W_constraint", embeddings_constraint)
        kwargs.pop("input_length", None)  # the base class would read it as a sequence length of a feature shape
        if input_length is not None and kwargs.get("input_shape") is None and kwargs.get("batch_input_shape") is None:
            kwargs["input_shape"] = tuple(input_length) if isinstance(input_length, (list, tuple)) else (input_length,)
        super().__init__(**kwargs)
        for what, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Embedding needs a positive integer {what}, got {value!r}; "
                                 "e.g. Embedding(input_dim=vocabulary_size, output_dim=64).")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.input_length = list(input_length) if isinstance(input_length, tuple) else input_length
        self.embeddings = None

    def build(self, input_shape: tuple) -> None:
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.built = True

    def _indices(self, inputs: Any) -> ops.Tensor:
        inputs = ops.convert_to_tensor(inputs)
        if not inputs.dtype.startswith(("int", "uint")):
            inputs = ops.cast(inputs, "int64")
        return inputs

    def call(self, inputs: Any) -> ops.Tensor:
        indices = self._indices(inputs)
        if ops.backend_object().host_sync_cheap and indices.ndim and all(indices.shape):
            replay.check(self._check_indices, indices.value)  # replayed steps check their batch too
        return ops.take(self.embeddings, indices, axis=0)

    def _check_indices(self, indices: Any) -> None:
        be = ops.backend_object()
        low, high = int(be.to_numpy(be.min(indices))), int(be.to_numpy(be.max(indices)))
        if low < 0 or high >= self.input_dim:
            bad = low if low < 0 else high
            raise ValueError(f"Layer {self.name!r} (Embedding) got index {bad}, outside [0, {self.input_dim}) "
                             f"(input_dim={self.input_dim}); raise input_dim to the vocabulary size + 1 "
                             "or fix the data.")

    def compute_mask(self, inputs: Any, mask: Any = None) -> ops.Tensor | None:
        """``inputs != 0`` (boolean, shape of ``inputs``) when ``mask_zero``, else ``None``."""
        if not self.mask_zero:
            return None
        return ops.not_equal(self._indices(inputs), 0)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim, "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero, "input_length": self.input_length,
        })
        return config
