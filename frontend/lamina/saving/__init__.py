"""``lamina.saving``: saving and loading models and weights, and custom-object registration.

``save_model``/``load_model`` write and read one ``.lamina`` zip file (architecture, weights,
compile arguments, optimizer state); ``save_weights``/``load_weights`` handle weights only
(``.npz``, or Keras 2's HDF5 layout with h5py); see docs/saving.md.
"""
from .object_registration import (CustomObjectScope, custom_object_scope, get_custom_objects, get_registered_object,
                                  register_keras_serializable, register_lamina_serializable)
from .saving_api import load_model, load_weights, model_from_json, model_to_json, save_model, save_weights

__all__ = ["CustomObjectScope", "custom_object_scope", "get_custom_objects", "get_registered_object", "load_model",
           "load_weights", "model_from_json", "model_to_json", "register_keras_serializable",
           "register_lamina_serializable", "save_model", "save_weights"]
