"""``lamina.ops``: the differentiable primitives (the equivalent of ``keras.ops``)."""
from .core import *  # noqa: F401,F403
from .core import (abs, add, argmax, argmin, broadcast_to, cast, clip, concatenate, convert_to_tensor,  # noqa: F401
                   cos, divide, dot, equal, erf, exp, expand_dims, expm1, floor, full, getitem, greater,
                   greater_equal, isfinite, less, less_equal, log, log1p, logical_and, logical_not,
                   logical_or, logsumexp, matmul, max, maximum, mean, min, minimum, multiply, negative,
                   not_equal, one_hot, ones, ones_like, pad, power, prod, reshape, round, sign, sin,
                   sqrt, square, squeeze, stack, std, stop_gradient, subtract, sum, take, transpose,
                   unbroadcast, var, where, zeros, zeros_like)
from .conv import average_pool, conv, conv_transpose, depthwise_conv, max_pool, separable_conv  # noqa: F401
from .nn import (DENSE_ACTIVATIONS, categorical_crossentropy, dense, dropout, elu, gelu, gru_sequence, hard_sigmoid, leaky_relu, log_softmax, lstm_cell, lstm_sequence, relu, selu, sigmoid, simple_rnn_sequence,  # noqa: F401
                 silu, softmax, softplus, softsign, swish, tanh)
from .random import SeedGenerator, random_normal, random_uniform, set_random_seed  # noqa: F401
from .tape import B as backend_object  # noqa: F401
from .tape import GradientTape, Tensor, Variable  # noqa: F401


def convert_to_numpy(x):
    """The value of ``x`` as a host NumPy array."""
    return convert_to_tensor(x).numpy()
