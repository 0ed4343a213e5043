"""``Sequence``: Keras' base class for indexed batch sources (``keras.utils.Sequence``)."""
from __future__ import annotations

from typing import Any


class Sequence:
    """Subclass it and implement ``__len__`` (batches per epoch) and ``__getitem__(i)`` (batch
    ``i`` as ``(x, y)`` or ``(x, y, sample_weight)``); ``on_epoch_end`` runs after each epoch.
    ``fit`` visits the batches in a shuffled order when ``shuffle=True``.

    Example:
        >>> class Batches(Sequence):
        ...     def __len__(self): return 100
        ...     def __getitem__(self, i): return x[i * 32:(i + 1) * 32], y[i * 32:(i + 1) * 32]
        >>> model.fit(Batches(), epochs=3)
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError

    def on_epoch_end(self) -> None:
        pass

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]
