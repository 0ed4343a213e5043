"""The case tables: for each op, its float64 NumPy reference, its input domain and its tolerance.

How the tolerances were chosen (``rel`` is in units of the dtype's eps relative to the exact
result; see ``_checks.Tol``):

* EXACT — ops whose result is exactly representable (negative, abs, sign, floor, round,
  maximum/minimum, comparisons, shape ops, max/min reductions): any deviation is a bug.
* ``SIMPLE`` = 4 eps — IEEE add/subtract/multiply/divide/sqrt/square are correctly rounded
  (<= 0.5 ulp <= eps/2 relative). 4 eps leaves room for a fused multiply-add or one extra
  rounding (e.g. a Python float operand rounded to float32 first) without admitting a real error.
* ``TRANSCENDENTAL`` = 8 eps — exp/log/sin/tanh… in good libraries are within 1-2 ulp (glibc,
  NumPy's SIMD float32 kernels measure <= 1.7 ulp; CUDA documents <= 2 ulp for expf/logf/sinf/
  tanhf). In float64 the float64 reference itself is off by up to ~1 ulp, so a backend at 2 ulp
  can be 3 ulp from it; 8 eps covers 3-4 ulp anywhere in the binade. Fast-math intrinsics
  (``__expf``, ~1e-6 relative) fail, which is intended: they are not float32-accurate.
* ``COMPOSITE`` = 8 eps with a larger constant for pow (``POWER`` = 16 eps: CUDA's powf is
  documented at 4 ulp, and NumPy measures ~3.3 eps relative) and sigmoid (exp + add + divide).
* Activations computed by cancellation (``1 + erf(x)`` for negative x, ``x/6 + 0.5`` near -3)
  get an absolute part scaled by the input magnitude: relative error of the result is not
  achievable there by the documented formula, absolute error ~ eps*|x| is.
* erf: the protocol states 1e-7 relative (float32) and 1e-12 (float64); that contract is tested.
* Reductions: |error| <= eps * (4 |ref| + 2 sqrt(n) * sum|terms|). A pairwise or tree sum errs by
  about log2(n) eps * sum|terms| in the worst case, a naive loop by n eps in the worst case but
  ~sqrt(n)/3 eps on random data; sqrt(n) is the statistical rule (Higham, "Accuracy and
  Stability of Numerical Algorithms", §4.2) and random inputs are used, so every sensible
  summation order passes and a wrong accumulator dtype (float16) or dropped term does not.
* matmul: per output element, the same rule with K terms |a_ik b_kj| (a dot product is a sum).
* prod: n roundings of relative size eps/2 each: 4 (n + 1) eps relative.
* logsumexp/softmax/log_softmax: bounded by the condition number of the function — a relative
  perturbation eps of every input moves logsumexp by at most eps * max|x| and softmax_i by
  p_i * eps * (|x_i| + max|x|) — plus the summation rule above.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import lamina.ops as ops

from ._checks import EXACT, Tol, eps, sqrt_n
from ._inputs import (Domain, away_from, halves, log_uniform, real, signed_log_uniform, ties,
                      with_specials, with_zeros)

FLOAT_DTYPES = ("float32", "float64")

SIMPLE = Tol(rel=4)
TRANSCENDENTAL = Tol(rel=8)
SINE = Tol(rel=8, abs=1)  # |result| <= 1: allow 1 eps absolute near the zeros of sin/cos
POWER = Tol(rel=16)
ERF = Tol(contract={"float32": 1e-7, "float64": 1e-12})


def _abs_input(x, *_):
    return np.abs(x) + 1.0


# --- float64 references -----------------------------------------------------------------------

_erf_v = np.vectorize(math.erf, otypes=[np.float64])
_erfc_v = np.vectorize(math.erfc, otypes=[np.float64])


def ref_erf(x):
    x = np.asarray(x, dtype=np.float64)
    return np.asarray(_erf_v(x)) if x.size else x.copy()


def ref_sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def ref_gelu(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (np.asarray(_erfc_v(-x / math.sqrt(2.0))) if x.size else x)


def ref_gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def ref_elu(alpha):
    return lambda x: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def ref_selu(x):
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))


def ref_logsumexp(x, axis=None, keepdims=False):
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 and axis is None:
        return np.asarray(-np.inf) if not keepdims else np.full((1,) * x.ndim, -np.inf)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else (np.squeeze(out, axis=axis) if axis is not None else out.reshape(()))


def ref_softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def ref_log_softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def mix(a: Domain, b: Domain) -> Domain:
    """Each element from ``a`` or ``b`` with equal odds."""
    return lambda rng, shape: np.where(rng.random(shape) < 0.5, a(rng, shape), b(rng, shape))


# --- element-wise cases -------------------------------------------------------------------------


@dataclass(frozen=True)
class Elementwise:
    name: str
    ref: Callable[..., Any]
    domains: tuple
    tol: Tol | None  # EXACT (None): must equal the reference bit for bit
    method: str | None = None  # backend method (None: a lamina.ops-only function)
    op: Callable[..., Any] | None = None  # lamina.ops function (None: backend-only)
    out: bool = False  # the backend method takes ``out=``
    result: str = "same"  # "same": the input dtype; "bool"
    known_bugs: dict = field(default_factory=dict)  # layout name -> reason (see Failures)

    def __post_init__(self):
        if self.method is None and self.op is None:
            raise ValueError(self.name)


def _e(name, ref, domains, tol, method="", op="", **kw):
    method = name if method == "" else method
    op = getattr(ops, name) if op == "" else op
    return Elementwise(name, ref, domains if isinstance(domains, tuple) else (domains,), tol, method, op, **kw)


_ERF_0D = ("lamina.backends.base.ArrayBackend.erf raises AttributeError on 0-d arrays: "
           "np.frompyfunc returns a Python float for 0-d input, which has no .astype")

UNARY = (
    _e("negative", np.negative, real(-5, 5), EXACT),
    _e("abs", np.abs, with_zeros(real(-5, 5)), EXACT),
    _e("sign", np.sign, with_zeros(real(-5, 5)), EXACT),
    _e("exp", np.exp, mix(real(-20, 20), signed_log_uniform(1e-8, 1)), TRANSCENDENTAL, out=True),
    _e("log", np.log, log_uniform(1e-6, 1e6), TRANSCENDENTAL),
    _e("log1p", np.log1p, mix(signed_log_uniform(1e-8, 0.5), real(-0.9, 20)), TRANSCENDENTAL),
    _e("expm1", np.expm1, mix(signed_log_uniform(1e-8, 1), real(-15, 15)), TRANSCENDENTAL),
    _e("sqrt", np.sqrt, log_uniform(1e-6, 1e6), SIMPLE),
    _e("square", np.square, real(-100, 100), SIMPLE),
    _e("sin", np.sin, real(-10, 10), SINE),
    _e("cos", np.cos, real(-10, 10), SINE),
    _e("tanh", np.tanh, mix(signed_log_uniform(1e-6, 1), real(-10, 10)), TRANSCENDENTAL, out=True),
    _e("sigmoid", ref_sigmoid, mix(real(-40, 40), signed_log_uniform(1e-6, 1)), TRANSCENDENTAL),
    _e("erf", ref_erf, mix(real(-4, 4), signed_log_uniform(1e-6, 1)), ERF,
       known_bugs={"0-d": _ERF_0D}),
    _e("floor", np.floor, halves, EXACT),
    _e("round", np.round, halves, EXACT),
    _e("isfinite", np.isfinite, with_specials(real()), EXACT, result="bool"),
)

# lamina.ops activations (compositions of backend ops with their own VJP rules).
ACTIVATIONS = (
    _e("relu", lambda x: np.maximum(x, 0.0), with_zeros(real(-3, 3)), EXACT, method=None),
    _e("leaky_relu", lambda x: np.where(x > 0, x, 0.2 * x), real(-3, 3), SIMPLE, method=None),
    _e("leaky_relu_0.1", lambda x: np.where(x > 0, x, 0.1 * x), real(-3, 3), SIMPLE, method=None,
       op=lambda x: ops.leaky_relu(x, negative_slope=0.1)),
    _e("hard_sigmoid", lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0), real(-5, 5),
       Tol(rel=4, abs=4), method=None),
    _e("softplus", lambda x: np.logaddexp(0.0, x), real(-30, 30), TRANSCENDENTAL, method=None),
    _e("softsign", lambda x: x / (1.0 + np.abs(x)), real(-10, 10), SIMPLE, method=None),
    _e("elu", ref_elu(1.0), real(-5, 5), TRANSCENDENTAL, method=None),
    _e("elu_0.5", ref_elu(0.5), real(-5, 5), TRANSCENDENTAL, method=None,
       op=lambda x: ops.elu(x, alpha=0.5)),
    _e("selu", ref_selu, real(-5, 5), TRANSCENDENTAL, method=None),
    # 1 + erf(x/sqrt2) cancels for x << 0: absolute error ~ eps*|x| is what the formula gives.
    _e("gelu", ref_gelu, real(-5, 5), Tol(rel=8, abs=4, scale=_abs_input), method=None,
       known_bugs={"0-d": _ERF_0D}),
    _e("gelu_approximate", ref_gelu_tanh, real(-5, 5), Tol(rel=8, abs=8, scale=_abs_input),
       method=None, op=lambda x: ops.gelu(x, approximate=True)),
    _e("silu", lambda x: x * ref_sigmoid(x), real(-20, 20), TRANSCENDENTAL, method=None),
    _e("swish", lambda x: x * ref_sigmoid(x), real(-20, 20), TRANSCENDENTAL, method=None),
)

_NONZERO = away_from(real(-3, 3), (0.0,), 0.25)

BINARY = (
    _e("add", np.add, (real(-5, 5), real(-5, 5)), SIMPLE, out=True),
    _e("subtract", np.subtract, (real(-5, 5), real(-5, 5)), SIMPLE, out=True),
    _e("multiply", np.multiply, (real(-5, 5), real(-5, 5)), SIMPLE, out=True),
    _e("divide", np.divide, (real(-5, 5), _NONZERO), SIMPLE, out=True),
    _e("power", np.power, (log_uniform(0.1, 10), real(-3, 3)), POWER),
    _e("maximum", np.maximum, (ties, real(-2, 2)), EXACT),
    _e("minimum", np.minimum, (ties, real(-2, 2)), EXACT),
)

_CMP = (with_specials(ties), with_specials(ties))
COMPARISONS = tuple(
    _e(n, getattr(np, n), _CMP, EXACT, result="bool")
    for n in ("equal", "not_equal", "greater", "greater_equal", "less", "less_equal")
)


# --- reductions -----------------------------------------------------------------------------


def _count(shape, axis):
    if axis is None:
        return int(np.prod(shape, dtype=np.int64))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


def sum_bound(x, axis, keepdims, ref, dtype):
    """eps * (4 |ref| + 2 sqrt(n) * sum|x|) per output element."""
    n = _count(x.shape, axis)
    s = np.sum(np.abs(x), axis=axis, keepdims=keepdims)
    return eps(dtype) * (4 * np.abs(ref) + 2 * sqrt_n(n) * s)


def mean_bound(x, axis, keepdims, ref, dtype):
    n = max(_count(x.shape, axis), 1)
    return sum_bound(x / n, axis, keepdims, ref, dtype)


def prod_bound(x, axis, keepdims, ref, dtype):
    n = _count(x.shape, axis)
    return 4 * (n + 1) * eps(dtype) * np.abs(ref)


def lse_bound(x, axis, keepdims, ref, dtype):
    n = _count(x.shape, axis)
    big = np.max(np.abs(x), axis=axis, keepdims=keepdims) if x.size else 0.0
    return 4 * eps(dtype) * (np.abs(np.where(np.isfinite(ref), ref, 0.0)) + big + sqrt_n(n))


@dataclass(frozen=True)
class Reduction:
    name: str
    ref: Callable[..., Any]  # ref(x64, axis, keepdims)
    bound: Callable[..., Any] | None  # None: exact
    domain: Domain


REDUCTIONS = (
    Reduction("sum", lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims), sum_bound, real(-3, 3)),
    Reduction("mean", lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims), mean_bound, real(-3, 3)),
    Reduction("prod", lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims), prod_bound,
              lambda rng, s: rng.uniform(0.5, 1.5, s) * rng.choice([-1.0, 1.0], s)),
    Reduction("max", lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims), None, real(-3, 3)),
    Reduction("min", lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims), None, real(-3, 3)),
    Reduction("logsumexp", ref_logsumexp, lse_bound, real(-30, 30)),
)

# (layout base shape, transpose?, slicing key, axis, keepdims) — every reduction runs on all of them.
REDUCTION_LAYOUTS = (
    ("0-d", (), False, None, None, False),
    ("vector", (17,), False, None, None, False),
    ("vector-axis0-keepdims", (17,), False, None, 0, True),
    ("long-vector", (2000,), False, None, None, False),
    ("3-d-all", (3, 4, 5), False, None, None, False),
    ("3-d-axis0", (3, 4, 5), False, None, 0, False),
    ("3-d-axis-1-keepdims", (3, 4, 5), False, None, -1, True),
    ("3-d-axes(0,2)", (3, 4, 5), False, None, (0, 2), False),
    ("3-d-axes(-1,1)-keepdims", (3, 4, 5), False, None, (-1, 1), True),
    ("transposed-axis1", (6, 5), True, None, 1, False),
    ("strided-axis0", (4, 10), False, (slice(None), slice(None, None, 2)), 0, False),
    ("reversed", (9,), False, slice(None, None, -1), None, False),
)


# --- coverage: which test checks each protocol method and each lamina.ops function -------------
# test_coverage.py fails when the protocol or lamina.ops gains a name that is not listed here,
# so adding an op without a conformance case is caught.

PROTOCOL_COVERAGE = {
    "name": "test_creation.py::test_identity_attributes",
    "host_sync_cheap": "test_creation.py::test_identity_attributes",
    "device_description": "test_creation.py::test_identity_attributes",
    "synchronize": "test_creation.py::test_identity_attributes",
    "is_array": "test_creation.py::test_is_array",
    "asarray": "test_creation.py::test_asarray",
    "to_numpy": "test_creation.py::test_to_numpy",
    "zeros": "test_creation.py::test_filled",
    "ones": "test_creation.py::test_filled",
    "full": "test_creation.py::test_filled",
    "empty": "test_creation.py::test_empty",
    "arange": "test_creation.py::test_arange",
    "copy": "test_creation.py::test_copy",
    "cast": "test_creation.py::test_cast",
    "dtype_name": "test_creation.py::test_filled",
    **{c.method: "test_elementwise.py::test_unary" for c in UNARY},
    **{c.method: "test_elementwise.py::test_binary" for c in BINARY},
    **{c.method: "test_elementwise.py::test_comparison" for c in COMPARISONS},
    "clip": "test_elementwise.py::test_clip",
    "where": "test_elementwise.py::test_where",
    "logical_and": "test_elementwise.py::test_logical",
    "logical_or": "test_elementwise.py::test_logical",
    "logical_not": "test_elementwise.py::test_logical",
    **{r.name: "test_reductions.py::test_reduction" for r in REDUCTIONS},
    "argmax": "test_reductions.py::test_argmax_argmin",
    "argmin": "test_reductions.py::test_argmax_argmin",
    "all_finite": "test_reductions.py::test_all_finite",
    "matmul": "test_linalg_shapes.py::test_matmul",
    "reshape": "test_linalg_shapes.py::test_reshape",
    "transpose": "test_linalg_shapes.py::test_transpose",
    "expand_dims": "test_linalg_shapes.py::test_expand_dims_squeeze",
    "squeeze": "test_linalg_shapes.py::test_expand_dims_squeeze",
    "broadcast_to": "test_linalg_shapes.py::test_broadcast_to",
    "concatenate": "test_linalg_shapes.py::test_concatenate_stack",
    "stack": "test_linalg_shapes.py::test_concatenate_stack",
    "take": "test_linalg_shapes.py::test_take",
    "getitem": "test_linalg_shapes.py::test_getitem",
    "scatter_add": "test_linalg_shapes.py::test_scatter_add",
    "pad": "test_linalg_shapes.py::test_pad",
    "one_hot": "test_linalg_shapes.py::test_one_hot",
    "to_channels_last": "test_linalg_shapes.py::test_channels",
    "to_channels_first": "test_linalg_shapes.py::test_channels",
    "softmax": "test_nn.py::test_softmax",
    "log_softmax": "test_nn.py::test_log_softmax",
    "assign": "test_updates.py::test_assign",
    "sgd_update": "test_updates.py::test_sgd_update",
    "adam_update": "test_updates.py::test_adam_update",
    "rmsprop_update": "test_updates.py::test_rmsprop_update",
    "random_bits": "test_random.py::test_random_bits_match_reference",
    "random_uniform": "test_random.py::test_uniform_formula",
    "random_normal": "test_random.py::test_normal_formula",
    "dropout_mask": "test_random.py::test_dropout_mask_formula",
}
