"""``lamina.layers``: Keras layers by name."""
from typing import Any

from .activation import ELU, LeakyReLU, PReLU, ReLU, Softmax, ThresholdedReLU
from .convolutional import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose, Convolution1D,
                            Convolution2D, Convolution3D, Cropping1D, Cropping2D, Cropping3D, Deconvolution2D,
                            Deconvolution3D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D,
                            SeparableConvolution1D, SeparableConvolution2D, UpSampling1D, UpSampling2D, UpSampling3D,
                            ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
from .core import (Activation, ActivityRegularization, Dense, Dropout, Flatten, Lambda, Masking, Permute,
                   RepeatVector, Reshape)
from .embedding import Embedding
from .input_layer import Input, InputLayer
from .layer import Layer
from .normalization import BatchNormalization, LayerNormalization
from .preprocessing import Rescaling
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool1D, AvgPool2D, AvgPool3D,
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalAvgPool1D,
                      GlobalAvgPool2D, GlobalAvgPool3D, GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPool1D, MaxPool2D, MaxPool3D,
                      MaxPooling1D, MaxPooling2D, MaxPooling3D)
from .recurrent import GRU, LSTM, Bidirectional, ConvLSTM2D, SimpleRNN
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average,
                      concatenate, dot, maximum, minimum, multiply, subtract)
from .regularization import (AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D,
                             SpatialDropout3D)
from .symbolic import KerasTensor
from .wrappers import TimeDistributed, Wrapper
from . import (advanced_activations, convolutional, convolutional_recurrent, embeddings, merge,  # noqa: E402,F401
               noise, normalization, pooling, recurrent, wrappers)  # Keras 2 module paths

__all__ = ["Activation", "ActivityRegularization", "Add", "AlphaDropout", "Average", "BatchNormalization",
           "Bidirectional", "ConvLSTM2D", "GRU", "LSTM", "SimpleRNN",
           "Concatenate", "Dense", "Dot", "Embedding", "LayerNormalization",
           "Dropout", "ELU", "Flatten", "GaussianDropout", "GaussianNoise", "Input", "InputLayer", "KerasTensor",
           "Lambda", "Layer", "LeakyReLU", "Masking", "Maximum", "Minimum", "Multiply", "PReLU", "Permute", "ReLU",
           "RepeatVector", "Rescaling", "Reshape", "Softmax", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
           "Subtract", "ThresholdedReLU", "TimeDistributed", "Wrapper", "add", "average", "concatenate",
           "deserialize", "dot", "get", "maximum", "minimum", "multiply", "serialize", "subtract",
           "Conv1D",
           "Conv1DTranspose",
           "Conv2D",
           "Conv2DTranspose",
           "Conv3D",
           "Conv3DTranspose",
           "Convolution1D",
           "Convolution2D",
           "Convolution3D",
           "Cropping1D",
           "Cropping2D",
           "Cropping3D",
           "Deconvolution2D",
           "Deconvolution3D",
           "DepthwiseConv1D",
           "DepthwiseConv2D",
           "SeparableConv1D",
           "SeparableConv2D",
           "SeparableConvolution1D",
           "SeparableConvolution2D",
           "UpSampling1D",
           "UpSampling2D",
           "UpSampling3D",
           "ZeroPadding1D",
           "ZeroPadding2D",
           "ZeroPadding3D",
           "AveragePooling1D",
           "AveragePooling2D",
           "AveragePooling3D",
           "AvgPool1D",
           "AvgPool2D",
           "AvgPool3D",
           "GlobalAveragePooling1D",
           "GlobalAveragePooling2D",
           "GlobalAveragePooling3D",
           "GlobalAvgPool1D",
           "GlobalAvgPool2D",
           "GlobalAvgPool3D",
           "GlobalMaxPool1D",
           "GlobalMaxPool2D",
           "GlobalMaxPool3D",
           "GlobalMaxPooling1D",
           "GlobalMaxPooling2D",
           "GlobalMaxPooling3D",
           "MaxPool1D",
           "MaxPool2D",
           "MaxPool3D",
           "MaxPooling1D",
           "MaxPooling2D",
           "MaxPooling3D",
]


def _table() -> dict:
    from .. import models
    table = {name: obj for name, obj in globals().items() if isinstance(obj, type) and issubclass(obj, Layer)}
    table.update({"Sequential": models.Sequential, "Functional": models.Functional, "Model": models.Functional})
    return table


def serialize(layer: Layer) -> dict:
    """``{"class_name": ..., "config": layer.get_config()}`` (registered custom classes by their key)."""
    from ..saving.object_registration import registered_name
    return {"class_name": registered_name(type(layer)), "config": layer.get_config()}


def get(class_name: str, custom_objects: dict | None = None) -> type:
    """The layer class called ``class_name``: custom objects and registered classes first."""
    from ..saving.object_registration import get_registered_object
    found = get_registered_object(class_name, custom_objects)
    if found is not None:
        return found
    table = _table()
    if class_name not in table:
        raise ValueError(f"Unknown layer class {class_name!r}; it is not a Lamina layer, so pass it in "
                         f"custom_objects={{'{class_name}': {class_name}}} or decorate it with "
                         "@lamina.saving.register_lamina_serializable().")
    return table[class_name]


def deserialize(spec: dict, custom_objects: dict | None = None) -> Any:
    """A new layer (or model) from ``{"class_name", "config"}``."""
    cls = get(spec["class_name"], custom_objects)
    config = dict(spec.get("config", {}))
    if hasattr(cls, "from_config"):
        import inspect
        if "custom_objects" in inspect.signature(cls.from_config).parameters:
            return cls.from_config(config, custom_objects=custom_objects)
        return cls.from_config(config)
    return cls(**config)
