"""The suite covers the whole protocol and the whole of lamina.ops: adding an op without a
conformance case fails here (see 'How it grows' in DESIGN.md)."""
from __future__ import annotations

import importlib
import inspect

import lamina.ops as ops
from lamina.backends import Backend

from ._cases import PROTOCOL_COVERAGE
from .test_creation import _protocol_members

# lamina.ops name -> the conformance test(s) that check it.
OPS_COVERAGE = {
    **{n: "test_ops_forward.py::test_ops_unary + test_ops_gradients.py::test_gradient"
       for n in ("abs", "negative", "exp", "log", "log1p", "expm1", "sqrt", "square", "sin", "cos", "erf", "tanh",
                 "sigmoid", "relu", "leaky_relu", "hard_sigmoid", "softplus", "softsign", "elu", "selu", "gelu",
                 "silu", "swish")},
    **{n: "test_ops_forward.py::test_ops_unary + test_ops_gradients.py::test_piecewise_constant_ops_pass_no_gradient"
       for n in ("sign", "floor", "round")},
    "isfinite": "test_ops_forward.py::test_ops_unary",
    **{n: "test_ops_forward.py::test_ops_binary + test_ops_gradients.py::test_gradient"
       for n in ("add", "subtract", "multiply", "divide", "power", "maximum", "minimum")},
    **{n: "test_ops_forward.py::test_ops_binary" for n in ("equal", "not_equal", "greater", "greater_equal", "less",
                                                          "less_equal")},
    "logical_and": "test_ops_forward.py::test_ops_logical", "logical_or": "test_ops_forward.py::test_ops_logical",
    "logical_not": "test_ops_forward.py::test_ops_logical",
    **{n: "test_ops_forward.py::test_ops_reduction + test_ops_gradients.py::test_gradient"
       for n in ("sum", "mean", "max", "min", "prod", "var", "std", "logsumexp")},
    "argmax": "test_ops_forward.py::test_ops_argmax_argmin", "argmin": "test_ops_forward.py::test_ops_argmax_argmin",
    "matmul": "test_ops_forward.py::test_ops_matmul + test_ops_gradients.py::test_gradient",
    "dense": "test_ops_forward.py::test_ops_dense_equals_composition + test_ops_gradients.py::test_gradient",
    "lstm_cell": "test_ops_forward.py::test_ops_lstm_cell_equals_composition + test_ops_gradients.py::test_gradient",
    "lstm_sequence": "test_ops_forward.py::test_ops_lstm_sequence_equals_step_loop + test_ops_gradients.py::test_gradient",
    "gru_sequence": "test_ops_forward.py::test_ops_gru_sequence_equals_step_loop + test_ops_gradients.py::test_gradient",
    "simple_rnn_sequence": "test_ops_forward.py::test_ops_simple_rnn_sequence_equals_step_loop + test_ops_gradients.py::test_gradient",
    "DENSE_ACTIVATIONS": "test_ops_forward.py::test_ops_dense_equals_composition",
    "dot": "test_ops_forward.py::test_ops_matmul + test_ops_gradients.py::test_gradient",
    **{n: "test_ops_forward.py::test_ops_shapes + test_ops_gradients.py::test_gradient"
       for n in ("reshape", "transpose", "expand_dims", "squeeze", "broadcast_to", "concatenate", "stack", "getitem",
                 "take", "pad", "where", "clip")},
    "stop_gradient": "test_ops_forward.py::test_ops_shapes + test_ops_gradients.py::test_piecewise_constant_ops_pass_no_gradient",
    "unbroadcast": "test_ops_forward.py::test_ops_shapes",
    "cast": "test_ops_forward.py::test_ops_creation_and_conversion + test_ops_gradients.py::test_cast_gradient_returns_source_dtype",
    **{n: "test_ops_forward.py::test_ops_creation_and_conversion"
       for n in ("zeros", "ones", "full", "zeros_like", "ones_like", "convert_to_tensor", "convert_to_numpy", "one_hot",
                 "backend_object")},
    "softmax": "test_ops_forward.py::test_ops_softmax_log_softmax + test_nn.py + test_ops_gradients.py::test_gradient",
    "log_softmax": "test_ops_forward.py::test_ops_softmax_log_softmax + test_nn.py + test_ops_gradients.py::test_gradient",
    "dropout": "test_ops_forward.py::test_ops_dropout + test_ops_gradients.py::test_gradient",
    "categorical_crossentropy": "test_ops_forward.py::test_ops_categorical_crossentropy + test_ops_gradients.py::test_gradient",
    "random_uniform": "test_random.py::test_ops_random_uses_seed_and_counter",
    "random_normal": "test_random.py::test_ops_random_uses_seed_and_counter",
    "SeedGenerator": "test_random.py::test_ops_random_uses_seed_and_counter",
    "set_random_seed": "test_random.py::test_ops_set_random_seed",
    "GradientTape": "test_ops_gradients.py",
    "Variable": "test_ops_gradients.py::test_variables_are_watched_automatically",
    "Tensor": "test_ops_forward.py::test_tensor_operators",
    **{n: "test_conv.py::test_ops_forward + test_conv.py::test_ops_channels_first + test_conv.py::test_ops_gradient"
       for n in ("conv", "conv_transpose", "depthwise_conv", "separable_conv", "max_pool", "average_pool")},
}


# Helpers that leak into lamina.ops through ``from .core import *`` (core.py has no __all__):
# internal, not API, so not conformance-tested. (Reported upstream: core.py should define __all__.)
LEAKED_INTERNALS = {"B", "make"}


def _public_ops() -> set[str]:
    names = set()
    for name, value in vars(ops).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        module = getattr(value, "__module__", "") or ""
        if callable(value) and module.startswith("lamina.ops"):
            names.add(name)
    return names


def _test_exists(ref: str) -> bool:
    for part in ref.split(" + "):
        file, _, func = part.partition("::")
        module = importlib.import_module(f"{__package__}.{file.removesuffix('.py')}")
        if func and not hasattr(module, func):
            return False
    return True


def test_every_protocol_member_has_a_conformance_test():
    attrs, methods = _protocol_members()
    missing = sorted(set(attrs + methods) - set(PROTOCOL_COVERAGE))
    assert not missing, f"protocol members without a conformance case (add one to _cases.py): {missing}"
    stale = sorted(set(PROTOCOL_COVERAGE) - set(attrs + methods))
    assert not stale, f"PROTOCOL_COVERAGE names members the protocol no longer has: {stale}"
    broken = sorted(n for n, ref in PROTOCOL_COVERAGE.items() if not _test_exists(ref))
    assert not broken, f"PROTOCOL_COVERAGE points at tests that do not exist: {broken}"
    assert Backend is not None


def test_every_lamina_ops_function_has_a_conformance_test():
    missing = sorted(_public_ops() - set(OPS_COVERAGE) - LEAKED_INTERNALS)
    assert not missing, f"lamina.ops functions without a conformance test: {missing}"
    broken = sorted(n for n, ref in OPS_COVERAGE.items() if not _test_exists(ref))
    assert not broken, f"OPS_COVERAGE points at tests that do not exist: {broken}"
