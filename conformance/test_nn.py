"""softmax / log_softmax / sigmoid / softplus: accuracy and numerical stability with extreme
inputs (logits of 1e4, probabilities far below float32's resolution)."""
from __future__ import annotations


import numpy as np
import pytest

import lamina.ops as ops

from ._cases import ref_log_softmax, ref_sigmoid, ref_softmax
from ._checks import Failures, assert_close, eps, require, sqrt_n, tiny
from ._inputs import STRIDED, Layout, real, rng_for


def softmax_bound(x64, axis, ref, dtype):
    """p_i * eps * 4 (|x_i| + max|x| + sqrt(n)): the condition number of softmax under a relative
    eps perturbation of the inputs, plus the rounding of the normalising sum."""
    n = x64.shape[axis] if x64.ndim else 1
    big = np.max(np.abs(x64), axis=axis, keepdims=True) if x64.size else 0.0
    return 4 * eps(dtype) * ref * (np.abs(x64) + big + sqrt_n(n)) + 2 * tiny(dtype)


def log_softmax_bound(x64, axis, ref, dtype):
    n = x64.shape[axis] if x64.ndim else 1
    big = np.max(np.abs(x64), axis=axis, keepdims=True) if x64.size else 0.0
    return 4 * eps(dtype) * (np.abs(x64) + big + np.abs(ref) + sqrt_n(n))


def _inputs():
    # (label, layout, axis, scale): values are uniform in [-scale, scale]
    return [
        ("vector", Layout("x", (9,)), -1, 5.0),
        ("rows", Layout("x", (4, 7)), -1, 5.0),
        ("columns", Layout("x", (4, 7)), 0, 5.0),
        ("3-d-axis1", Layout("x", (2, 5, 3)), 1, 5.0),
        ("transposed", Layout("x", (6, 4), transpose=True), -1, 5.0),
        ("strided", Layout("x", (3, 12), key=STRIDED), -1, 5.0),
        ("empty-batch", Layout("x", (0, 5)), -1, 5.0),
        ("logits-1e4", Layout("x", (5, 10)), -1, 1e4),
        ("logits-1e4-axis0", Layout("x", (10, 5)), 0, 1e4),
        ("logits-100", Layout("x", (5, 10)), -1, 100.0),
    ]


def _rows_sum_to_one(got, axis, dtype, what):
    n = got.shape[axis]
    s = np.sum(got.astype(np.float64), axis=axis)
    require(np.abs(s - 1.0) <= 4 * eps(dtype) * (n + 1),
            f"{what}: rows must sum to 1, max |sum - 1| = {np.max(np.abs(s - 1.0)) if s.size else 0:.3g}")


def test_softmax(backend, dtype):
    rng = rng_for("softmax", dtype)
    fails = Failures()
    for label, layout, axis, scale in _inputs():
        def one(label=label, layout=layout, axis=axis, scale=scale):
            x, hx = layout.make(backend, real(-scale, scale), rng, dtype)
            got = backend.to_numpy(backend.softmax(x, axis=axis))
            what = f"softmax {dtype} [{label}, axis={axis}]"
            require(np.isfinite(got), f"{what}: non-finite values, e.g. {got[~np.isfinite(got)][:4]}")
            x64 = hx.astype(np.float64)
            ref = ref_softmax(x64, axis)
            assert_close(got, ref, softmax_bound(x64, axis, ref, dtype), what, dtype=dtype)
            _rows_sum_to_one(got, axis, dtype, what)
        fails.check(label, one)
    fails.finish()


def test_softmax_default_axis_is_last(backend, dtype):
    hx = np.asarray([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype)
    got = backend.to_numpy(backend.softmax(backend.asarray(hx)))
    ref = ref_softmax(hx.astype(np.float64), -1)
    assert_close(got, ref, softmax_bound(hx.astype(np.float64), -1, ref, dtype), "softmax default axis", dtype=dtype)


@pytest.mark.parametrize("logit", [1e4, -1e4, 3e38])
def test_softmax_equal_huge_logits(backend, dtype, logit):
    """A row of equal huge logits is exactly uniform (exp(x - max) = 1 everywhere)."""
    hx = np.full((2, 4), logit, dtype)
    got = backend.to_numpy(backend.softmax(backend.asarray(hx)))
    assert_close(got, np.full((2, 4), 0.25), 4 * eps(dtype) * 0.25, f"softmax of equal logits {logit:g}", dtype=dtype)


def test_log_softmax(backend, dtype):
    rng = rng_for("log_softmax", dtype)
    fails = Failures()
    for label, layout, axis, scale in _inputs():
        def one(label=label, layout=layout, axis=axis, scale=scale):
            x, hx = layout.make(backend, real(-scale, scale), rng, dtype)
            got = backend.to_numpy(backend.log_softmax(x, axis=axis))
            what = f"log_softmax {dtype} [{label}, axis={axis}]"
            require(np.isfinite(got), f"{what}: non-finite values (log_softmax must be finite for finite input)")
            x64 = hx.astype(np.float64)
            ref = ref_log_softmax(x64, axis)
            assert_close(got, ref, log_softmax_bound(x64, axis, ref, dtype), what, dtype=dtype)
        fails.check(label, one)
    fails.finish()


def test_log_softmax_spread_1e4(backend, dtype):
    """[0, 1e4]: log-probabilities -1e4 and 0, both finite (a naive log(softmax) gives -inf)."""
    hx = np.asarray([[0.0, 1e4], [-1e4, 1e4]], dtype)
    got = backend.to_numpy(backend.log_softmax(backend.asarray(hx)))
    ref = np.asarray([[-1e4, 0.0], [-2e4, 0.0]])
    require(np.isfinite(got), f"log_softmax with a 1e4 spread must be finite, got {got}")
    assert_close(got, ref, log_softmax_bound(hx.astype(np.float64), -1, ref, dtype), "log_softmax 1e4 spread", dtype=dtype)


def test_sigmoid_tails(backend, dtype, quiet_numpy):
    """sigmoid(x) for very negative x is a tiny but relative-accurate probability.

    float64: sigmoid(-100) = 3.72e-44, a normal float64 — must be > 0 and within 8 eps relative.
    float32: sigmoid(-100) is below float32's smallest normal (1.18e-38) — a device may flush
    subnormals to zero — so the float32 check uses sigmoid(-80) = 1.8e-35 (normal) instead."""
    xs = [-100.0, -700.0, -30.0, 30.0, 100.0] if dtype == "float64" else [-80.0, -30.0, -17.0, 17.0, 80.0]
    got = backend.to_numpy(backend.sigmoid(backend.asarray(np.asarray(xs, dtype))))
    ref = ref_sigmoid(np.asarray(xs))
    assert got[0] > 0, f"sigmoid({xs[0]}) must be > 0 in {dtype}, got {got[0]}"
    assert_close(got, ref, 8 * eps(dtype) * ref + 2 * tiny(dtype), f"sigmoid tails {dtype}", dtype=dtype)
    assert got[-1] == 1.0


def test_ops_softplus_extremes(backend, dtype):
    """softplus(1000) = 1000 exactly, softplus(-1000) = 0, softplus(-80) relative-accurate."""
    xs = np.asarray([1000.0, -1000.0, -80.0, 0.0, 40.0], dtype)
    got = ops.softplus(ops.convert_to_tensor(backend.asarray(xs))).numpy()
    ref = np.logaddexp(0.0, xs.astype(np.float64))
    assert got[0] == 1000.0, f"softplus(1000) must be 1000, got {got[0]}"
    assert got[1] == 0.0
    assert_close(got, ref, 8 * eps(dtype) * np.abs(ref) + 2 * tiny(dtype), f"softplus extremes {dtype}", dtype=dtype)


def test_ops_softmax_family_large_logits(backend, dtype):
    """Through lamina.ops, forward and gradient stay finite and correct at logits of 1e4."""
    hx = np.asarray([[1e4, 1e4 - 1.0, -1e4, 0.0], [-1e4, -1e4 + 2.0, -1e4 + 1.0, -1e4]], dtype)
    x = ops.convert_to_tensor(backend.asarray(hx))
    x64 = hx.astype(np.float64)
    w = np.asarray([[1.0, -2.0, 0.5, 3.0], [0.0, 1.0, -1.0, 2.0]], dtype)
    for name, ref_fn in (("softmax", ref_softmax), ("log_softmax", ref_log_softmax)):
        with ops.GradientTape() as tape:
            tape.watch(x)
            y = getattr(ops, name)(x)
            loss = ops.sum(ops.multiply(y, ops.convert_to_tensor(backend.asarray(w))))
            g = tape.gradient(loss, x).numpy()
        out = y.numpy()
        require(np.isfinite(out), f"ops.{name} at 1e4 logits: non-finite output {out}")
        require(np.isfinite(g), f"ops.{name} at 1e4 logits: non-finite gradient {g}")
        ref = ref_fn(x64, -1)
        bound = (softmax_bound if name == "softmax" else log_softmax_bound)(x64, -1, ref, dtype)
        assert_close(out, ref, bound, f"ops.{name} large logits {dtype}", dtype=dtype)
        p = ref_softmax(x64, -1)
        gy = w.astype(np.float64)
        gref = p * (gy - np.sum(gy * p, -1, keepdims=True)) if name == "softmax" else gy - p * np.sum(gy, -1, keepdims=True)
        assert_close(g, gref, 16 * eps(dtype) * (np.abs(gref) + 1e4 * p * np.max(np.abs(gy)) + np.max(np.abs(gy))),
                     f"ops.{name} gradient at large logits {dtype}", dtype=dtype)


# --- lstm_cell_grad: one LSTM step's backward pass --------------------------------------------------

def _lstm_cell_grad_reference(i, f, g, o, tc, c, gh, gc):
    """The float64 gradients (dz blocks i, f, c, o and the carry's) and, beside each, the same
    expression with every term made non-negative: the scale its rounding error is relative to."""
    zero = np.zeros_like(i)
    gh = zero if gh is None else gh
    gc = zero if gc is None else gc
    dc = gh * o * (1 - tc * tc) + gc
    mag_dc = np.abs(gh * o) * (1 + tc * tc) + np.abs(gc)
    values = [dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g), gh * tc * o * (1 - o), dc * f]
    scales = [mag_dc * np.abs(g) * i * (1 + i), mag_dc * np.abs(c) * f * (1 + f), mag_dc * i * (1 + g * g),
              np.abs(gh * tc) * o * (1 + o), mag_dc * f]
    return values, scales


@pytest.mark.parametrize("grads", ["h-and-c", "h-only", "c-only"])
def test_lstm_cell_grad(backend, dtype, grads):
    """Each of the five results within a few eps of the float64 value (relative to the scale of its
    terms, since 1 - y^2 cancels near y = +-1), for the LSTM layer's layout ((batch, units) gates,
    gate blocks along the last axis of dz, contiguous and strided inputs) and ConvLSTM2D's
    (channels-first blocks along axis 1)."""
    rng = rng_for("lstm_cell_grad", dtype, grads)
    fails = Failures()
    cases = [("rows", (5, 3), -1, False), ("rows-strided", (4, 6), -1, True), ("one-unit", (3, 1), 1, False),
             ("empty-batch", (0, 2), -1, False), ("channels-axis1", (2, 3, 4, 2), 1, False)]
    for label, shape, axis, strided in cases:
        def one(label=label, shape=shape, axis=axis, strided=strided):
            ax = axis % len(shape)

            def make(lo, hi):
                host = rng.uniform(lo, hi, size=(shape[::-1] if strided else shape)).astype(dtype)
                arr = backend.asarray(host)
                return (backend.transpose(arr), host.T) if strided else (arr, host)

            (i, hi_), (f, hf), (o, ho) = make(0.01, 0.99), make(0.01, 0.99), make(0.01, 0.99)
            (g, hg), (tc, htc) = make(-0.999, 0.999), make(-0.999, 0.999)
            (c, hc), (gh, hgh), (gc, hgc) = make(-3, 3), make(-2, 2), make(-2, 2)
            if grads == "c-only":
                gh = hgh = None
            if grads == "h-only":
                gc = hgc = None
            dz_shape = shape[:ax] + (4 * shape[ax],) + shape[ax + 1:]
            dz = backend.empty(dz_shape, dtype)
            prev = backend.lstm_cell_grad(i, f, g, o, tc, c, gh, gc, dz, axis=axis)
            got_dz = backend.to_numpy(dz)
            host = [a.astype(np.float64) if a is not None else None for a in (hi_, hf, hg, ho, htc, hc, hgh, hgc)]
            values, scales = _lstm_cell_grad_reference(*host)
            units = shape[ax]
            for k, name in enumerate(("dz_i", "dz_f", "dz_c", "dz_o")):
                block = got_dz[(slice(None),) * ax + (slice(k * units, (k + 1) * units),)]
                bound = 8 * eps(dtype) * scales[k] + 2 * tiny(dtype)
                assert_close(block, values[k], bound, f"lstm_cell_grad {dtype} [{label}, {grads}] {name}", dtype=dtype)
            got_prev = backend.to_numpy(prev)
            require(got_prev.shape == shape, f"lstm_cell_grad [{label}]: carry gradient of shape {got_prev.shape}, "
                                             f"expected {shape}")
            assert_close(got_prev, values[4], 8 * eps(dtype) * scales[4] + 2 * tiny(dtype),
                         f"lstm_cell_grad {dtype} [{label}, {grads}] carry", dtype=dtype)
        fails.check(label, one)
    fails.finish()


def test_lstm_cell_grad_needs_a_gradient(backend):
    z = backend.zeros((2, 3), "float32")
    with pytest.raises(ValueError, match="gh.*gc"):
        backend.lstm_cell_grad(z, z, z, z, z, z, None, None, backend.empty((2, 12), "float32"))


def test_lstm_cell_forward(backend, dtype, quiet_numpy):
    """Each output of one LSTM step against float64, computed from the backend's own earlier outputs
    so every step's rounding is checked on its own: the gates within a few eps of sigmoid and tanh,
    ``c_new = f * c + i * g`` within a few eps of its terms' sizes, then ``tanh(c_new)`` and ``h``;
    ``h`` lands in ``h_out`` when one is given."""
    rng = rng_for("lstm_cell_forward", dtype)
    fails = Failures()
    cases = [("rows", (5, 3), -1, False, False), ("rows-transposed-z", (4, 6), -1, True, False),
             ("into-h_out", (3, 2), -1, False, True), ("empty-batch", (0, 2), -1, False, False),
             ("channels-axis1", (2, 3, 4, 2), 1, False, False)]
    for label, shape, axis, strided, into in cases:
        def one(label=label, shape=shape, axis=axis, strided=strided, into=into):
            ax = axis % len(shape)
            units = shape[ax]
            z_shape = shape[:ax] + (4 * units,) + shape[ax + 1:]
            hz = rng.uniform(-6, 6, size=(z_shape[::-1] if strided else z_shape)).astype(dtype)
            z = backend.transpose(backend.asarray(hz)) if strided else backend.asarray(hz)
            hz = hz.T if strided else hz
            hc = rng.uniform(-3, 3, size=shape).astype(dtype)
            out = backend.zeros(shape, dtype) if into else None
            res = backend.lstm_cell_forward(z, backend.asarray(hc), axis=axis, h_out=out)
            got = [backend.to_numpy(a) for a in res]
            require(all(a.dtype == np.dtype(dtype) and a.shape == shape for a in got),
                    f"lstm_cell_forward [{label}]: outputs {[(a.dtype, a.shape) for a in got]}, expected {dtype} {shape}")
            i, f, g, o, c_new, tc, h = (a.astype(np.float64) for a in got)
            gi, gf, gg, go, gc_new, gtc, gh = got
            what = f"lstm_cell_forward {dtype} [{label}]"
            z64 = hz.astype(np.float64)

            def blk(k):
                return z64[(slice(None),) * ax + (slice(k * units, (k + 1) * units),)]

            for name, value, ref in (("i", gi, ref_sigmoid(blk(0))), ("f", gf, ref_sigmoid(blk(1))),
                                     ("o", go, ref_sigmoid(blk(3)))):
                assert_close(value, ref, 8 * eps(dtype) * ref + 2 * tiny(dtype), f"{what} {name}", dtype=dtype)
            ref_g = np.tanh(blk(2))
            assert_close(gg, ref_g, 8 * eps(dtype) * np.abs(ref_g) + 2 * tiny(dtype), f"{what} g", dtype=dtype)
            c64 = hc.astype(np.float64)
            size = np.abs(f * c64) + np.abs(i * g)
            assert_close(gc_new, f * c64 + i * g, 4 * eps(dtype) * size + 2 * tiny(dtype), f"{what} c_new", dtype=dtype)
            ref_tc = np.tanh(c_new)
            assert_close(gtc, ref_tc, 8 * eps(dtype) * np.abs(ref_tc) + 2 * tiny(dtype), f"{what} tanh(c_new)",
                         dtype=dtype)
            assert_close(gh, o * tc, 2 * eps(dtype) * np.abs(o * tc) + 2 * tiny(dtype), f"{what} h", dtype=dtype)
            if into:
                require(np.array_equal(backend.to_numpy(out), backend.to_numpy(res[6])), f"{what}: h_out not written")
        fails.check(label, one)
    fails.finish()


def test_gru_cell_grad(backend, dtype):
    """The six gate-block gradients and the direct path ``dh * z`` of one GRU step within 8 eps of
    the scale of their terms, for the GRU layer's layout (``inner_h`` a block of the recurrent
    product), contiguous and transposed inputs, one unit and an empty batch."""
    rng = rng_for("gru_cell_grad", dtype)
    fails = Failures()
    for label, shape, strided in [("rows", (5, 3), False), ("transposed", (4, 6), True), ("one-unit", (3, 1), False),
                                  ("empty-batch", (0, 2), False)]:
        def one(label=label, shape=shape, strided=strided):
            batch, units = shape

            def make(lo, hi):
                host = rng.uniform(lo, hi, size=(shape[::-1] if strided else shape)).astype(dtype)
                arr = backend.asarray(host)
                return (backend.transpose(arr), host.T) if strided else (arr, host)

            (z, hz), (r, hr) = make(0.01, 0.99), make(0.01, 0.99)
            (hh, hhh), (h_prev, hhp), (dh, hdh) = make(-0.999, 0.999), make(-3, 3), make(-2, 2)
            h_inner = rng.uniform(-3, 3, size=(batch, 3 * units)).astype(dtype)
            inner_h = backend.asarray(h_inner)[:, 2 * units:]
            dx, du = backend.empty((batch, 3 * units), dtype), backend.empty((batch, 3 * units), dtype)
            direct = backend.gru_cell_grad(z, r, hh, inner_h, h_prev, dh, dx, du)
            z64, r64, hh64, hp64, dh64 = (a.astype(np.float64) for a in (hz, hr, hhh, hhp, hdh))
            ih64 = h_inner[:, 2 * units:].astype(np.float64)
            d_pre_h = dh64 * (1 - z64) * (1 - hh64 * hh64)
            mag_pre_h = np.abs(dh64) * (1 + z64) * (1 + hh64 * hh64)
            d_z = dh64 * (hp64 - hh64) * z64 * (1 - z64)
            mag_z = np.abs(dh64) * (np.abs(hp64) + np.abs(hh64)) * z64 * (1 + z64)
            d_r = d_pre_h * ih64 * r64 * (1 - r64)
            mag_r = mag_pre_h * np.abs(ih64) * r64 * (1 + r64)
            got_dx, got_du = backend.to_numpy(dx), backend.to_numpy(du)
            what = f"gru_cell_grad {dtype} [{label}]"
            checks = [("dx_z", got_dx[:, :units], d_z, mag_z), ("dx_r", got_dx[:, units:2 * units], d_r, mag_r),
                      ("dx_h", got_dx[:, 2 * units:], d_pre_h, mag_pre_h), ("du_z", got_du[:, :units], d_z, mag_z),
                      ("du_r", got_du[:, units:2 * units], d_r, mag_r),
                      ("du_h", got_du[:, 2 * units:], d_pre_h * r64, mag_pre_h * r64),
                      ("direct", backend.to_numpy(direct), dh64 * z64, np.abs(dh64 * z64))]
            for name, got, ref, scale in checks:
                assert_close(got, ref, 8 * eps(dtype) * scale + 2 * tiny(dtype), f"{what} {name}", dtype=dtype)
        fails.check(label, one)
    fails.finish()


def test_gru_cell_forward(backend, dtype, quiet_numpy):
    """Each output of one GRU step against float64 computed from the backend's own earlier outputs
    (so each step's rounding is checked alone): the gates within a few eps of sigmoid, the
    candidate of tanh, ``h_new = z h + (1 - z) hh`` within a few eps of its terms' sizes; ``inner_h``
    is ``inner``'s h block, and ``h_new`` lands in ``h_out`` when one is given."""
    rng = rng_for("gru_cell_forward", dtype)
    fails = Failures()
    for label, shape, transposed, into in [("rows", (5, 3), False, False), ("transposed-x", (4, 6), True, False),
                                           ("into-h_out", (3, 2), False, True), ("empty-batch", (0, 2), False, False)]:
        def one(label=label, shape=shape, transposed=transposed, into=into):
            batch, units = shape
            hx = rng.uniform(-6, 6, size=((3 * units, batch) if transposed else (batch, 3 * units))).astype(dtype)
            x = backend.transpose(backend.asarray(hx)) if transposed else backend.asarray(hx)
            hx = hx.T if transposed else hx
            hinner = rng.uniform(-4, 4, size=(batch, 3 * units)).astype(dtype)
            hh_prev = rng.uniform(-1, 1, size=shape).astype(dtype)
            out = backend.zeros(shape, dtype) if into else None
            res = backend.gru_cell_forward(x, backend.asarray(hinner), backend.asarray(hh_prev), h_out=out)
            got = [backend.to_numpy(a) for a in res]
            require(all(a.dtype == np.dtype(dtype) and a.shape == shape for a in got),
                    f"gru_cell_forward [{label}]: outputs {[(a.dtype, a.shape) for a in got]}, expected {dtype} {shape}")
            z, r, hh, inner_h, h_new = (a.astype(np.float64) for a in got)
            x64, in64, h64 = hx.astype(np.float64), hinner.astype(np.float64), hh_prev.astype(np.float64)
            what = f"gru_cell_forward {dtype} [{label}]"
            require(np.array_equal(got[3], hinner[:, 2 * units:]), f"{what}: inner_h is not inner's h block")
            for name, value, pre in (("z", got[0], x64[:, :units] + in64[:, :units]),
                                     ("r", got[1], x64[:, units:2 * units] + in64[:, units:2 * units])):
                ref = ref_sigmoid(pre)
                assert_close(value, ref, 8 * eps(dtype) * ref + 2 * tiny(dtype) + 4 * eps(dtype) * np.abs(pre) * ref,
                             f"{what} {name}", dtype=dtype)
            pre_h = x64[:, 2 * units:] + r * in64[:, 2 * units:]
            ref_hh = np.tanh(pre_h)
            scale_h = np.abs(x64[:, 2 * units:]) + np.abs(r * in64[:, 2 * units:])
            assert_close(got[2], ref_hh, 8 * eps(dtype) * (np.abs(ref_hh) + scale_h) + 2 * tiny(dtype), f"{what} hh",
                         dtype=dtype)
            size = np.abs(z * h64) + (1 + z) * np.abs(hh)
            assert_close(got[4], z * h64 + (1 - z) * hh, 4 * eps(dtype) * size + 2 * tiny(dtype), f"{what} h_new",
                         dtype=dtype)
            if into:
                require(np.array_equal(backend.to_numpy(out), got[4]), f"{what}: h_out not written")
        fails.check(label, one)
    fails.finish()
