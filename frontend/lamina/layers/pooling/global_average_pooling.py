"""Global average pooling layers (1-D, 2-D, 3-D) and their Keras short aliases."""
from .base_pooling import global_pooling_class

GlobalAveragePooling1D = GlobalAvgPool1D = global_pooling_class("GlobalAveragePooling1D", 1, "avg")
GlobalAveragePooling2D = GlobalAvgPool2D = global_pooling_class("GlobalAveragePooling2D", 2, "avg")
GlobalAveragePooling3D = GlobalAvgPool3D = global_pooling_class("GlobalAveragePooling3D", 3, "avg")
