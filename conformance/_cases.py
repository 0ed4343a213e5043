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
from ._inputs import (STRIDED, Domain, Layout, away_from, distinct, halves, log_uniform, nonzero_factor, real,
                      signed_log_uniform, ties, with_specials, with_zeros)

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
    _e("erf", ref_erf, mix(real(-4, 4), signed_log_uniform(1e-6, 1)), ERF),
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
       op=lambda x: ops.gelu(x, approximate=False)),
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
    # g (1 - y^2) rounds three times; near |y| = 1 the rounding of y^2 is an absolute error of
    # eps/2 that 1 - y^2 no longer dwarfs, so the bound has an absolute part of a few eps * |g|.
    _e("tanh_grad", lambda y, g: g * (1.0 - y * y), (real(-1, 1), real(-5, 5)),
       Tol(rel=4, abs=4, scale=lambda y, g: g), op=None, out=True),
    # y: small integers with zeros (the kink: mask 0), infinities and NaN (mask 0); exact, a multiply by 1 or 0
    _e("relu_grad", lambda y, g: g * (y > 0), (with_specials(ties), real(-5, 5)), EXACT, op=None, out=True),
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


# --- matmul ---------------------------------------------------------------------------------

MATMUL = [
    ("2d", Layout("a", (3, 4)), Layout("b", (4, 5))),
    ("batched", Layout("a", (2, 3, 4)), Layout("b", (2, 4, 5))),
    ("batch-broadcast", Layout("a", (1, 3, 4)), Layout("b", (2, 4, 5))),
    ("batch-broadcast-rank", Layout("a", (2, 1, 3, 4)), Layout("b", (5, 4, 2))),
    ("1d@2d", Layout("a", (4,)), Layout("b", (4, 5))),
    ("2d@1d", Layout("a", (3, 4)), Layout("b", (4,))),
    ("1d@1d", Layout("a", (4,)), Layout("b", (4,))),
    ("1d@batched", Layout("a", (4,)), Layout("b", (2, 4, 3))),
    ("batched@1d", Layout("a", (2, 3, 4)), Layout("b", (4,))),
    ("inner-size-0", Layout("a", (3, 0)), Layout("b", (0, 5))),
    ("no-rows", Layout("a", (0, 4)), Layout("b", (4, 5))),
    ("transposed", Layout("a", (4, 3), transpose=True), Layout("b", (5, 4), transpose=True)),
    ("strided", Layout("a", (3, 8), key=STRIDED), Layout("b", (4, 10), key=STRIDED)),
    ("long-inner", Layout("a", (4, 1024)), Layout("b", (1024, 3))),
]


def matmul_bound(a64, b64, ref, dtype):
    """Per element: eps * (4 |ref| + 2 sqrt(K) * sum_k |a_ik b_kj|)."""
    k = a64.shape[-1]
    return eps(dtype) * (4 * np.abs(ref) + 2 * sqrt_n(k) * np.abs(np.matmul(np.abs(a64), np.abs(b64))))


# --- gradient cases (float64, lamina.ops + GradientTape vs central finite differences) ----------


@dataclass(frozen=True)
class GradCase:
    """``fn(*tensors) -> Tensor``; ``inputs`` are (shape, domain) pairs, or ``make(rng)`` returns
    the float64 input arrays when they must be related (maximum needs a != b). Domains keep
    every input at least 0.05 away from kinks (relu at 0, clip bounds, max ties)."""

    name: str
    fn: Callable[..., Any]
    inputs: tuple = ()
    make: Callable[[np.random.Generator], list] | None = None

    def arrays(self, rng: np.random.Generator) -> list:
        if self.make is not None:
            return [np.asarray(a, dtype=np.float64) for a in self.make(rng)]
        return [np.asarray(d(rng, tuple(s)), dtype=np.float64) for s, d in self.inputs]


_R = real(-2, 2)
_POS = log_uniform(0.2, 5.0)
_AWAY0 = away_from(real(-2, 2), (0.0,), 0.05)
_M = (3, 4)


def _lstm_hs_and_c(xk, h, c, r):
    """Two of one lstm_sequence op's outputs into one result: the op gets both gradients at once."""
    hs, _, c_last = ops.lstm_sequence(xk, h, c, r)
    return ops.add(ops.sum(hs, axis=0), c_last)


def _lstm_h_times_c(xk, h, c, r):
    _, h_last, c_last = ops.lstm_sequence(xk, h, c, r)
    return ops.multiply(h_last, c_last)


def _g(name, fn, *inputs, make=None):
    return GradCase(name, fn, tuple(inputs), make)


def _u(name, domain=_R, fn=None):
    return _g(name, fn or getattr(ops, name), (_M, domain))


def _separated(rng):
    a = rng.uniform(-2, 2, (3, 4))
    return [a, a + rng.choice([-1.0, 1.0], (3, 4)) * rng.uniform(0.1, 1.0, (3, 4))]


_COND = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])
_MASK = np.array([[True, False, True, False], [False, True, True, False], [True, False, False, True]])

GRAD_CASES = (
    # element-wise, one input
    _u("negative"), _u("abs", _AWAY0), _u("square"), _u("sqrt", _POS), _u("exp"), _u("log", _POS),
    _u("log1p", real(-0.5, 3)), _u("expm1"), _u("sin", real(-4, 4)), _u("cos", real(-4, 4)), _u("erf"),
    _u("tanh"), _u("sigmoid", real(-5, 5)), _u("relu", _AWAY0), _u("leaky_relu", _AWAY0),
    _u("leaky_relu_0.1", _AWAY0, lambda x: ops.leaky_relu(x, negative_slope=0.1)),
    _u("hard_sigmoid", away_from(real(-5, 5), (-3.0, 3.0), 0.05)), _u("softplus", real(-5, 5)),
    _u("softsign", _AWAY0), _u("elu", _AWAY0), _u("elu_0.5", _AWAY0, lambda x: ops.elu(x, alpha=0.5)),
    _u("selu", _AWAY0), _u("gelu", real(-3, 3), lambda x: ops.gelu(x, approximate=False)),
    _u("gelu_approximate", real(-3, 3), lambda x: ops.gelu(x, approximate=True)),
    _u("silu", real(-4, 4)), _u("swish", real(-4, 4)),
    _u("clip", away_from(real(-2, 2), (-1.0, 1.0), 0.05), lambda x: ops.clip(x, -1.0, 1.0)),
    # element-wise, two inputs, broadcasting (the VJP must sum over broadcast axes)
    _g("add", ops.add, ((3, 1), _R), ((1, 4), _R)),
    _g("subtract", ops.subtract, ((3, 4), _R), ((4,), _R)),
    _g("multiply", ops.multiply, ((2, 3, 4), _R), ((3, 1), _R)),
    _g("divide", ops.divide, ((3, 4), _R), ((3, 1), away_from(_R, (0.0,), 0.3))),
    _g("power", ops.power, ((3, 4), log_uniform(0.3, 3.0)), ((4,), real(-2, 2))),
    _g("add_0d", ops.add, ((), _R), ((3, 4), _R)),
    _g("maximum", ops.maximum, make=_separated),
    _g("minimum", ops.minimum, make=_separated),
    _g("where", lambda a, b: ops.where(_COND, a, b), ((3, 4), _R), ((4,), _R)),
    # with Python scalars (weak typing; the scalar gets no gradient)
    _u("multiply_scalar", _R, lambda x: ops.multiply(x, 2.5)),
    _u("rsubtract_scalar", _R, lambda x: ops.subtract(1.0, x)),
    _u("rdivide_scalar", away_from(_R, (0.0,), 0.3), lambda x: ops.divide(1.0, x)),
    _u("power_scalar_exponent", _POS, lambda x: ops.power(x, 3.0)),
    _u("power_scalar_base", _R, lambda x: ops.power(2.0, x)),
    # reductions
    _u("sum", _R, lambda x: ops.sum(x)),
    _u("sum_axis0", _R, lambda x: ops.sum(x, axis=0)),
    _u("sum_axis-1_keepdims", _R, lambda x: ops.sum(x, axis=-1, keepdims=True)),
    _u("sum_axes_keepdims", _R, lambda x: ops.sum(x, axis=(0, 1), keepdims=True)),
    _u("mean", _R, lambda x: ops.mean(x)),
    _u("mean_axis1", _R, lambda x: ops.mean(x, axis=1)),
    _u("max", distinct, lambda x: ops.max(x)),
    _u("max_axis0", distinct, lambda x: ops.max(x, axis=0)),
    _u("min_axis-1_keepdims", distinct, lambda x: ops.min(x, axis=-1, keepdims=True)),
    _u("prod", nonzero_factor, lambda x: ops.prod(x)),
    _u("prod_axis1", nonzero_factor, lambda x: ops.prod(x, axis=1)),
    _u("var", _R, lambda x: ops.var(x)),
    _u("var_axis0", _R, lambda x: ops.var(x, axis=0)),
    _u("std_axis1", _R, lambda x: ops.std(x, axis=1)),
    _u("std_keepdims", _R, lambda x: ops.std(x, axis=-1, keepdims=True)),
    _u("logsumexp", real(-5, 5), lambda x: ops.logsumexp(x)),
    _u("logsumexp_axis-1", real(-5, 5), lambda x: ops.logsumexp(x, axis=-1)),
    _u("logsumexp_axis0_keepdims", real(-5, 5), lambda x: ops.logsumexp(x, axis=0, keepdims=True)),
    # matmul: 2-d, batched, broadcast batch, 1-d promotion; dot
    *(_g(f"dense_{act}", lambda x, k, b, act=act: ops.dense(x, k, b, act), ((3, 4), _R), ((4, 2), _R), ((2,), _R))
      for act in ops.DENSE_ACTIVATIONS),
    _g("dense_no_bias", lambda x, k: ops.dense(x, k, None, "tanh"), ((3, 4), _R), ((4, 2), _R)),
    # the fused LSTM step: gates on the last axis (LSTM) and on axis 1 (ConvLSTM2D channels_first)
    _g("lstm_cell", lambda z, c: ops.stack(list(ops.lstm_cell(z, c))), ((3, 8), _R), ((3, 2), _R)),
    _g("lstm_cell_axis1", lambda z, c: ops.stack(list(ops.lstm_cell(z, c, axis=1))), ((2, 12, 2), _R), ((2, 3, 2), _R)),
    _g("lstm_cell_h_only", lambda z, c: ops.lstm_cell(z, c)[0], ((3, 8), _R), ((3, 2), _R)),
    _g("lstm_cell_carry_only", lambda z, c: ops.lstm_cell(z, c)[1], ((3, 8), _R), ((3, 2), _R)),
    # the whole LSTM sequence: every output, each alone, and the two final states together
    _g("lstm_sequence", lambda xk, h, c, r: ops.concatenate([ops.reshape(o, (-1,)) for o in ops.lstm_sequence(xk, h, c, r)],
                                                           axis=0),
       ((3, 2, 8), _R), ((2, 2), _R), ((2, 2), _R), ((2, 8), _R)),
    _g("lstm_sequence_hs_only", lambda xk, h, c, r: ops.lstm_sequence(xk, h, c, r)[0],
       ((4, 3, 4), _R), ((3, 1), _R), ((3, 1), _R), ((1, 4), _R)),
    _g("lstm_sequence_final_h", lambda xk, h, c, r: ops.lstm_sequence(xk, h, c, r)[1],
       ((3, 2, 8), _R), ((2, 2), _R), ((2, 2), _R), ((2, 8), _R)),
    _g("lstm_sequence_final_c", lambda xk, h, c, r: ops.lstm_sequence(xk, h, c, r)[2],
       ((3, 2, 8), _R), ((2, 2), _R), ((2, 2), _R), ((2, 8), _R)),
    _g("lstm_sequence_hs_and_final_c", _lstm_hs_and_c, ((3, 2, 8), _R), ((2, 2), _R), ((2, 2), _R), ((2, 8), _R)),
    _g("lstm_sequence_final_h_and_c", _lstm_h_times_c, ((3, 2, 8), _R), ((2, 2), _R), ((2, 2), _R), ((2, 8), _R)),
    _g("simple_rnn_sequence", lambda xk, h, r: ops.concatenate([ops.reshape(o, (-1,)) for o in
                                                                ops.simple_rnn_sequence(xk, h, r)], axis=0),
       ((3, 2, 3), _R), ((2, 3), _R), ((3, 3), _R)),
    _g("simple_rnn_sequence_final_h", lambda xk, h, r: ops.simple_rnn_sequence(xk, h, r)[1],
       ((4, 1, 2), _R), ((1, 2), _R), ((2, 2), _R)),
    _g("gru_sequence", lambda xk, h, r, b: ops.concatenate([ops.reshape(o, (-1,)) for o in ops.gru_sequence(xk, h, r, b)],
                                                          axis=0),
       ((3, 2, 6), _R), ((2, 2), _R), ((2, 6), _R), ((6,), _R)),
    _g("gru_sequence_no_bias_hs_only", lambda xk, h, r: ops.gru_sequence(xk, h, r)[0],
       ((4, 3, 3), _R), ((3, 1), _R), ((1, 3), _R)),
    _g("gru_sequence_final_h", lambda xk, h, r, b: ops.gru_sequence(xk, h, r, b)[1],
       ((3, 2, 6), _R), ((2, 2), _R), ((2, 6), _R), ((6,), _R)),
    _g("matmul", ops.matmul, ((3, 4), _R), ((4, 2), _R)),
    _g("matmul_batched", ops.matmul, ((2, 3, 4), _R), ((2, 4, 2), _R)),
    _g("matmul_batch_broadcast", ops.matmul, ((1, 3, 4), _R), ((2, 4, 2), _R)),
    _g("matmul_2d_batched", ops.matmul, ((3, 4), _R), ((2, 4, 2), _R)),
    _g("matmul_1d_2d", ops.matmul, ((4,), _R), ((4, 3), _R)),
    _g("matmul_2d_1d", ops.matmul, ((3, 4), _R), ((4,), _R)),
    _g("matmul_1d_1d", ops.matmul, ((4,), _R), ((4,), _R)),
    _g("matmul_batched_1d", ops.matmul, ((2, 3, 4), _R), ((4,), _R)),
    _g("dot", ops.dot, ((3, 4), _R), ((4, 2), _R)),
    # shapes and indexing
    _g("reshape", lambda x: ops.reshape(x, (4, 3)), ((2, 6), _R)),
    _g("reshape_-1", lambda x: ops.reshape(x, (-1,)), ((2, 6), _R)),
    _g("transpose", ops.transpose, ((3, 4), _R)),
    _g("transpose_axes", lambda x: ops.transpose(x, (2, 0, 1)), ((2, 3, 2), _R)),
    _g("transpose_negative_axes", lambda x: ops.transpose(x, (-1, 0, 1)), ((2, 3, 2), _R)),
    _g("expand_dims", lambda x: ops.expand_dims(x, 1), ((3, 4), _R)),
    _g("squeeze", lambda x: ops.squeeze(x, axis=(0, 2)), ((1, 3, 1, 2), _R)),
    _g("broadcast_to", lambda x: ops.broadcast_to(x, (2, 3, 4)), ((3, 1), _R)),
    _g("concatenate_axis0", lambda a, b, c: ops.concatenate([a, b, c], axis=0), ((2, 3), _R), ((1, 3), _R), ((3, 3), _R)),
    _g("concatenate_axis-1", lambda a, b: ops.concatenate([a, b]), ((2, 3), _R), ((2, 2), _R)),
    _g("stack_axis1", lambda a, b: ops.stack([a, b], axis=1), ((2, 3), _R), ((2, 3), _R)),
    _g("stack_axis-1", lambda a, b: ops.stack([a, b], axis=-1), ((2, 3), _R), ((2, 3), _R)),
    _g("getitem_slice", lambda x: ops.getitem(x, (slice(None), slice(None, None, 2))), ((3, 4), _R)),
    _g("getitem_int", lambda x: x[1], ((3, 4), _R)),
    _g("getitem_repeated_indices", lambda x: ops.getitem(x, ops.convert_to_tensor(np.array([2, 0, 2]))), ((3, 4), _R)),
    _g("getitem_list_key", lambda x: ops.getitem(x, (slice(None), [3, 0, 3])), ((3, 4), _R)),
    _g("getitem_bool_mask", lambda x: ops.getitem(x, ops.convert_to_tensor(_MASK)), ((3, 4), _R)),
    _g("take", lambda x: ops.take(x, np.array([-1, 0, 2, -1]), axis=1), ((3, 4), _R)),
    _g("take_axis0", lambda x: ops.take(x, np.array([[0, 2], [2, 2]])), ((3, 4), _R)),
    _g("pad", lambda x: ops.pad(x, [(1, 0), (2, 1)]), ((3, 4), _R)),
    # neural-network ops
    _g("softmax", ops.softmax, ((3, 4), real(-3, 3))),
    _g("softmax_axis0", lambda x: ops.softmax(x, axis=0), ((3, 4), real(-3, 3))),
    _g("log_softmax", ops.log_softmax, ((3, 4), real(-3, 3))),
    _g("log_softmax_axis0", lambda x: ops.log_softmax(x, axis=0), ((3, 4), real(-3, 3))),
    _g("dropout", lambda x: ops.dropout(x, 0.4, seed=3, counter=1), ((3, 4), _R)),
    # compositions: a tensor used twice, Tensor operators, a dense layer, a cross-entropy
    _g("reuse", lambda x: ops.add(ops.multiply(x, x), ops.sin(x)), ((3, 4), _R)),
    _g("operators", lambda a, b: ((a + 1.0) * b - a / (b * b + 1.0)) ** 2.0 - (-a) + abs(b), ((3, 4), _R), ((3, 4), _AWAY0)),
    _g("matmul_operator_T", lambda a, b: a @ b.T, ((3, 4), _R), ((2, 4), _R)),
    _g("dense_tanh", lambda x, w, b: ops.tanh(ops.add(ops.matmul(x, w), b)), ((2, 3), _R), ((3, 4), _R), ((4,), _R)),
    _g("categorical_crossentropy", lambda t, p: ops.categorical_crossentropy(t, p), ((3, 4), _POS), ((3, 4), _POS)),
    _g("categorical_crossentropy_axis0", lambda t, p: ops.categorical_crossentropy(t, p, axis=0), ((3, 4), _POS),
       ((3, 4), _POS)),
    _g("categorical_crossentropy_logits", lambda t, z: ops.categorical_crossentropy(t, z, from_logits=True),
       ((3, 4), _POS), ((3, 4), real(-3, 3))),
    _g("crossentropy", lambda z: ops.negative(ops.sum(ops.multiply(ops.one_hot(np.array([1, 0, 3]), 4, "float64"),
                                                                ops.log_softmax(z)))), ((3, 4), real(-3, 3))),
)


# --- coverage: which test checks each protocol method and each lamina.ops function -------------
# test_coverage.py fails when the protocol or lamina.ops gains a name that is not listed here,
# so adding an op without a conformance case is caught.

PROTOCOL_COVERAGE = {
    "name": "test_creation.py::test_identity_attributes",
    "host_sync_cheap": "test_creation.py::test_identity_attributes",
    "flushed_subnormal_dtypes": "test_creation.py::test_flushed_subnormal_dtypes_say_what_the_backend_does",
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
    "argmax_equal": "test_reductions.py::test_argmax_equal",
    "all_finite": "test_reductions.py::test_all_finite",
    "matmul": "test_linalg_shapes.py::test_matmul",
    "reshape": "test_linalg_shapes.py::test_reshape",
    "transpose": "test_linalg_shapes.py::test_transpose",
    "expand_dims": "test_linalg_shapes.py::test_expand_dims_squeeze",
    "squeeze": "test_linalg_shapes.py::test_expand_dims_squeeze",
    "can_hold": "test_creation.py::test_can_hold",
    "memory_scope": "test_creation.py::test_memory_scope",
    "release_memory": "test_creation.py::test_release_memory",
    "graph_step": "test_creation.py::test_graph_step",
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
    "softmax_grad": "test_nn.py::test_softmax_grad",
    "dense_activation": "test_nn.py::test_dense_activation",
    "dense_activation_grad": "test_nn.py::test_dense_activation_grad",
    "categorical_crossentropy": "test_nn.py::test_categorical_crossentropy",
    "categorical_crossentropy_grad": "test_nn.py::test_categorical_crossentropy_grad",
    "gru_cell_forward": "test_nn.py::test_gru_cell_forward",
    "gru_cell_grad": "test_nn.py::test_gru_cell_grad",
    "lstm_cell_forward": "test_nn.py::test_lstm_cell_forward",
    "lstm_cell_grad": "test_nn.py::test_lstm_cell_grad",
    "assign": "test_updates.py::test_assign",
    "sgd_update": "test_updates.py::test_sgd_update",
    "adam_update": "test_updates.py::test_adam_update",
    "rmsprop_update": "test_updates.py::test_rmsprop_update",
    "adadelta_update": "test_updates.py::test_adadelta_update",
    **{f"{rule}_update_many": "test_updates.py::test_update_many" for rule in ("sgd", "adam", "rmsprop")},
    "random_bits": "test_random.py::test_random_bits_match_reference",
    "random_uniform": "test_random.py::test_uniform_formula",
    "random_normal": "test_random.py::test_normal_formula",
    "dropout_mask": "test_random.py::test_dropout_mask_formula",
    "dropout": "test_random.py::test_dropout",
    **{m: "test_conv.py::test_conv" for m in ("conv", "conv_input_grad", "conv_kernel_grad")},
    "conv_transpose": "test_conv.py::test_conv_transpose",
    **{m: "test_conv.py::test_pooling" for m in ("max_pool", "max_pool_grad", "avg_pool", "avg_pool_grad")},
}
