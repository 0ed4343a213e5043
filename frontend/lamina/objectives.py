"""Keras 1 and 2.0's ``keras.objectives``: the loss functions under their old module name
(``from keras.objectives import categorical_crossentropy``). The same objects as ``lamina.losses``."""
from .losses import (KLD, MAE, MAPE, MSE, MSLE, binary_crossentropy, categorical_crossentropy, categorical_hinge,
                     cosine_similarity, deserialize, get, hinge, kl_divergence, kld, kullback_leibler_divergence,
                     log_cosh, logcosh, mae, mape, mean_absolute_error, mean_absolute_percentage_error,
                     mean_squared_error, mean_squared_logarithmic_error, mse, msle, poisson, serialize,
                     sparse_categorical_crossentropy, squared_hinge)

__all__ = ["KLD", "MAE", "MAPE", "MSE", "MSLE", "binary_crossentropy", "categorical_crossentropy", "categorical_hinge",
           "cosine_similarity", "deserialize", "get", "hinge", "kl_divergence", "kld", "kullback_leibler_divergence",
           "log_cosh", "logcosh", "mae", "mape", "mean_absolute_error", "mean_absolute_percentage_error",
           "mean_squared_error", "mean_squared_logarithmic_error", "mse", "msle", "poisson", "serialize",
           "sparse_categorical_crossentropy", "squared_hinge"]
