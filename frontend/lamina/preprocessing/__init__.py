"""``lamina.preprocessing``: Keras 2's ``keras.preprocessing`` paths for what Lamina offers
(``sequence.pad_sequences``)."""
from . import sequence

__all__ = ["sequence"]
