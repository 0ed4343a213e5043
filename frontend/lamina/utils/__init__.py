"""``lamina.utils``: host-side helpers (``to_categorical``, ``normalize``, ``Progbar``, seeds)."""
from ..ops.random import set_random_seed
from .np_utils import normalize, to_categorical
from .padding import pad_sequences
from .progbar import Progbar
from .sequence import Sequence
from ..saving.object_registration import (CustomObjectScope, custom_object_scope, get_custom_objects,  # noqa: E402
                                          register_keras_serializable)
from . import generic_utils  # noqa: E402  (Keras 2's module path)

__all__ = ["CustomObjectScope", "Progbar", "Sequence", "custom_object_scope", "generic_utils", "get_custom_objects",
           "normalize", "pad_sequences", "register_keras_serializable", "set_random_seed", "to_categorical"]
