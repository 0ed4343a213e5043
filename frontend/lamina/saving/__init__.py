"""``lamina.saving``: custom-object registration (and, with the Model API, saving and loading)."""
from .object_registration import (custom_object_scope, get_registered_object, register_keras_serializable,
                                  register_lamina_serializable)

__all__ = ["custom_object_scope", "get_registered_object", "register_keras_serializable",
           "register_lamina_serializable"]
