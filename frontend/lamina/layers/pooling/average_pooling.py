"""Average pooling layers (1-D, 2-D, 3-D) and their Keras short aliases."""
from .base_pooling import pooling_class

AveragePooling1D = AvgPool1D = pooling_class("AveragePooling1D", 1, "avg")
AveragePooling2D = AvgPool2D = pooling_class("AveragePooling2D", 2, "avg")
AveragePooling3D = AvgPool3D = pooling_class("AveragePooling3D", 3, "avg")
