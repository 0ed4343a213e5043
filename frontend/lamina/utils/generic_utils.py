"""Keras 2's ``keras.utils.generic_utils``: custom objects and ``Progbar``."""
from ..saving.object_registration import (CustomObjectScope, custom_object_scope, get_custom_objects,
                                          register_keras_serializable)
from .progbar import Progbar

__all__ = ["CustomObjectScope", "Progbar", "custom_object_scope", "get_custom_objects", "register_keras_serializable"]
