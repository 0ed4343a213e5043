"""Global max pooling layers (1-D, 2-D, 3-D) and their Keras short aliases."""
from .base_pooling import global_pooling_class

GlobalMaxPooling1D = GlobalMaxPool1D = global_pooling_class("GlobalMaxPooling1D", 1, "max")
GlobalMaxPooling2D = GlobalMaxPool2D = global_pooling_class("GlobalMaxPooling2D", 2, "max")
GlobalMaxPooling3D = GlobalMaxPool3D = global_pooling_class("GlobalMaxPooling3D", 3, "max")
