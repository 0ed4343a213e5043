"""Max pooling layers (1-D, 2-D, 3-D), global max pooling, and their Keras short aliases."""
from .base_pooling import pooling_class

MaxPooling1D = MaxPool1D = pooling_class("MaxPooling1D", 1, "max")
MaxPooling2D = MaxPool2D = pooling_class("MaxPooling2D", 2, "max")
MaxPooling3D = MaxPool3D = pooling_class("MaxPooling3D", 3, "max")
