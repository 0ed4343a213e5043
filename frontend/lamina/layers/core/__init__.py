"""Core layers (Keras 2 module path ``keras.layers.core``)."""
from .activation import Activation
from .activity_regularization import ActivityRegularization
from .dense import Dense
from .dropout import Dropout
from .flatten import Flatten
from .lambda_layer import Lambda
from .masking import Masking
from .permute import Permute
from .repeat_vector import RepeatVector
from .reshape import Reshape
from ..regularization import SpatialDropout1D, SpatialDropout2D, SpatialDropout3D  # Keras 2 had them in core

__all__ = ["Activation", "ActivityRegularization", "Dense", "Dropout", "Flatten", "Lambda", "Masking", "Permute",
           "RepeatVector", "Reshape", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"]
