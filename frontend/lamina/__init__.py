"""Lamina: a Keras-like deep-learning library over an explicit backend protocol.

``import lamina`` gives the Keras module layout: ``lamina.layers``, ``lamina.models``,
``lamina.optimizers``, ``lamina.losses``, ``lamina.metrics``, ``lamina.callbacks``,
``lamina.datasets``, ``lamina.utils``, ``lamina.backend`` (Keras 2 facade) and ``lamina.ops``.
"""
__version__ = "0.1.0"

from . import (activations, backend, backends, callbacks, constraints, datasets, initializers,  # noqa: E402
               layers, losses, metrics, models, objectives, ops, optimizers, preprocessing, regularizers, saving,
               utils, wrappers)
from .layers import Input  # noqa: E402
from .models import Model, Sequential  # noqa: E402

__all__ = ["Input", "Model", "Sequential", "activations", "backend", "backends", "callbacks", "constraints",
           "datasets", "initializers", "layers", "losses", "metrics", "models", "objectives", "ops", "optimizers",
           "preprocessing", "regularizers", "saving", "utils", "wrappers", "__version__"]
