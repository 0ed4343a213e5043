"""Convolution and pooling: the backend protocol ops and ``lamina.ops`` against direct float64
references written as explicit Python loops (the slow, obviously correct definitions).

The references share nothing with the library: each spells out the definition index by index
(TensorFlow's padding rules, Keras' kernel layouts and output lengths), on tiny inputs.

Tolerances: a convolution output, an input-gradient element and a kernel-gradient element are
each a sum of products, so they get the dot-product rule used for matmul (``_cases.py``):
|error| <= eps * (4 |ref| + 2 sqrt(n) * sum |terms|) with n the number of terms. Max pooling is
exact; its gradient and average pooling are sums of n terms (the same rule).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest

import lamina.ops as ops

from ._checks import Failures, assert_close, assert_exact, eps, tiny
from ._inputs import Layout, distinct, real, rng_for, sample, ties
from .test_ops_gradients import ATOL, RTOL, numerical_gradient, tape_gradient

# --- the definitions, as loops -------------------------------------------------------------------


def _pad_before(length, k, s, d, padding, out=None):
    """TensorFlow: (pad_before, output length). ``out`` forces the output length (transposed conv)."""
    eff = d * (k - 1) + 1
    if padding == "valid":
        return 0, (length - eff) // s + 1
    if padding == "causal":
        return eff - 1, -(-length // s)
    n = -(-length // s) if out is None else out
    return max((n - 1) * s + eff - length, 0) // 2, n


def _conv_terms(x_shape, k_shape, strides, padding, dilation, groups):
    """Every product of the convolution: (output index, input index, kernel index) triples."""
    nd = len(x_shape) - 2
    geo = [_pad_before(x_shape[1 + a], k_shape[a], strides[a], dilation[a], padding) for a in range(nd)]
    out_sp = tuple(n for _, n in geo)
    cg, cout = k_shape[-2], k_shape[-1]
    per_group = cout // groups
    for n in range(x_shape[0]):
        for o in itertools.product(*(range(v) for v in out_sp)):
            for t in itertools.product(*(range(v) for v in k_shape[:nd])):
                pos = tuple(o[a] * strides[a] + t[a] * dilation[a] - geo[a][0] for a in range(nd))
                if not all(0 <= pos[a] < x_shape[1 + a] for a in range(nd)):
                    continue  # a padding zero: contributes nothing
                for co in range(cout):
                    g = co // per_group
                    for c in range(cg):
                        yield (n,) + o + (co,), (n,) + pos + (g * cg + c,), t + (c, co)
    return out_sp


def ref_conv_all(x, w, grad, strides, padding, dilation, groups):
    """(out, |out| terms, n) and, given ``grad``, (dx, |dx| terms, n) and (dw, |dw| terms, n)."""
    nd = x.ndim - 2
    geo = [_pad_before(x.shape[1 + a], w.shape[a], strides[a], dilation[a], padding) for a in range(nd)]
    out_shape = (x.shape[0],) + tuple(n for _, n in geo) + (w.shape[-1],)
    out, out_abs, out_n = np.zeros(out_shape), np.zeros(out_shape), np.zeros(out_shape)
    dx, dx_abs, dx_n = np.zeros(x.shape), np.zeros(x.shape), np.zeros(x.shape)
    dw, dw_abs, dw_n = np.zeros(w.shape), np.zeros(w.shape), np.zeros(w.shape)
    for oi, ii, wi in _conv_terms(x.shape, w.shape, strides, padding, dilation, groups):
        out[oi] += x[ii] * w[wi]
        out_abs[oi] += abs(x[ii] * w[wi])
        out_n[oi] += 1
        if grad is not None:
            dx[ii] += grad[oi] * w[wi]
            dx_abs[ii] += abs(grad[oi] * w[wi])
            dx_n[ii] += 1
            dw[wi] += x[ii] * grad[oi]
            dw_abs[wi] += abs(x[ii] * grad[oi])
            dw_n[wi] += 1
    return (out, out_abs, out_n), (dx, dx_abs, dx_n), (dw, dw_abs, dw_n)


def ref_conv(x, w, strides, padding, dilation, groups):
    return ref_conv_all(x, w, None, strides, padding, dilation, groups)[0][0]


def _deconv_length(n, k, s, d, padding, output_padding):
    """Keras' deconv_output_length."""
    eff = d * (k - 1) + 1
    if output_padding is None:
        return n * s + max(eff - s, 0) if padding == "valid" else n * s
    pad = eff // 2 if padding == "same" else 0
    return (n - 1) * s + eff - 2 * pad + output_padding


def ref_conv_transpose(x, w, strides, padding, output_padding, dilation):
    """Scatter definition: input element i, tap t lands on output i*s + t*d - pad_before;
    kernel (*k, C_out, C_in). Returns (out, |terms|, n)."""
    nd = x.ndim - 2
    op = (None,) * nd if output_padding is None else output_padding
    out_sp = tuple(_deconv_length(x.shape[1 + a], w.shape[a], strides[a], dilation[a], padding, op[a])
                   for a in range(nd))
    before = [_pad_before(out_sp[a], w.shape[a], strides[a], dilation[a], padding, out=x.shape[1 + a])[0]
              for a in range(nd)]
    shape = (x.shape[0],) + out_sp + (w.shape[-2],)
    out, out_abs, out_n = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for n in range(x.shape[0]):
        for i in itertools.product(*(range(v) for v in x.shape[1:-1])):
            for t in itertools.product(*(range(v) for v in w.shape[:nd])):
                pos = tuple(i[a] * strides[a] + t[a] * dilation[a] - before[a] for a in range(nd))
                if not all(0 <= pos[a] < out_sp[a] for a in range(nd)):
                    continue
                for co in range(w.shape[-2]):
                    for ci in range(w.shape[-1]):
                        term = x[(n,) + i + (ci,)] * w[t + (co, ci)]
                        out[(n,) + pos + (co,)] += term
                        out_abs[(n,) + pos + (co,)] += abs(term)
                        out_n[(n,) + pos + (co,)] += 1
    return out, out_abs, out_n


def _windows(x_shape, pool, strides, padding):
    """For every output index: the list of input indices of its window (padding left out), in
    row-major window order."""
    nd = len(x_shape) - 2
    geo = [_pad_before(x_shape[1 + a], pool[a], strides[a], 1, padding) for a in range(nd)]
    out_sp = tuple(n for _, n in geo)
    result = {}
    for n in range(x_shape[0]):
        for o in itertools.product(*(range(v) for v in out_sp)):
            for c in range(x_shape[-1]):
                members = []
                for t in itertools.product(*(range(v) for v in pool)):
                    pos = tuple(o[a] * strides[a] + t[a] - geo[a][0] for a in range(nd))
                    if all(0 <= pos[a] < x_shape[1 + a] for a in range(nd)):
                        members.append((n,) + pos + (c,))
                result[(n,) + o + (c,)] = members
    return (x_shape[0],) + out_sp + (x_shape[-1],), result


def ref_pools(x, grad, pool, strides, padding):
    """max, first-max gradient, average (and its |terms|/n), average gradient."""
    shape, windows = _windows(x.shape, pool, strides, padding)
    mx, avg, avg_abs, avg_n = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape)
    dmax, dmax_abs, davg, davg_abs = (np.zeros(x.shape) for _ in range(4))
    dmax_n, davg_n = np.zeros(x.shape), np.zeros(x.shape)
    for o, members in windows.items():
        values = [x[i] for i in members]
        best = max(values)
        mx[o] = best
        first = members[values.index(best)]  # the first maximum in row-major window order
        avg[o] = sum(values) / len(values)
        avg_abs[o] = sum(abs(v) for v in values) / len(values)
        avg_n[o] = len(values)
        if grad is not None:
            dmax[first] += grad[o]
            dmax_abs[first] += abs(grad[o])
            dmax_n[first] += 1
            for i in members:
                davg[i] += grad[o] / len(values)
                davg_abs[i] += abs(grad[o]) / len(values)
                davg_n[i] += 1
    return dict(max=mx, max_grad=(dmax, dmax_abs, dmax_n), avg=(avg, avg_abs, avg_n),
                avg_grad=(davg, davg_abs, davg_n))


def dot_bound(ref, abs_terms, n_terms, dtype):
    """eps * (4 |ref| + 2 sqrt(n) * sum |terms|) + 2 tiny, element-wise."""
    return eps(dtype) * (4 * np.abs(ref) + 2 * np.sqrt(np.maximum(n_terms, 1)) * abs_terms) + 2 * tiny(dtype)


# --- convolution cases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvCase:
    name: str
    x: Layout  # channels-last input (N, *spatial, C_in); a Layout may make it non-contiguous
    kernel: Layout  # (*k, C_in / groups, C_out)
    strides: tuple
    padding: str
    dilation: tuple
    groups: int = 1


L = Layout
_CL = (slice(None), slice(None), slice(None, None, 2))  # every other column (axis 2): a strided view


def _c(name, x, k, strides=None, padding="valid", dilation=None, groups=1):
    xl = x if isinstance(x, Layout) else L("x", x)
    kl = k if isinstance(k, Layout) else L("k", k)
    nd = len(xl.shape) - 2
    return ConvCase(name, xl, kl, strides or (1,) * nd, padding, dilation or (1,) * nd, groups)


CONV_CASES = (
    _c("1d-valid", (2, 7, 3), (3, 3, 4)),
    _c("1d-same-stride2", (2, 8, 2), (4, 2, 3), (2,), "same"),
    _c("1d-causal-dilation2", (2, 7, 2), (3, 2, 3), padding="causal", dilation=(2,)),
    _c("1d-causal-stride2", (1, 7, 2), (2, 2, 2), (2,), "causal"),
    _c("1d-same-dilation3", (2, 9, 1), (3, 1, 2), padding="same", dilation=(3,)),
    _c("2d-valid", (2, 5, 6, 2), (3, 3, 2, 3)),
    _c("2d-same-odd", (2, 5, 4, 2), (3, 3, 2, 3), padding="same"),
    _c("2d-same-even-kernel-stride2", (2, 6, 5, 2), (2, 4, 2, 3), (2, 2), "same"),
    _c("2d-valid-stride-unused-rows", (1, 6, 7, 2), (3, 2, 2, 2), (2, 3)),
    _c("2d-same-dilation", (2, 6, 5, 2), (3, 2, 2, 2), padding="same", dilation=(2, 3)),
    _c("2d-same-stride-and-dilation", (1, 7, 6, 2), (3, 3, 2, 2), (2, 2), "same", (2, 1)),
    _c("2d-1x1", (2, 3, 4, 3), (1, 1, 3, 2)),
    _c("2d-groups2", (2, 5, 5, 4), (3, 3, 2, 6), padding="same", groups=2),
    _c("2d-depthwise-multiplier2", (2, 5, 4, 3), (3, 3, 1, 6), padding="same", groups=3),
    _c("2d-empty-batch", (0, 5, 5, 2), (3, 3, 2, 3), padding="same"),
    _c("2d-kernel-fills-input", (2, 3, 3, 2), (3, 3, 2, 2)),
    _c("3d-valid", (1, 4, 4, 3, 2), (2, 2, 2, 2, 3)),
    _c("3d-same-stride2", (2, 4, 3, 5, 1), (3, 2, 3, 1, 2), (2, 1, 2), "same"),
    _c("3d-groups2-dilation", (1, 5, 4, 4, 4), (2, 2, 2, 2, 2), padding="same", dilation=(2, 1, 2), groups=2),
    # non-contiguous operands: a strided input, a transposed kernel (backend.transpose reverses axes)
    _c("2d-strided-input-transposed-kernel", L("x", (2, 5, 12, 2), key=_CL),
       L("k", (3, 2, 3, 3), transpose=True), padding="same"),
    _c("1d-reversed-input", L("x", (2, 9, 2), key=(slice(None), slice(None, None, -1))), (3, 2, 2), (2,), "valid"),
)


def _device_copy(be, a64, dtype):
    return be.asarray(np.asarray(a64, dtype=dtype))


@pytest.mark.parametrize("case", CONV_CASES, ids=[c.name for c in CONV_CASES])
def test_conv(backend, case, dtype):
    """conv, conv_input_grad and conv_kernel_grad against the loop definition."""
    rng = rng_for("conv", case.name, dtype)
    x, hx = case.x.make(backend, real(-2, 2), rng, dtype)
    k, hk = case.kernel.make(backend, real(-1, 1), rng, dtype)
    x64, k64 = hx.astype(np.float64), hk.astype(np.float64)
    out_shape = (hx.shape[0],) + tuple(
        _pad_before(hx.shape[1 + a], hk.shape[a], case.strides[a], case.dilation[a], case.padding)[1]
        for a in range(hx.ndim - 2)) + (hk.shape[-1],)
    grad = sample(real(-1, 1), rng, out_shape, dtype)
    g = _device_copy(backend, grad, dtype)
    fwd, dxr, dwr = ref_conv_all(x64, k64, grad.astype(np.float64), case.strides, case.padding, case.dilation,
                                 case.groups)
    args = (case.strides, case.padding, case.dilation, case.groups)
    fails = Failures()
    what = f"{{}} {dtype} [{case.name}]"
    fails.check("conv", lambda: assert_close(backend.to_numpy(backend.conv(x, k, *args)), fwd[0],
                                             dot_bound(*fwd, dtype), what.format("conv"), dtype=dtype))
    fails.check("conv_input_grad", lambda: assert_close(
        backend.to_numpy(backend.conv_input_grad(g, k, tuple(hx.shape), *args)), dxr[0], dot_bound(*dxr, dtype),
        what.format("conv_input_grad"), dtype=dtype))
    fails.check("conv_kernel_grad", lambda: assert_close(
        backend.to_numpy(backend.conv_kernel_grad(x, g, tuple(hk.shape), *args)), dwr[0], dot_bound(*dwr, dtype),
        what.format("conv_kernel_grad"), dtype=dtype))
    fails.finish()


@pytest.mark.parametrize("case", [c for c in CONV_CASES if c.name in ("2d-same-even-kernel-stride2", "2d-groups2",
                                                                        "1d-causal-dilation2")], ids=lambda c: c.name)
def test_conv_in_batch_blocks(backend, case, monkeypatch):
    """A backend that splits the batch into blocks (``conv_block_bytes``, the shared base class)
    gives the same results with one image per block as the definition."""
    if not hasattr(backend, "conv_block_bytes"):
        pytest.skip(f"backend {backend.name!r} has no conv_block_bytes setting")
    monkeypatch.setattr(backend, "conv_block_bytes", 1)  # one image per block
    rng = rng_for("conv-blocks", case.name)
    shape = (3,) + case.x.shape[1:]
    hx, hk = rng.uniform(-2, 2, shape), rng.uniform(-1, 1, case.kernel.shape)
    args = (case.strides, case.padding, case.dilation, case.groups)
    fwd = ref_conv_all(hx, hk, None, *args)[0]
    grad = rng.uniform(-1, 1, fwd[0].shape)
    _, dxr, dwr = ref_conv_all(hx, hk, grad, *args)
    x, k, g = backend.asarray(hx), backend.asarray(hk), backend.asarray(grad)
    assert_close(backend.to_numpy(backend.conv(x, k, *args)), fwd[0], dot_bound(*fwd, "float64"),
                 f"conv in blocks [{case.name}]", dtype="float64")
    assert_close(backend.to_numpy(backend.conv_kernel_grad(x, g, hk.shape, *args)), dwr[0],
                 dot_bound(*dwr, "float64"), f"conv_kernel_grad in blocks [{case.name}]", dtype="float64")
    assert_close(backend.to_numpy(backend.conv_input_grad(g, k, hx.shape, *args)), dxr[0],
                 dot_bound(*dxr, "float64"), f"conv_input_grad in blocks [{case.name}]", dtype="float64")


def test_conv_does_not_modify_or_alias_inputs(backend):
    hx = np.arange(2 * 5 * 5 * 2, dtype=np.float64).reshape(2, 5, 5, 2) / 10
    hk = np.linspace(-1, 1, 3 * 3 * 2 * 2).reshape(3, 3, 2, 2)
    x, k = backend.asarray(hx), backend.asarray(hk)
    y = backend.conv(x, k, 1, "same")
    dx = backend.conv_input_grad(y, k, hx.shape, 1, "same")
    backend.conv_kernel_grad(x, y, hk.shape, 1, "same")
    pooled = backend.max_pool(x, 2, None, "same")
    backend.max_pool_grad(x, pooled, pooled, 2, None, "same")
    assert_exact(backend.to_numpy(x), hx, "conv input after the calls")
    assert_exact(backend.to_numpy(k), hk, "conv kernel after the calls")
    before = backend.to_numpy(backend.copy(y))
    backend.assign(dx, backend.zeros(dx.shape, "float64"))  # writing the result must not touch y
    assert_exact(backend.to_numpy(y), before, "conv output after writing the input gradient")


# --- transposed convolution ---------------------------------------------------------------------


@dataclass(frozen=True)
class TransposeCase:
    name: str
    x: Layout
    kernel: Layout  # (*k, C_out, C_in)
    strides: tuple
    padding: str
    output_padding: tuple | None
    dilation: tuple


def _t(name, x, k, strides, padding="valid", output_padding=None, dilation=None):
    xl = x if isinstance(x, Layout) else L("x", x)
    kl = k if isinstance(k, Layout) else L("k", k)
    nd = len(xl.shape) - 2
    return TransposeCase(name, xl, kl, strides, padding, output_padding, dilation or (1,) * nd)


TRANSPOSE_CASES = (
    _t("1d-valid-stride2", (2, 4, 2), (3, 3, 2), (2,)),
    _t("1d-valid-kernel-shorter-than-stride", (2, 3, 2), (2, 2, 2), (3,)),
    _t("1d-same-stride1", (2, 5, 3), (3, 2, 3), (1,), "same"),
    _t("2d-same-stride2", (2, 3, 4, 2), (3, 3, 3, 2), (2, 2), "same"),
    _t("2d-same-even-kernel", (1, 3, 3, 2), (4, 2, 2, 2), (2, 2), "same"),
    _t("2d-valid-output-padding", (2, 3, 3, 2), (3, 3, 2, 2), (2, 2), "valid", (1, 1)),
    _t("2d-same-output-padding", (1, 3, 4, 2), (3, 3, 2, 2), (3, 2), "same", (2, 1)),
    _t("2d-dilation", (2, 3, 3, 1), (2, 3, 2, 1), (1, 1), "valid", None, (2, 2)),
    _t("3d-same", (1, 2, 3, 2, 2), (2, 3, 2, 2, 2), (2, 1, 2), "same"),
    _t("2d-strided-input", L("x", (2, 3, 8, 2), key=_CL),
       L("k", (2, 2, 3, 3), transpose=True), (2, 2), "same"),
    _t("2d-empty-batch", (0, 3, 3, 2), (3, 3, 2, 2), (2, 2), "same"),
)


@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=[c.name for c in TRANSPOSE_CASES])
def test_conv_transpose(backend, case, dtype):
    rng = rng_for("conv_transpose", case.name, dtype)
    x, hx = case.x.make(backend, real(-2, 2), rng, dtype)
    k, hk = case.kernel.make(backend, real(-1, 1), rng, dtype)
    ref, ref_abs, n = ref_conv_transpose(hx.astype(np.float64), hk.astype(np.float64), case.strides, case.padding,
                                         case.output_padding, case.dilation)
    got = backend.conv_transpose(x, k, case.strides, case.padding, case.output_padding, case.dilation)
    assert_close(backend.to_numpy(got), ref, dot_bound(ref, ref_abs, n, dtype),
                 f"conv_transpose {dtype} [{case.name}]", dtype=dtype)


# --- pooling ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolCase:
    name: str
    x: Layout
    pool: tuple
    strides: tuple | None  # None: pool_size
    padding: str
    domain: object = real(-3, 3)


def _p(name, x, pool, strides=None, padding="valid", domain=real(-3, 3)):
    return PoolCase(name, x if isinstance(x, Layout) else L("x", x), pool, strides, padding, domain)


POOL_CASES = (
    _p("1d-valid", (2, 7, 3), (2,)),
    _p("1d-same-stride1", (2, 6, 2), (3,), (1,), "same"),
    _p("2d-2x2-disjoint", (2, 6, 4, 3), (2, 2)),
    _p("2d-2x2-odd-input", (2, 5, 5, 2), (2, 2)),
    _p("2d-3x3-stride2-same-overlapping", (2, 7, 6, 2), (3, 3), (2, 2), "same"),
    _p("2d-2x3-strides-1x2", (1, 5, 7, 2), (2, 3), (1, 2)),
    _p("2d-same-pool-larger-than-input", (1, 2, 3, 2), (4, 4), (1, 1), "same"),
    _p("2d-ties", (2, 6, 6, 2), (3, 3), (1, 1), "same", ties),
    _p("2d-ties-disjoint", (2, 4, 4, 2), (2, 2), None, "valid", ties),
    _p("2d-negative-values-same", (1, 5, 5, 2), (2, 2), (2, 2), "same", real(-5, -1)),
    _p("3d-valid", (1, 4, 4, 4, 2), (2, 2, 2)),
    _p("3d-same-stride1", (1, 3, 4, 3, 1), (2, 3, 2), (1, 1, 1), "same"),
    _p("2d-empty-batch", (0, 4, 4, 2), (2, 2)),
    _p("2d-strided-input", L("x", (2, 4, 10, 2), key=_CL), (2, 2), (1, 1), "same"),
    _p("2d-transposed-input", L("x", (3, 5, 4, 2), transpose=True), (2, 2), (2, 1), "valid"),
)


@pytest.mark.parametrize("case", POOL_CASES, ids=[c.name for c in POOL_CASES])
def test_pooling(backend, case, dtype):
    """max_pool (exact), max_pool_grad (first maximum in row-major window order), avg_pool with
    padding left out of the count, avg_pool_grad — against the loop definitions."""
    rng = rng_for("pool", case.name, dtype)
    x, hx = case.x.make(backend, case.domain, rng, dtype)
    strides = case.strides or case.pool
    x64 = hx.astype(np.float64)
    shape = ref_pools(x64, None, case.pool, strides, case.padding)["max"].shape
    grad = sample(real(-1, 1), rng, shape, dtype)
    ref = ref_pools(x64, grad.astype(np.float64), case.pool, strides, case.padding)
    g = _device_copy(backend, grad, dtype)
    fails = Failures()
    what = f"{{}} {dtype} [{case.name}]"
    pooled = []

    def max_pool():
        pooled.append(backend.max_pool(x, case.pool, case.strides, case.padding))
        assert_exact(backend.to_numpy(pooled[0]), ref["max"].astype(dtype), what.format("max_pool"), dtype=dtype)
    fails.check("max_pool", max_pool)

    def max_pool_grad():
        p = pooled[0] if pooled else _device_copy(backend, ref["max"], dtype)
        got = backend.to_numpy(backend.max_pool_grad(x, p, g, case.pool, case.strides, case.padding))
        assert_close(got, ref["max_grad"][0], dot_bound(*ref["max_grad"], dtype), what.format("max_pool_grad"),
                     dtype=dtype)
    fails.check("max_pool_grad", max_pool_grad)
    fails.check("avg_pool", lambda: assert_close(
        backend.to_numpy(backend.avg_pool(x, case.pool, case.strides, case.padding)), ref["avg"][0],
        dot_bound(*ref["avg"], dtype), what.format("avg_pool"), dtype=dtype))
    fails.check("avg_pool_grad", lambda: assert_close(
        backend.to_numpy(backend.avg_pool_grad(g, tuple(hx.shape), case.pool, case.strides, case.padding)),
        ref["avg_grad"][0], dot_bound(*ref["avg_grad"], dtype), what.format("avg_pool_grad"), dtype=dtype))
    fails.finish()


# --- errors -------------------------------------------------------------------------------------------

_ERRORS = [
    ("causal-2d", lambda be, x4, k4, x3, k3: be.conv(x4, k4, 1, "causal"), "causal"),
    ("channels-mismatch", lambda be, x4, k4, x3, k3: be.conv(x4, be.zeros((3, 3, 3, 2), "float64")), "channels"),
    ("groups-do-not-divide", lambda be, x4, k4, x3, k3: be.conv(x4, k4, 1, "valid", 1, 2), "groups"),
    ("kernel-larger-than-valid-input", lambda be, x4, k4, x3, k3: be.conv(x4, be.zeros((7, 7, 2, 2), "float64")),
     "larger"),
    ("rank-mismatch", lambda be, x4, k4, x3, k3: be.conv(x3, k4), "rank"),
    ("bad-padding", lambda be, x4, k4, x3, k3: be.conv(x4, k4, 1, "full"), "padding"),
    ("strides-length", lambda be, x4, k4, x3, k3: be.conv(x4, k4, (1, 1, 1)), "strides"),
    ("output-padding-not-below-stride", lambda be, x4, k4, x3, k3: be.conv_transpose(x4, k4, 2, "valid", 2),
     "output_padding"),
    ("transpose-causal", lambda be, x4, k4, x3, k3: be.conv_transpose(x3, k3, 1, "causal"), "padding"),
    ("pool-larger-than-valid-input", lambda be, x4, k4, x3, k3: be.max_pool(x4, 6), "pool_size"),
    ("pool-causal", lambda be, x4, k4, x3, k3: be.avg_pool(x3, 2, None, "causal"), "padding"),
    ("grad-shape", lambda be, x4, k4, x3, k3: be.conv_input_grad(be.zeros((2, 5, 5, 2), "float64"), k4,
                                                                  (2, 5, 5, 2), 1, "valid"), "grad"),
]


@pytest.mark.parametrize("name,call,word", _ERRORS, ids=[e[0] for e in _ERRORS])
def test_conv_errors(backend, name, call, word):
    """Impossible geometries raise ValueError with one sentence naming the problem."""
    x4 = backend.zeros((2, 5, 5, 2), "float64")
    k4 = backend.zeros((3, 3, 2, 2), "float64")
    x3 = backend.zeros((2, 6, 2), "float64")
    k3 = backend.zeros((2, 2, 2), "float64")
    with pytest.raises(ValueError, match=word):
        call(backend, x4, k4, x3, k3)


# --- lamina.ops: forward, channels_first, gradients ---------------------------------------------------


def _t64(be, a):
    return ops.convert_to_tensor(be.asarray(np.asarray(a, dtype=np.float64)))


def _ref_depthwise(x, w, strides, padding, dilation):
    """Depthwise by its definition: output channel c*M + m = channel c convolved with w[..., c, m]."""
    outs = []
    for c in range(x.shape[-1]):
        for m in range(w.shape[-1]):
            outs.append(ref_conv(x[..., c:c + 1], w[..., c:c + 1, m:m + 1], strides, padding, dilation, 1))
    return np.concatenate(outs, axis=-1)


def test_ops_forward(backend):
    """Each lamina.ops function (float64, channels_last) equals its loop definition."""
    rng = rng_for("ops-forward")
    x = rng.uniform(-2, 2, (2, 6, 5, 3))
    k = rng.uniform(-1, 1, (3, 3, 3, 4))
    dw = rng.uniform(-1, 1, (3, 2, 3, 2))
    pw = rng.uniform(-1, 1, (1, 1, 6, 4))
    kt = rng.uniform(-1, 1, (3, 3, 3, 2))
    x1 = rng.uniform(-2, 2, (2, 8, 3))
    k1 = rng.uniform(-1, 1, (3, 3, 2))
    tol = 64 * eps("float64")
    fmt = "channels_last"
    depth = _ref_depthwise(x, dw, (2, 1), "same", (1, 1))
    cases = [
        ("conv", ops.conv(_t64(backend, x), _t64(backend, k), (2, 1), "same", fmt, 1),
         ref_conv(x, k, (2, 1), "same", (1, 1), 1)),
        ("conv-1d-causal", ops.conv(_t64(backend, x1), _t64(backend, k1), 1, "causal", fmt, 2),
         ref_conv(x1, k1, (1,), "causal", (2,), 1)),
        ("conv-groups-inferred", ops.conv(_t64(backend, x), _t64(backend, k[:, :, :1, :3]), 1, "valid", fmt),
         ref_conv(x, k[:, :, :1, :3], (1, 1), "valid", (1, 1), 3)),
        ("depthwise_conv", ops.depthwise_conv(_t64(backend, x), _t64(backend, dw), (2, 1), "same", fmt), depth),
        ("separable_conv",
         ops.separable_conv(_t64(backend, x), _t64(backend, dw), _t64(backend, pw), (2, 1), "same", fmt),
         ref_conv(depth, pw, (1, 1), "valid", (1, 1), 1)),
        ("conv_transpose", ops.conv_transpose(_t64(backend, x[..., :2]), _t64(backend, kt), 2, "same", None, fmt),
         ref_conv_transpose(x[..., :2], kt, (2, 2), "same", None, (1, 1))[0]),
        ("max_pool", ops.max_pool(_t64(backend, x), 2, None, "valid", fmt),
         ref_pools(x, None, (2, 2), (2, 2), "valid")["max"]),
        ("max_pool-strides", ops.max_pool(_t64(backend, x), (3, 2), (1, 2), "same", fmt),
         ref_pools(x, None, (3, 2), (1, 2), "same")["max"]),
        ("average_pool", ops.average_pool(_t64(backend, x), 3, 2, "same", fmt),
         ref_pools(x, None, (3, 3), (2, 2), "same")["avg"][0]),
    ]
    fails = Failures()
    for name, got, ref in cases:
        fails.check(name, lambda got=got, ref=ref, name=name: assert_close(
            got.numpy(), ref, tol * (np.abs(ref) + np.max(np.abs(ref))), f"ops.{name}", dtype="float64"))
    fails.finish()


_LAYOUT_CASES = [
    ("conv-2d", lambda x, k, f: ops.conv(x, k, (2, 1), "same", f, 1), (2, 5, 6, 3), (3, 2, 3, 4)),
    ("conv-1d-causal", lambda x, k, f: ops.conv(x, k, 1, "causal", f, 2), (2, 7, 3), (2, 3, 2)),
    ("conv-3d", lambda x, k, f: ops.conv(x, k, 1, "same", f), (1, 3, 4, 3, 2), (2, 2, 2, 2, 3)),
    ("conv-groups", lambda x, k, f: ops.conv(x, k, 1, "valid", f), (2, 5, 5, 4), (3, 3, 2, 4)),
    ("depthwise_conv", lambda x, k, f: ops.depthwise_conv(x, k, 1, "same", f), (2, 5, 5, 3), (3, 3, 3, 2)),
    ("conv_transpose", lambda x, k, f: ops.conv_transpose(x, k, 2, "valid", 1, f), (2, 3, 4, 2), (3, 3, 3, 2)),
    ("max_pool", lambda x, k, f: ops.max_pool(x, 2, None, "same", f), (2, 5, 5, 3), None),
    ("average_pool-1d", lambda x, k, f: ops.average_pool(x, 3, 1, "same", f), (2, 6, 3), None),
    ("max_pool-3d", lambda x, k, f: ops.max_pool(x, 2, 1, "valid", f), (1, 3, 3, 4, 2), None),
]


@pytest.mark.parametrize("name,fn,x_shape,k_shape", _LAYOUT_CASES, ids=[c[0] for c in _LAYOUT_CASES])
def test_ops_channels_first(backend, name, fn, x_shape, k_shape, dtype):
    """channels_first gives the channels_last result up to the layout change: values, and the
    input and kernel gradients (the kernel layout never changes)."""
    rng = rng_for("channels-first", name, dtype)
    hx = sample(distinct if "max_pool" in name else real(-2, 2), rng, x_shape, dtype)
    hk = None if k_shape is None else sample(real(-1, 1), rng, k_shape, dtype)
    hw = sample(real(-1, 1), rng, fn(_t64(backend, hx), None if hk is None else _t64(backend, hk),
                                      "channels_last").shape, dtype)
    results = {}
    for fmt in ("channels_last", "channels_first"):
        xv = backend.asarray(hx if fmt == "channels_last" else np.moveaxis(hx, -1, 1))
        wv = backend.asarray(hw if fmt == "channels_last" else np.moveaxis(hw, -1, 1))
        ts = [ops.convert_to_tensor(xv)] + ([] if hk is None else [ops.convert_to_tensor(backend.asarray(hk))])
        with ops.GradientTape() as tape:
            for t in ts:
                tape.watch(t)
            y = fn(ts[0], ts[1] if len(ts) > 1 else None, fmt)
            grads = tape.gradient(y, ts, output_gradients=wv)
        results[fmt] = [y.numpy()] + [g.numpy() for g in grads]
    last, first = results["channels_last"], results["channels_first"]
    back = [np.moveaxis(first[0], 1, -1), np.moveaxis(first[1], 1, -1)] + first[2:]
    for label, a, b in zip(("output", "input gradient", "kernel gradient"), last, back):
        bound = 8 * eps(dtype) * (np.abs(a.astype(np.float64)) + np.max(np.abs(a.astype(np.float64)), initial=0))
        assert_close(b, a.astype(np.float64), bound, f"ops.{name} {dtype} {label}: channels_first vs channels_last",
                     dtype=dtype)


@dataclass(frozen=True)
class OpsGradCase:
    name: str
    fn: object
    shapes: tuple
    distinct_first: bool = False  # max pooling: no ties, so the gradient is defined


OPS_GRAD_CASES = (
    OpsGradCase("conv-2d-same-stride2", lambda x, k: ops.conv(x, k, 2, "same"), ((2, 5, 5, 2), (3, 3, 2, 3))),
    OpsGradCase("conv-2d-valid-dilation", lambda x, k: ops.conv(x, k, 1, "valid", dilation_rate=(2, 1)),
                ((1, 6, 5, 2), (2, 3, 2, 2))),
    OpsGradCase("conv-1d-causal", lambda x, k: ops.conv(x, k, 1, "causal", dilation_rate=2), ((2, 6, 2), (3, 2, 3))),
    OpsGradCase("conv-3d-same", lambda x, k: ops.conv(x, k, (1, 2, 1), "same"), ((1, 3, 4, 3, 2), (2, 2, 2, 2, 2))),
    OpsGradCase("conv-groups2", lambda x, k: ops.conv(x, k, 1, "same"), ((1, 4, 4, 4), (2, 2, 2, 4))),
    OpsGradCase("conv-channels-first", lambda x, k: ops.conv(x, k, 1, "same", "channels_first"),
                ((2, 3, 4, 4), (3, 3, 3, 2))),
    OpsGradCase("depthwise_conv", lambda x, k: ops.depthwise_conv(x, k, 1, "same"), ((2, 4, 4, 2), (3, 3, 2, 2))),
    OpsGradCase("separable_conv", lambda x, d, p: ops.separable_conv(x, d, p, 1, "valid"),
                ((1, 4, 4, 2), (2, 2, 2, 2), (1, 1, 4, 3))),
    OpsGradCase("conv_transpose-same", lambda x, k: ops.conv_transpose(x, k, 2, "same"), ((2, 3, 3, 2), (3, 3, 3, 2))),
    OpsGradCase("conv_transpose-valid-output_padding-channels-first",
                lambda x, k: ops.conv_transpose(x, k, 2, "valid", 1, "channels_first"), ((1, 2, 3, 2), (2, 3, 2, 2))),
    OpsGradCase("max_pool-2d", lambda x: ops.max_pool(x, 2), ((2, 4, 5, 2),), True),
    OpsGradCase("max_pool-3x3-stride2-same", lambda x: ops.max_pool(x, 3, 2, "same"), ((1, 5, 5, 2),), True),
    OpsGradCase("max_pool-1d-channels-first", lambda x: ops.max_pool(x, 2, 1, "valid", "channels_first"),
                ((2, 2, 5),), True),
    OpsGradCase("average_pool-same", lambda x: ops.average_pool(x, 3, 2, "same"), ((2, 5, 4, 2),)),
    OpsGradCase("average_pool-3d-channels-first", lambda x: ops.average_pool(x, 2, 1, "valid", "channels_first"),
                ((1, 2, 3, 3, 3),)),
)


@pytest.mark.parametrize("case", OPS_GRAD_CASES, ids=[c.name for c in OPS_GRAD_CASES])
def test_ops_gradient(backend, case):
    """The tape's gradient (through the backend's *_grad methods) vs float64 central differences."""
    rng = rng_for("conv-grad", case.name)
    arrays = [distinct(rng, s) if (i == 0 and case.distinct_first) else rng.uniform(-1, 1, s)
              for i, s in enumerate(case.shapes)]
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    y0 = case.fn(*[_t64(backend, a) for a in arrays]).numpy()
    w = rng.standard_normal(y0.shape)
    y, grads = tape_gradient(backend, case.fn, arrays, w)
    fails = Failures()
    for i, g in enumerate(grads):
        def one(i=i, g=g):
            assert g is not None, f"{case.name}: no gradient for input {i}"
            num = numerical_gradient(backend, case.fn, arrays, i, w)
            scale = max(1.0, float(np.max(np.abs(num))))
            assert_close(g.numpy(), num, RTOL * np.abs(num) + ATOL * scale,
                         f"d {case.name} / d input{i} (tape vs finite differences)", dtype="float64")
        fails.check(f"input{i}", one)
    fails.finish()
