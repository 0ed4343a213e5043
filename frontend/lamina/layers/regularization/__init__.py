"""Regularisation layers that add training-time noise (Keras 2 module path ``keras.layers.noise``
for the Gaussian and alpha ones; spatial dropout lived in ``keras.layers.core``)."""
from .alpha_dropout import AlphaDropout
from .gaussian_dropout import GaussianDropout
from .gaussian_noise import GaussianNoise
from .spatial_dropout1d import SpatialDropout1D
from .spatial_dropout2d import SpatialDropout2D
from .spatial_dropout3d import SpatialDropout3D

__all__ = ["AlphaDropout", "GaussianDropout", "GaussianNoise", "SpatialDropout1D", "SpatialDropout2D",
           "SpatialDropout3D"]
