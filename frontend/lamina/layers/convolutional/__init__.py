"""Convolution layers and the spatial reshaping layers (UpSampling, ZeroPadding, Cropping); also
the Keras 2 module path ``keras.layers.convolutional`` (which held the pooling layers' aliases
too, re-exported here)."""
from .conv1d import Conv1D, Convolution1D
from .conv2d import Conv2D, Convolution2D
from .conv2d_transpose import Conv1DTranspose, Conv2DTranspose, Conv3DTranspose, Deconvolution2D, Deconvolution3D
from .conv3d import Conv3D, Convolution3D
from .cropping import Cropping1D, Cropping2D, Cropping3D
from .depthwise_conv2d import DepthwiseConv1D, DepthwiseConv2D
from .separable_conv2d import SeparableConv1D, SeparableConv2D, SeparableConvolution1D, SeparableConvolution2D
from .up_sampling import UpSampling1D, UpSampling2D, UpSampling3D
from .zero_padding import ZeroPadding1D, ZeroPadding2D, ZeroPadding3D
from ..pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, MaxPooling1D,  # noqa: E402
                       MaxPooling2D, MaxPooling3D)  # Keras 2 imported them here too

__all__ = ["Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D", "Conv3DTranspose", "Convolution1D",
           "Convolution2D", "Convolution3D", "Cropping1D", "Cropping2D", "Cropping3D", "Deconvolution2D",
           "Deconvolution3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
           "SeparableConvolution1D", "SeparableConvolution2D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
           "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
           "MaxPooling1D", "MaxPooling2D", "MaxPooling3D"]
