"""Tests of the CuPy backend (backend_cupy/lamina_cupy).

Most run on any machine, GPU or not:

* importing lamina_cupy needs no CuPy; a missing CuPy, a CuPy without a GPU, a device number out
  of range each stop with one clear sentence (CuPy is replaced by a fake module);
* every kernels/*.cu file compiles with ``nvcc -arch=sm_90 --ptx`` (and with CuPy's NVRTC, the
  compiler the backend really uses, where that is installed);
* the Philox arithmetic of kernels/philox.cu, compiled as host C++ into a small program, gives
  the words, uniforms and dropout masks of lamina.backends.philox bit for bit;
* the backend's Python side runs against a fake CuPy (NumPy arrays; each kernel launch is checked
  against the kernel's C signature, then emulated), so argument order and scalar types of every
  launch, the fallback when a kernel fails and the settings are tested without a GPU.

The tests marked ``gpu`` need CuPy and a CUDA GPU and are skipped otherwise; they compare every
op the backend overrides with the NumPy backend.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zlib
import types
from pathlib import Path

import numpy as np
import pytest

import lamina.backends as backends
import lamina_cupy
from lamina import _config
from lamina.backends import BackendUnavailableError, philox
from lamina.backends.base import ArrayBackend
from lamina_numpy import NumpyBackend
from lamina_cupy import _availability, _kernels

from conformance._updates import RULES, apply_update

KERNEL_DIR = Path(lamina_cupy.__file__).resolve().parent / "kernels"
CU_FILES = sorted(KERNEL_DIR.glob("*.cu"))
NVCC = shutil.which("nvcc")
MASK64 = (1 << 64) - 1

# =================================================================================================
# Environment isolation
# =================================================================================================


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    """No stray settings: each test sees an empty config folder and no Lamina/CuPy variables."""
    for var in ("LAMINA_BACKEND", "LAMINA_DEVICE", "LAMINA_GPU_MEMORY_LIMIT", "LAMINA_ALLOW_TF32",
                "LAMINA_CUPY_FUSED", "LAMINA_CUDA_GRAPHS", "CUPY_TF32", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "lamina_home"))
    _config.reset()
    yield
    _config.reset()


# =================================================================================================
# Import and availability errors
# =================================================================================================


def test_import_needs_no_cupy():
    code = ("import sys; sys.modules['cupy'] = None\n"
            "import lamina_cupy\n"
            "assert lamina_cupy.CupyBackend.name == 'cupy'\n"
            "assert sys.modules['cupy'] is None\n"
            "print('ok')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_importing_lamina_cupy_does_not_import_cupy():
    code = "import sys, lamina_cupy; print('cupy' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_missing_cupy_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` now fails as if not installed
    monkeypatch.setenv("LAMINA_BACKEND", "cupy")
    with pytest.raises(BackendUnavailableError) as info:
        lamina_cupy.CupyBackend()
    message = str(info.value)
    assert message.startswith("LAMINA_BACKEND=cupy asks for the CuPy GPU backend")
    assert "CuPy is not installed" in message
    assert "pip install 'lamina[cupy]'" in message
    assert "cupy-cudaXXx" in message and "LAMINA_BACKEND=numpy" in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence


def test_registry_surfaces_missing_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(backends, "_instances", {})
    with pytest.raises(BackendUnavailableError, match=r"CuPy is not installed.*pip install 'lamina\[cupy\]'"):
        backends.get_backend("cupy")
    assert "cupy" not in backends._instances
    monkeypatch.setenv("LAMINA_BACKEND", "cupy")
    monkeypatch.setattr(backends, "_active", None)
    with pytest.raises(BackendUnavailableError, match=r"^LAMINA_BACKEND=cupy asks for"):
        backends.current()


class _FailingCupyFinder:
    """A meta-path finder that makes `import cupy` fail the way a broken install does."""

    def __init__(self, error):
        self.error = error

    def find_spec(self, name, path=None, target=None):
        if name == "cupy":
            raise self.error
        return None


@pytest.mark.parametrize("error", [
    ImportError("libnvrtc.so.13: cannot open shared object file"),
    ModuleNotFoundError("No module named 'cupy_backends'", name="cupy_backends"),
], ids=["missing-library", "missing-submodule"])
def test_broken_cupy_install_is_reported(monkeypatch, error):
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_FailingCupyFinder(error)] + sys.meta_path)
    with pytest.raises(BackendUnavailableError) as info:
        lamina_cupy.CupyBackend()
    message = str(info.value)
    assert "failed to import" in message and str(error) in message
    assert "reinstall it with pip install 'lamina[cupy]'" in message


# --- a fake CuPy: NumPy pretending to be CuPy ------------------------------------------------------

_C_TYPES = {  # C parameter type → what a launch must pass
    "float*": np.float32, "double*": np.float64, "lamina_u64*": np.uint64,
    "unsigned long long*": np.uint64, "unsigned char*": np.bool_,
    "float": np.float32, "double": np.float64, "lamina_u64": np.uint64,
    "unsigned long long": np.uint64, "int": np.int32, "unsigned": np.uint32, "long long*": np.int64,
}
_KERNEL_DECL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.S)


def kernel_signatures(code: str) -> dict[str, list[tuple[str, bool, bool]]]:
    """name → [(C type without const and __restrict__, is_pointer, is_const)] for each extern "C" kernel."""
    found = {}
    for name, params in _KERNEL_DECL.findall(code):
        parsed = []
        for param in params.split(","):
            decl = " ".join(param.replace("*", " * ").split())
            words = decl.split(" ")[:-1]  # drop the parameter name
            const = "const" in words
            ctype = " ".join(w for w in words if w not in ("const", "__restrict__")).replace(" *", "*")
            assert ctype in _C_TYPES, f"{name}: unknown parameter type {ctype!r}"
            parsed.append((ctype, ctype.endswith("*"), const))
        found[name] = parsed
    return found


def _words(k0, k1, d0, d1, d2, n):
    return philox.philox_words(int(k0) | int(k1) << 64, int(d0) | int(d1) << 64 | int(d2) << 128,
                               int(n))


def _emulate_sgd(p, g, vel, n, lr, m, mode):
    if mode == 0:
        p -= lr * g
        return
    step = g * lr
    vel *= m
    vel -= step
    if mode == 2:
        p += vel * m
        p -= step
    else:
        p += vel


def _emulate_adam(p, g, m, v, vhat, n, alpha, c1, c2, eps, amsgrad):
    m += (g - m) * c1
    v += (g * g - v) * c2
    second = v
    if amsgrad:
        np.maximum(vhat, v, out=vhat)
        second = vhat
    p -= alpha * m / (np.sqrt(second) + eps)


def _emulate_rmsprop(p, g, vel, n, lr, rho, c, eps):
    vel *= rho
    vel += c * (g * g)
    p -= lr * g / np.sqrt(vel + eps)


def _emulate_adadelta(p, g, acc_grad, acc_delta, n, lr, rho, c, eps):
    acc_grad *= rho
    acc_grad += (g * g) * c
    d = np.sqrt(acc_delta + eps) * g / np.sqrt(acc_grad + eps)
    acc_delta *= rho
    acc_delta += (d * d) * c
    p -= d * lr


def _emulate_sigmoid(x, out, n):
    e = np.exp(-np.abs(x))
    out[...] = np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _emulate_erf(x, out, n):
    out[...] = np.frompyfunc(math.erf, 1, 1)(x.astype(np.float64)).astype(np.float64)


def _emulate_uniform(k0, k1, d0, d1, d2, out, n, lo, span):
    w = _words(k0, k1, d0, d1, d2, n)
    if out.dtype == np.float64:
        u = (w >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    else:
        u = (w >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    out[...] = lo + span * u


def _keep(k0, k1, d0, d1, d2, n, s, thr):
    """Dropout keep bits as the kernels define them: element i reads bits [s i, s i + s) of the
    draw's words (bit k = bit k % 64 of word k // 64) and is kept when they reach ``thr``."""
    s = int(s)
    w = _words(k0, k1, d0, d1, d2, (int(n) * s + 63) // 64)
    first = np.arange(int(n), dtype=np.uint64) * np.uint64(s)
    slots = (w[first // np.uint64(64)] >> (first % np.uint64(64))) & np.uint64((1 << s) - 1)
    return slots >= np.uint64(thr)


def _emulate_update_many(*args, planes):
    """lamina_update_many_f32: the rule's one-parameter emulation for each of the grid's planes."""
    a, b, c, d, rule, flag = args[48:]
    for k in range(planes):
        p, g, u, v, w, n = args[6 * k:6 * k + 6]
        if rule == 0:
            _emulate_sgd(p, g, u, n, a, b, flag)
        elif rule == 1:
            _emulate_adam(p, g, u, v, w, n, a, b, c, d, flag)
        else:
            _emulate_rmsprop(p, g, u, n, a, b, c, d)


def _emulated_sigmoid(x):
    out = np.empty_like(x)
    _emulate_sigmoid(x, out, x.size)
    return out


def _emulate_lstm_forward(z, c, i, f, g, o, c_new, tc, h, n, units):
    u = int(units)
    zz = z.reshape(-1, 4 * u)
    i[...], f[...] = _emulated_sigmoid(zz[:, :u]).reshape(i.shape), _emulated_sigmoid(zz[:, u:2 * u]).reshape(f.shape)
    g[...], o[...] = np.tanh(zz[:, 2 * u:3 * u]).reshape(g.shape), _emulated_sigmoid(zz[:, 3 * u:]).reshape(o.shape)
    c_new[...] = f * c + i * g
    tc[...] = np.tanh(c_new)
    h[...] = o * tc


def _emulate_lstm_grad(i, f, g, o, tc, c, gh, gc, dz, dprev, n, units, has):
    u = int(units)
    blocks = [dz.reshape(-1, 4 * u)[:, k * u:(k + 1) * u] for k in range(4)]
    one = dz.dtype.type(1)
    if has & 1:
        dc = (gh * o) * (one - tc * tc)
        if has & 2:
            dc = dc + gc
        blocks[3][...] = (gh * tc) * (o * (one - o))
    else:
        dc = gc.copy()
        blocks[3][...] = 0
    blocks[0][...] = (dc * g) * (i * (one - i))
    blocks[1][...] = (dc * c) * (f * (one - f))
    blocks[2][...] = (dc * i) * (one - g * g)
    dprev[...] = dc * f


def _emulate_gru_forward(x, inner, h, z, r, hh, h_new, n, units):
    u = int(units)
    x, inner = x.reshape(-1, 3 * u), inner.reshape(-1, 3 * u)
    z[...] = _emulated_sigmoid(x[:, :u] + inner[:, :u])
    r[...] = _emulated_sigmoid(x[:, u:2 * u] + inner[:, u:2 * u])
    hh[...] = np.tanh(x[:, 2 * u:] + r * inner[:, 2 * u:])
    h_new[...] = z * h + (h.dtype.type(1) - z) * hh


def _emulate_gru_grad(z, r, hh, inner, h_prev, dh, dx, du, direct, n, units):
    u = int(units)
    one = z.dtype.type(1)
    dx, du, inner_h = dx.reshape(-1, 3 * u), du.reshape(-1, 3 * u), inner.reshape(-1, 3 * u)[:, 2 * u:]
    d_pre_h = (dh * (one - z)) * (one - hh * hh)
    d_z = (dh * (h_prev - hh)) * (z * (one - z))
    d_r = (d_pre_h * inner_h) * (r * (one - r))
    dx[:, 2 * u:], du[:, :u], dx[:, :u], du[:, u:2 * u], dx[:, u:2 * u] = d_pre_h, d_z, d_z, d_r, d_r
    du[:, 2 * u:] = d_pre_h * r
    direct[...] = dh * z


def _rows_of(n, *arrays):
    return [a.reshape(-1, int(n)) for a in arrays]


def _emulate_argmax_equal(a, b, out, rows, n):
    a, b = _rows_of(n, a, b)
    out[...] = (np.argmax(a, axis=-1) == np.argmax(b, axis=-1)).astype(out.dtype).reshape(out.shape)


def _emulate_softmax_grad(y, g, out, rows, n):
    y, g, o = _rows_of(n, y, g, out)
    gy = g * y
    o[...] = gy - y * np.add.reduce(gy, axis=-1, keepdims=True)


def _emulate_ce_forward(y, s, p, c, rows, n, lo, hi):
    y, p, c = _rows_of(n, y, p, c)
    s[...] = np.add.reduce(y, axis=-1, keepdims=True).reshape(s.shape)
    p[...] = y / s.reshape(-1, 1)
    c[...] = np.clip(p, lo, hi)


def _emulate_ce_loss(t, logp, per, rows, n):
    t, logp = _rows_of(n, t, logp)
    per[...] = -np.add.reduce(t * logp, axis=-1).reshape(per.shape)


def _emulate_ce_grad(t, g, s, p, c, out, rows, n, lo, hi):
    t, p, c, o = _rows_of(n, t, p, c, out)
    s = s.reshape(-1, 1)
    gp = (-g.reshape(-1, 1) * t) * (c.dtype.type(1) / c)
    gp = np.where((p >= lo) & (p <= hi), gp, c.dtype.type(0))
    o[...] = gp / s + np.add.reduce(-((gp * p) / s), axis=-1, keepdims=True)


def _emulate_dropout_apply(k0, k1, d0, d1, d2, x, mask, out, n, s, thr, scale):
    mask, out = mask.reshape(-1), out.reshape(-1)  # C-contiguous: flat views
    mask[...] = np.where(_keep(k0, k1, d0, d1, d2, n, s, thr), scale, 0)
    out[...] = x.reshape(-1) * mask


def _emulate_dense_grad(y, g, mask, d, gb, rows, cols, kind, has):
    y, g, mask, d = (a.reshape(int(rows), int(cols)) for a in (y, g, mask, d))
    gm = g * mask if has & 1 else g
    v = gm * (1 - y * y) if kind == 1 else gm * (y > 0).astype(y.dtype) if kind == 2 else gm
    d[...] = v
    if has & 2:  # one thread per column, down the rows: 0 + row 0 + row 1 ..., as NumPy 2 reduces axis 0
        gb[...] = np.add.reduce(v, axis=0)


def _emulate_dense_forward(k0, k1, d0, d1, d2, y, bias, mask, out, n, units, kind, has, s, thr, scale):
    """lamina_dense_forward_*: NumPy's add and tanh in place in y (the base composition's), then with
    dropout the mask and product as lamina_philox_dropout_apply_* makes them."""
    rows = y.reshape(-1, int(units))  # C-contiguous: a view
    if has & 1:
        np.add(rows, bias, out=rows)
    if kind == 1:
        np.tanh(rows, out=rows)
    if has & 2:
        _emulate_dropout_apply(k0, k1, d0, d1, d2, y, mask, out, n, s, thr, scale)


def _emulate_scatter_add(values, sorted_keys, out, total, n, rows, post):
    """lamina_scatter_add_*: thread (p, k, c) returns unless sorted entry k starts a run of one key
    (composite key // n), else walks the run in sorted order adding values[p, position, c] (one
    rounding each) into a sum that starts at out[p, key, c], and writes it once. The threads of one k
    (all p and c) touch distinct elements, so they run here as one vectorised step."""
    n, rows, post = int(n), int(rows), int(post)
    planes = int(total) // (n * post)
    vals, dst = values.reshape(planes, n, post), out.reshape(planes, rows, post)
    keys, positions = sorted_keys // n, sorted_keys % n
    for k in range(n):
        if k > 0 and keys[k - 1] == keys[k]:
            continue
        total_sum = dst[:, keys[k], :].copy()
        j = k
        while j < n and keys[j] == keys[k]:
            total_sum = total_sum + vals[:, positions[j], :]
            j += 1
        dst[:, keys[k], :] = total_sum


_ROW_KERNELS = ("lamina_softmax_grad_", "lamina_ce_", "lamina_argmax_equal_")  # (rows, n) arrays and per-row values: rows, n follow them


EMULATIONS = {
    "lamina_philox_bits": lambda k0, k1, d0, d1, d2, out, n: out.__setitem__(
        Ellipsis, _words(k0, k1, d0, d1, d2, n)),
    "lamina_philox_uniform_f32": _emulate_uniform,
    "lamina_philox_uniform_f64": _emulate_uniform,
    "lamina_philox_dropout_f32": lambda k0, k1, d0, d1, d2, out, n, s, thr, scale: out.__setitem__(
        Ellipsis, np.where(_keep(k0, k1, d0, d1, d2, n, s, thr), scale, 0)),
    "lamina_philox_dropout_f64": lambda k0, k1, d0, d1, d2, out, n, s, thr, scale: out.__setitem__(
        Ellipsis, np.where(_keep(k0, k1, d0, d1, d2, n, s, thr), scale, 0)),
    "lamina_philox_keep": lambda k0, k1, d0, d1, d2, out, n, s, thr: out.__setitem__(
        Ellipsis, _keep(k0, k1, d0, d1, d2, n, s, thr)),
    "lamina_sgd_f32": _emulate_sgd, "lamina_sgd_f64": _emulate_sgd,
    "lamina_adam_f32": _emulate_adam, "lamina_adam_f64": _emulate_adam,
    "lamina_rmsprop_f32": _emulate_rmsprop, "lamina_rmsprop_f64": _emulate_rmsprop,
    "lamina_adadelta_f32": _emulate_adadelta, "lamina_adadelta_f64": _emulate_adadelta,
    "lamina_update_many_f32": _emulate_update_many,
    "lamina_sigmoid_f32": _emulate_sigmoid, "lamina_sigmoid_f64": _emulate_sigmoid,
    "lamina_erf_f32": _emulate_erf, "lamina_erf_f64": _emulate_erf,
    "lamina_philox_dropout_apply_f32": _emulate_dropout_apply, "lamina_philox_dropout_apply_f64": _emulate_dropout_apply,
    "lamina_dense_grad_f32": _emulate_dense_grad, "lamina_dense_grad_f64": _emulate_dense_grad,
    "lamina_dense_forward_f32": _emulate_dense_forward, "lamina_dense_forward_f64": _emulate_dense_forward,
    "lamina_scatter_add_f32": _emulate_scatter_add, "lamina_scatter_add_f64": _emulate_scatter_add,
    "lamina_tanh_grad_f32": lambda y, g, out, n: out.__setitem__(Ellipsis, g * (1 - y * y)),
    "lamina_tanh_grad_f64": lambda y, g, out, n: out.__setitem__(Ellipsis, g * (1 - y * y)),
    "lamina_relu_grad_f32": lambda y, g, out, n: out.__setitem__(Ellipsis, g * (y > 0).astype(y.dtype)),
    "lamina_relu_grad_f64": lambda y, g, out, n: out.__setitem__(Ellipsis, g * (y > 0).astype(y.dtype)),
    # philox.cu's graph twins: _FakeTwin reads their words and runs the base kernel's checks and emulation
    **{twin: "twin of " + base for twin, base in (
        ("lamina_philox_dropout_w_f32", "lamina_philox_dropout_f32"),
        ("lamina_philox_dropout_w_f64", "lamina_philox_dropout_f64"),
        ("lamina_philox_keep_w", "lamina_philox_keep"),
        ("lamina_philox_dropout_apply_w_f32", "lamina_philox_dropout_apply_f32"),
        ("lamina_philox_dropout_apply_w_f64", "lamina_philox_dropout_apply_f64"),
        ("lamina_dense_forward_w_f32", "lamina_dense_forward_f32"),
        ("lamina_dense_forward_w_f64", "lamina_dense_forward_f64"))},
    **{f"lamina_{op}_{sfx}": fn for sfx in ("f32", "f64") for op, fn in (
        ("lstm_cell_forward", _emulate_lstm_forward), ("lstm_cell_grad", _emulate_lstm_grad),
        ("gru_cell_forward", _emulate_gru_forward), ("gru_cell_grad", _emulate_gru_grad),
        ("softmax_grad", _emulate_softmax_grad), ("ce_forward", _emulate_ce_forward), ("ce_loss", _emulate_ce_loss),
        ("ce_grad", _emulate_ce_grad), ("argmax_equal", _emulate_argmax_equal))},
}



# --- the fake's device array ----------------------------------------------------------------------
# CuPy refuses what a NumPy-only fake would let through: a numpy.ndarray operand in a CuPy op, an
# implicit host conversion (np.asarray(device_array)), an array copied in by asarray being the
# caller's own memory. FakeArray wraps a NumPy array and refuses the same things, so a dry run
# finds host/device mixing before a GPU session does. Where CuPy's behaviour was not checked the
# fake lets the call through (it must never fail code that CuPy runs).

_HOST_REFUSED = ("Unsupported type <class 'numpy.ndarray'> (the fake CuPy refuses host arrays where "
                 "CuPy does: move it to the device with cupy.asarray first)")
_COPY_IN = frozenset({"asarray", "array", "asanyarray"})  # CuPy's ascontiguousarray and copy take device arrays
# NumPy names CuPy 14.2 does not have (dir(numpy) 2.4 minus dir(cupy), computed once): on a GPU they
# raise AttributeError, so the fake does too.
_NOT_IN_CUPY = frozenset("""
False_ ScalarType True_ asmatrix block bmat busday_count busday_offset busdaycalendar bytes_ char character
clongdouble complex256 core ctypeslib datetime64 datetime_as_string datetime_data dtypes einsum_path emath
errstate f2py flexible float128 frompyfunc fromregex geomspace get_include getbufsize geterr geterrcall
histogram_bin_edges info insert is_busday isnat little_endian longdouble ma matrix matvec memmap
nanpercentile nanquantile ndenumerate nditer nested_iters object_ polyder polydiv polyint rec recarray record
sctypeDict setbufsize seterr seterrcall show_runtime spacing str_ strings test timedelta64 typecodes unstack
vecdot vecmat void""".split())
# Functions that copy host index or value arrays to the device themselves (CuPy's _take, _scatter_op)
# or only read dtypes.
_HOST_INDEX_OK = frozenset({"take", "result_type"})
_UFUNC_KEYWORDS = frozenset({"out", "dtype", "casting"})  # what CuPy's ufunc __call__ accepts


def _is_host_array(x, scalar_ok: bool = True) -> bool:
    """A NumPy array where CuPy wants a device array; a 0-d one passes where CuPy takes scalars (fill,
    functions), not as a ufunc operand (CuPy's CScalar takes Python and NumPy scalars only)."""
    return isinstance(x, np.ndarray) and (x.ndim > 0 or not scalar_ok)


def _refuse_host(values, where: str, scalar_ok: bool = True) -> None:
    for v in values:
        if _is_host_array(v, scalar_ok):
            raise TypeError(f"{where}: {_HOST_REFUSED}")
        if isinstance(v, (list, tuple)):
            _refuse_host(v, where, scalar_ok)


def _refuse_ufunc_operands(where: str, inputs, kwargs) -> None:
    """CuPy's ufuncs take device arrays and Python/NumPy scalars: no host array (0-d included), no list."""
    _refuse_host(tuple(inputs) + tuple(kwargs.values()), where, scalar_ok=False)
    if any(isinstance(a, (list, tuple)) for a in inputs):
        raise TypeError(f"{where}: Unsupported type <class 'list'> (CuPy's ufuncs take arrays and scalars)")
    if set(kwargs) - _UFUNC_KEYWORDS:
        raise TypeError(f"{where}: Wrong arguments {sorted(set(kwargs) - _UFUNC_KEYWORDS)} (CuPy's ufuncs take "
                        f"out, dtype and casting)")


def _dev_unwrap(x):
    if isinstance(x, FakeArray):
        return x._a
    if type(x) in (list, tuple):
        return type(x)(_dev_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _dev_unwrap(v) for k, v in x.items()}
    return x


def _dev_wrap(x):
    if isinstance(x, np.ndarray):
        return FakeArray(x)
    if isinstance(x, np.generic):  # CuPy's reductions and scalar indexing give 0-d device arrays
        return FakeArray(np.asarray(x))
    if type(x) in (list, tuple):
        return type(x)(_dev_wrap(v) for v in x)
    return x


class _FakeFlags:
    """CuPy's flags: contiguity and ownership only (no ``writeable``)."""

    def __init__(self, flags):
        self.c_contiguous, self.f_contiguous, self.owndata = flags.c_contiguous, flags.f_contiguous, flags.owndata

    def __getitem__(self, key):
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[key]


class _FakePointer:
    def __init__(self, a):
        self.ptr = a.__array_interface__["data"][0]


class FakeArray(np.lib.mixins.NDArrayOperatorsMixin):
    """A device array of the fake CuPy: a NumPy array that refuses to meet host arrays."""

    __slots__ = ("_a", "__weakref__")  # CuPy arrays take weak references (_ndarray_base declares __weakref__)
    __array_priority__ = 100
    host_reads = 0  # device -> host reads so far (each one a synchronisation on a GPU); tests reset it

    def __init__(self, a):
        assert isinstance(a, np.ndarray), type(a)
        self._a = a

    # what CuPy's ndarray refuses or answers differently from NumPy's
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
                        "construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        try:
            operands = inputs[:1] if method == "at" else inputs  # ufunc.at copies host indices and values in
            _refuse_ufunc_operands(ufunc.__name__, operands + (out or ()), kwargs if method == "__call__" else {})
        except TypeError:
            return NotImplemented  # NumPy then raises TypeError, as it does for a CuPy array
        if out is not None:
            kwargs["out"] = tuple(_dev_unwrap(o) for o in out)
        result = getattr(ufunc, method)(*_dev_unwrap(inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _dev_wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        try:
            _refuse_host((args, tuple(kwargs.values())), func.__name__)
        except TypeError:
            return NotImplemented
        out = kwargs.get("out")
        result = func(*_dev_unwrap(args), **_dev_unwrap(kwargs))
        return out if out is not None else _dev_wrap(result)

    def get(self, stream=None, order="C", out=None, blocking=True):
        FakeArray.host_reads += 1
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    @property
    def flags(self):
        return _FakeFlags(self._a.flags)

    @property
    def data(self):
        return _FakePointer(self._a)

    @property
    def device(self):
        return types.SimpleNamespace(id=0)

    @staticmethod
    def _check_fill(value):
        """CuPy fills (and assigns basic slices) from scalars and device arrays only."""
        if _is_host_array(value):
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        if isinstance(value, (list, tuple)):
            raise TypeError(f"Unsupported type {type(value)}")

    def fill(self, value):
        self._check_fill(value)
        self._a.fill(_dev_unwrap(value))

    def __getitem__(self, index):
        index = _dev_unwrap(index)
        if _has_mask(index):  # CuPy counts the mask's True values on the host first
            FakeArray.host_reads += 1
        got = self._a[index]
        if isinstance(got, np.generic):  # CuPy gives a 0-d view, not a copy
            got = self._a[(index if isinstance(index, tuple) else (index,)) + (Ellipsis,)]
        return _dev_wrap(got)

    def __setitem__(self, index, value):
        index = _dev_unwrap(index)
        parts = index if isinstance(index, tuple) else (index,)
        basic = all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts)
        if _has_mask(index):
            FakeArray.host_reads += 1
        if basic:
            self._check_fill(value)
        self._a[index] = _dev_unwrap(value)

    def set(self, arr, stream=None):  # CuPy's host -> device copy into this array
        assert isinstance(arr, np.ndarray) and arr.shape == self._a.shape, (type(arr), getattr(arr, "shape", None))
        assert self._a.flags.c_contiguous, "cupy.ndarray.set needs a contiguous array"
        self._a[...] = arr

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (FakeArray(row) if isinstance(row, np.ndarray) else FakeArray(np.asarray(row)) for row in self._a)

    def __format__(self, spec):  # CuPy formats a 0-d array as its value (a read)
        FakeArray.host_reads += 1
        return format(self._a.item() if self._a.ndim == 0 else self._a, spec)

    def __copy__(self):
        return FakeArray(self._a.copy())

    def __deepcopy__(self, memo):
        return FakeArray(self._a.copy())

    def __reduce__(self):  # CuPy pickles the host copy
        FakeArray.host_reads += 1
        return (FakeArray, (self._a,))

    # NumPy's host-only attributes CuPy's arrays do not have
    _HOST_ONLY = frozenset({"__array_interface__", "__array_struct__", "ctypes", "setflags", "tofile",
                            "itemset", "dumps", "dump"})

    def __getattr__(self, name):
        if name in FakeArray._HOST_ONLY or name == "_a":
            raise AttributeError(f"'cupy.ndarray' object has no attribute '{name}'")
        attr = getattr(self._a, name)
        if not callable(attr):
            return _dev_wrap(attr) if isinstance(attr, np.ndarray) else attr
        if name in ("item", "tolist", "tobytes"):  # host values: a read
            FakeArray.host_reads += 1
            return attr

        def method(*args, **kwargs):
            if name not in _HOST_INDEX_OK:
                _refuse_host((args, tuple(kwargs.values())), f"cupy.ndarray.{name}")
            out = kwargs.get("out")
            result = attr(*_dev_unwrap(args), **_dev_unwrap(kwargs))
            return out if out is not None else _dev_wrap(result)
        return method

    def __setattr__(self, name, value):
        if name == "_a":
            object.__setattr__(self, name, value)
        elif name == "shape":
            self._a.shape = value
        else:
            raise AttributeError(f"cannot set '{name}' on the fake cupy.ndarray")


def _read_on_host(convert):
    def method(self):
        FakeArray.host_reads += 1
        return convert(self._a)
    return method


FakeArray.__len__ = lambda self: len(self._a)  # the shape: no read
for _name, _convert in (("__float__", float), ("__int__", int), ("__bool__", bool), ("__complex__", complex),
                        ("__repr__", repr), ("__str__", str)):
    setattr(FakeArray, _name, _read_on_host(_convert))  # CuPy answers as NumPy, after a synchronisation


def _has_mask(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, np.ndarray) and p.dtype == np.bool_ for p in parts)


class _FakeFunction:
    """A NumPy function or ufunc seen through the fake CuPy: device arrays in, device arrays out."""

    def __init__(self, name, fn):
        self.__name__, self._fn = name, fn
        self._ufunc = isinstance(fn, np.ufunc)

    def __call__(self, *args, **kwargs):
        name = self.__name__
        if name in _COPY_IN:  # host data is copied in; a device array passes as CuPy passes it
            return _fake_copy_in(name, self._fn, *args, **kwargs)
        where = f"cupy.{name}"
        if self._ufunc:
            _refuse_ufunc_operands(where, args, kwargs)
        elif name.endswith(".at"):  # ufunc.at: CuPy copies host indices and values in
            _refuse_host(args[:1], where)
            if _has_mask(_dev_unwrap(args[1])):  # and sizes a boolean mask on the host
                FakeArray.host_reads += 1
        elif name not in _HOST_INDEX_OK:
            _refuse_host((args, tuple(kwargs.values())), where)
            if name in ("where", "clip") and any(isinstance(a, (list, tuple)) for a in args):
                raise TypeError(f"{where}: Unsupported type <class 'list'>")
        if name in ("nonzero", "argwhere", "flatnonzero", "unique"):  # the result's size is read first
            FakeArray.host_reads += 1
        out = kwargs.get("out")
        if isinstance(out, tuple) and len(out) == 1:
            out = out[0]
        result = self._fn(*_dev_unwrap(args), **_dev_unwrap(kwargs))
        return out if out is not None else _dev_wrap(result)

    def __getattr__(self, name):  # ufunc.reduce, .outer, .at, and attributes such as .nin
        attr = getattr(self._fn, name)
        return _FakeFunction(f"{self.__name__}.{name}", attr) if callable(attr) else attr


class _FakeSubmodule(types.ModuleType):
    """``cupy.lib.stride_tricks`` and the like: NumPy's submodule, its functions seen as _FakeFunction."""

    def __init__(self, module):
        super().__init__(module.__name__.replace("numpy", "cupy", 1))
        self._module = module

    def __getattr__(self, name):
        return _fake_attribute(self, self._module, name)


def _fake_attribute(owner, module, name):
    """What ``owner`` (the fake cupy or a submodule) answers for NumPy's ``module.name``."""
    if module is np and name in _NOT_IN_CUPY:
        raise AttributeError(f"module 'cupy' has no attribute '{name}'")
    attr = getattr(module, name)
    if isinstance(attr, types.ModuleType):
        attr = _FakeSubmodule(attr)
    elif not isinstance(attr, type) and callable(attr):  # dtypes, np.errstate and constants pass as they are
        attr = _FakeFunction(name, attr)
    setattr(owner, name, attr)  # later lookups skip __getattr__
    return attr


def _fake_copy_in(name, fn, x, *args, **kwargs):
    if isinstance(x, FakeArray):
        if (name in ("asarray", "asanyarray") and not args and not kwargs.get("copy")
                and kwargs.get("dtype") in (None, x.dtype) and kwargs.get("order") in (None, "K", "A")):
            return x  # CuPy returns the same array
        copy = kwargs.pop("copy", name == "array")  # CuPy's copy=False: only where needed
        result = fn(x._a, *args, copy=True if copy else None, **_dev_unwrap(kwargs))
        return x if result is x._a else FakeArray(result)  # uncopied: CuPy returns the array itself
    if isinstance(x, (list, tuple)) and any(isinstance(v, FakeArray) for v in x):
        if any(_is_host_array(v) for v in x):  # CuPy concatenates device arrays, or converts host data
            raise TypeError(f"cupy.{name}: a list mixing device and host arrays (CuPy hands it to NumPy, "
                            "which refuses the device arrays)")
        x = [v._a if isinstance(v, FakeArray) else v for v in x]
    # host data: a fresh device copy, never the caller's memory
    return FakeArray(np.array(fn(x, *args, **_dev_unwrap(kwargs)), copy=True))


class FakeKernel:
    def __init__(self, owner, name, params):
        self.owner, self.name, self.params = owner, name, params

    def __call__(self, grid, block, args):
        assert isinstance(grid, tuple) and isinstance(block, tuple), (grid, block)
        assert all(isinstance(v, int) and 0 < v for v in grid + block), (grid, block)
        assert grid[0] <= 2 ** 31 - 1 and block[0] <= 1024
        assert len(args) == len(self.params), f"{self.name}: {len(args)} args for {len(self.params)} parameters"
        for position, (arg, (ctype, pointer, const)) in enumerate(zip(args, self.params)):
            want = _C_TYPES[ctype]
            where = f"{self.name} argument {position} ({ctype})"
            if pointer:
                assert isinstance(arg, FakeArray), f"{where}: got {type(arg).__name__} (a kernel takes device arrays)"
                arg = arg._a
                assert arg.dtype == want, f"{where}: array of {arg.dtype}"
                assert arg.flags.c_contiguous, f"{where}: not C-contiguous"
                assert const or arg.flags.writeable, f"{where}: read-only output"
            else:
                assert type(arg) is want, f"{where}: got {type(arg).__name__} {arg!r}"
        args = tuple(_dev_unwrap(a) for a in args)  # the emulations write the device arrays' memory
        if "_many_" in self.name:  # eight slots of (arrays..., n), then the scalars and flags
            width = next(i for i, (c, _, _) in enumerate(self.params) if c == "lamina_u64") + 1
            planes = grid[1] if len(grid) > 1 else 1
            assert 1 <= planes <= 8 and len(args) > 8 * width, (self.name, grid)
            for k in range(8):
                slot = args[k * width:(k + 1) * width]
                n = int(slot[-1])
                assert n == 0 or k < planes, f"{self.name}: slot {k} has n={n} outside the grid"
                assert n == 0 or all(a.size == n for a in slot[:-1]), f"{self.name} slot {k}: n={n}"
            EMULATIONS[self.name](*args, planes=planes)
            self.owner.launches.append(self.name)  # only once emulated: a failure the backend swallows shows
            return
        assert len(grid) == 1, (self.name, grid)
        # the element count (the u64 after the first output array) must match every array
        count_at = next(i for i, (c, p, _) in enumerate(self.params) if c == "lamina_u64" and i > 0
                        and self.params[i - 1][1])
        n = int(args[count_at])
        if self.name.startswith("lamina_scatter_add_"):  # values (pre, n, post), n sorted keys, out (pre, rows, post)
            values, keys, out = args[:3]
            items, rows, post = int(args[count_at + 1]), int(args[count_at + 2]), int(args[count_at + 3])
            assert items >= 1 and rows >= 1 and post >= 1 and n % (items * post) == 0, (self.name, n, items, post)
            assert values.size == n and keys.size == items and out.size == n // items * rows, self.name
            # the kernel's preconditions: composite keys key * items + position, distinct and sorted, keys in range
            assert (np.diff(keys) > 0).all() and keys.min() >= 0 and keys.max() < rows * items, self.name
            assert np.array_equal(np.sort(keys % items), np.arange(items)), f"{self.name}: not every position once"
        elif self.name.startswith("lamina_dense_grad_"):  # (rows, cols) arrays and a per-column gb
            cols = int(args[count_at + 1])
            assert all(a.size in (n * cols, cols) for a, p in zip(args, self.params) if p[1]), \
                f"{self.name}: rows={n}, cols={cols}"
        elif self.name.startswith("lamina_dense_forward_"):  # (n / units, units) arrays and a bias of units
            units = int(args[count_at + 1])
            assert 1 <= units and n % units == 0 and all(a.size in (n, units) for a, p in zip(args, self.params)
                                                         if p[1]), f"{self.name}: n={n}, units={units}"
        elif self.name.startswith(_ROW_KERNELS):  # every array holds n rows of the row length, or one value per row
            row = int(args[count_at + 1])
            assert 1 <= row <= 128 and all(a.size in (n, n * row) for a, p in zip(args, self.params) if p[1]), \
                f"{self.name}: rows={n}, row length {row}"
        else:  # every array holds n elements, or n rows of gate blocks (a recurrent step's (batch, 4 * units))
            assert all(a.size == n or (n and a.size % n == 0 and a.size // n in (3, 4))
                       for a, p in zip(args, self.params) if p[1]), f"{self.name}: n={n}"
        EMULATIONS[self.name](*args)
        self.owner.launches.append(self.name)  # only once emulated (a wrong argument raises there)


class FakeRawModule:
    def __init__(self, owner, code, options=(), name_expressions=None):
        assert not re.search(r"^\s*#\s*include", code, re.M), "NVRTC has no standard headers"
        assert tuple(options) == lamina_cupy.NVRTC_OPTIONS
        self.owner = owner
        self.signatures = kernel_signatures(code)
        owner.modules_built += 1

    def get_function(self, name):
        if self.owner.kernel_failure is not None:
            raise self.owner.kernel_failure
        if name not in self.signatures:
            raise AttributeError(f"no kernel named {name}")
        twin = EMULATIONS.get(name)
        if isinstance(twin, str):  # a graph twin: its base kernel with the words read from the device
            base = twin.removeprefix("twin of ")
            return _FakeTwin(name, self.signatures[name], FakeKernel(self.owner, base, self.signatures[base]))
        return FakeKernel(self.owner, name, self.signatures[name])


class _FakeTwin:
    """A ``_w`` kernel of philox.cu: its first argument is a device buffer of the five Philox words
    (k0, k1, d0, d1, d2), which it reads at launch; the rest are its base kernel's arguments."""

    def __init__(self, name, params, base):
        self.name, self.params, self.base = name, params, base
        assert params[0] == ("lamina_u64*", True, True) and params[1:] == base.params[5:], name

    def __call__(self, grid, block, args):
        words = args[0]
        assert isinstance(words, FakeArray) and words._a.dtype == np.uint64 and words._a.shape == (5,), \
            f"{self.name}: the words argument must be a device uint64 array of 5, got {words!r}"
        assert words._a.flags.c_contiguous, f"{self.name}: words not contiguous"
        self.base(grid, block, tuple(np.uint64(w) for w in words._a) + tuple(args[1:]))
        self.base.owner.launches[-1] = self.name


class FakeDevice:
    def __init__(self, owner, index=None):
        self.owner, self.id = owner, index

    def use(self):
        self.owner.current_device = self.id

    def synchronize(self):
        self.owner.synchronized += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakePool:
    total = 80 * 2 ** 30

    def __init__(self):
        self.limit, self.freed = 0, 0

    def set_limit(self, size=None, fraction=None):
        self.limit = int(fraction * self.total) if fraction is not None else int(size or 0)

    def get_limit(self):
        return self.limit

    def free_all_blocks(self):
        self.freed += 1

    def malloc(self, size):  # what using_allocator takes; the fake's arrays are NumPy's
        raise AssertionError("the fake CuPy does not allocate through a pool")

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0


class FakeCudaRuntimeError(RuntimeError):
    pass


class FakeEvent:
    pass


class FakeStream:
    """CuPy's Stream as far as the graph code uses it: current-stream scope, events, synchronize.
    It cannot capture (no begin_capture): the fake runs everything at once; tests that need a graph
    replace GraphedStep._record."""

    def __init__(self, owner, non_blocking=False, null=False):
        self.owner, self.non_blocking, self.null = owner, non_blocking, null
        self.waited = 0
        self.ptr = 0 if null else id(self)  # cudaStream_t: 0 is the legacy default stream

    def __enter__(self):
        self.owner.streams.append(self)
        return self

    def __exit__(self, *exc):
        assert self.owner.streams.pop() is self
        return False

    def record(self, event=None):
        return event or FakeEvent()

    def wait_event(self, event):
        assert isinstance(event, FakeEvent)
        self.waited += 1

    def synchronize(self):
        self.owner.synchronized += 1


class FakeCupy(types.ModuleType):
    """``cupy`` made of NumPy: arrays are FakeArray (NumPy memory that refuses host arrays as CuPy does);
    RawModule checks and emulates launches."""

    def __init__(self, count=1, error=None, driver=13000, available=True, name=b"Fake H100"):
        super().__init__("cupy")
        self.__version__ = "14.2.0"
        self.launches: list[str] = []
        self.modules_built = 0
        self.kernel_failure: Exception | None = None
        self.current_device = None
        self.synchronized = 0
        self.pool, self.pinned_pool = FakePool(), FakePool()
        self._available = available

        def device_count():
            if error is not None:
                raise error
            return count
        runtime = types.SimpleNamespace(
            getDeviceCount=device_count, driverGetVersion=lambda: driver,
            runtimeGetVersion=lambda: 13000,
            getDeviceProperties=lambda i: {"name": name, "major": 9, "minor": 0,  # the keys gpu_check.sh reads
                                           "totalGlobalMem": FakePool.total, "multiProcessorCount": 132},
            memGetInfo=lambda: (FakePool.total // 2, FakePool.total))
        self.streams: list[FakeStream] = []  # current streams, innermost last
        self.allocators: list = []
        null = FakeStream(self, null=True)

        @contextlib.contextmanager
        def using_allocator(allocator=None):
            self.allocators.append(allocator)
            try:
                yield
            finally:
                self.allocators.pop()

        self.cuda = types.SimpleNamespace(
            runtime=runtime, Device=lambda i=None: FakeDevice(self, i), MemoryPool=FakePool,
            Stream=lambda non_blocking=False: FakeStream(self, non_blocking), using_allocator=using_allocator,
            get_current_stream=lambda: self.streams[-1] if self.streams else null)

    ndarray = FakeArray

    def __getattr__(self, name):
        return _fake_attribute(self, np, name)

    def is_available(self):
        return self._available

    def asnumpy(self, x, stream=None, order="C", out=None, blocking=True):
        return x.get(order=order, out=out) if isinstance(x, FakeArray) else np.asarray(x)

    def get_array_module(self, *args):
        return self if any(isinstance(a, FakeArray) for a in args) else np

    def get_default_memory_pool(self):
        return self.pool

    def get_default_pinned_memory_pool(self):
        return self.pinned_pool

    def RawModule(self, code, options=(), name_expressions=None):  # noqa: N802 - CuPy's name
        return FakeRawModule(self, code, options, name_expressions)


class FakeLinalg(types.ModuleType):
    COMPUTE_TYPE_DEFAULT = 1
    COMPUTE_TYPE_TF32 = 7

    def __init__(self):
        super().__init__("cupy._core._routines_linalg")
        self.calls = []

    def set_compute_type(self, dtype, compute_type):
        self.calls.append((np.dtype(dtype), compute_type))


def install_fake(monkeypatch, **kwargs) -> FakeCupy:
    fake = FakeCupy(**kwargs)
    linalg = FakeLinalg()
    fake.linalg = linalg
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setitem(sys.modules, "cupy._core", types.ModuleType("cupy._core"))
    monkeypatch.setitem(sys.modules, "cupy._core._routines_linalg", linalg)
    return fake


# --- no GPU, device choice ------------------------------------------------------------------------

def test_no_gpu_names_the_missing_gpu(monkeypatch):
    install_fake(monkeypatch, error=FakeCudaRuntimeError(
        "cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version"),
        driver=0, available=False)
    monkeypatch.setenv("LAMINA_BACKEND", "cupy")
    with pytest.raises(BackendUnavailableError) as info:
        lamina_cupy.CupyBackend()
    message = str(info.value)
    assert message.startswith("LAMINA_BACKEND=cupy asks for the CuPy GPU backend and CuPy 14.2.0 is installed")
    assert "no usable NVIDIA GPU was found" in message
    assert "no NVIDIA driver is loaded (cudaErrorInsufficientDriver" in message
    assert "nvidia-smi" in message and "cupy-cudaXXx" in message and "LAMINA_BACKEND=numpy" in message
    assert message.count(". ") == 0


def test_old_driver_is_named(monkeypatch):
    install_fake(monkeypatch, error=FakeCudaRuntimeError("cudaErrorInsufficientDriver: ..."),
                 driver=12040, available=False)
    with pytest.raises(BackendUnavailableError,
                       match=r"driver supports CUDA 12\.4 but this CuPy needs CUDA 13\.0"):
        lamina_cupy.CupyBackend()


def test_zero_gpus_and_visible_devices_are_named(monkeypatch):
    install_fake(monkeypatch, count=0, available=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(BackendUnavailableError, match=r"sees 0 GPUs, with CUDA_VISIBLE_DEVICES=''"):
        lamina_cupy.CupyBackend()


def test_is_available_false_is_reported(monkeypatch):
    install_fake(monkeypatch, count=1, available=False)
    with pytest.raises(BackendUnavailableError, match=r"cupy\.is_available\(\) is False"):
        lamina_cupy.CupyBackend()


def test_registry_surfaces_missing_gpu(monkeypatch):
    install_fake(monkeypatch, error=FakeCudaRuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected"))
    monkeypatch.setattr(backends, "_instances", {})
    with pytest.raises(BackendUnavailableError, match="no usable NVIDIA GPU.*cudaErrorNoDevice"):
        backends.get_backend("cupy")


def test_device_from_environment(monkeypatch):
    fake = install_fake(monkeypatch, count=2)
    monkeypatch.setenv("LAMINA_DEVICE", "cuda:1")
    backend = lamina_cupy.CupyBackend()
    assert backend.device_id == 1 and fake.current_device == 1
    assert backend.device_description() == "GPU 1: Fake H100 (CUDA 13.0, CuPy 14.2.0)"
    assert backend.name == "cupy" and backend.host_sync_cheap is False and backend.xp is fake


def test_device_from_config_file(monkeypatch, tmp_path):
    fake = install_fake(monkeypatch, count=4)
    home = Path(os.environ["LAMINA_HOME"])
    home.mkdir(parents=True)
    (home / "lamina.json").write_text('{"device": 3}')
    _config.reset()
    assert lamina_cupy.CupyBackend().device_id == 3 and fake.current_device == 3


def test_default_device_is_zero(monkeypatch):
    fake = install_fake(monkeypatch, count=2)
    assert lamina_cupy.CupyBackend().device_id == 0 and fake.current_device == 0


def test_device_out_of_range(monkeypatch):
    install_fake(monkeypatch, count=2)
    monkeypatch.setenv("LAMINA_DEVICE", "5")
    with pytest.raises(BackendUnavailableError,
                       match=r"LAMINA_DEVICE='5' asks for GPU 5, but CuPy sees 2 GPUs, "
                             r"numbered 0 to 1; set LAMINA_DEVICE"):
        lamina_cupy.CupyBackend()


def test_device_not_a_number(monkeypatch):
    install_fake(monkeypatch, count=2)
    monkeypatch.setenv("LAMINA_DEVICE", "the big one")
    with pytest.raises(ValueError, match=r"LAMINA_DEVICE='the big one' is not a GPU number"):
        lamina_cupy.CupyBackend()


@pytest.mark.parametrize("raw, index", [(0, 0), (2, 2), ("1", 1), ("gpu:3", 3), ("CUDA:0", 0), (" 4 ", 4)])
def test_parse_device(raw, index):
    assert _availability.parse_device(raw, "x") == index


@pytest.mark.parametrize("raw", [-1, True, "cuda:-1", "1.5", "", None])
def test_parse_device_rejects(raw):
    with pytest.raises(ValueError, match="is not a GPU number"):
        _availability.parse_device(raw, "x")


# --- memory pool and TF32 settings -----------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2147483648", ("size", 2 ** 31)), ("2GB", ("size", 2 ** 31)), ("512MiB", ("size", 2 ** 29)),
    ("1.5g", ("size", 3 * 2 ** 29)), ("0", ("size", 0)), ("50%", ("fraction", 0.5)),
])
def test_parse_memory_limit(text, expected):
    assert _availability.parse_memory_limit(text) == expected


@pytest.mark.parametrize("text", ["lots", "12 parsecs", "150%", "-1GB"])
def test_parse_memory_limit_rejects(text):
    with pytest.raises(ValueError, match="LAMINA_GPU_MEMORY_LIMIT"):
        _availability.parse_memory_limit(text)


def test_memory_limit_from_environment_and_methods(monkeypatch):
    fake = install_fake(monkeypatch)
    monkeypatch.setenv("LAMINA_GPU_MEMORY_LIMIT", "1GiB")
    backend = lamina_cupy.CupyBackend()
    assert fake.pool.limit == 2 ** 30 == backend.memory_limit()
    backend.set_memory_limit(fraction=0.25)
    assert fake.pool.limit == FakePool.total // 4
    backend.set_memory_limit(123456)
    assert backend.memory_info() == {"used_bytes": 0, "pool_bytes": 0, "limit_bytes": 123456}
    backend.set_memory_limit(None)
    assert fake.pool.limit == 0
    backend.release_memory()
    assert fake.pool.freed == 1 and fake.pinned_pool.freed == 1
    with pytest.raises(ValueError, match="non-negative int"):
        backend.set_memory_limit(-5)
    with pytest.raises(ValueError, match="fraction must be in"):
        backend.set_memory_limit(fraction=2.0)
    monkeypatch.setenv("LAMINA_GPU_MEMORY_LIMIT", "30%")
    lamina_cupy.CupyBackend()
    assert fake.pool.limit == int(0.3 * FakePool.total)


def test_tf32_off_by_default(monkeypatch, caplog):
    fake = install_fake(monkeypatch)
    monkeypatch.setenv("CUPY_TF32", "1")
    with caplog.at_level(logging.WARNING, logger="lamina.cupy"):
        backend = lamina_cupy.CupyBackend()
    assert backend.tf32_allowed is False
    assert fake.linalg.calls == [(np.dtype(np.float32), FakeLinalg.COMPUTE_TYPE_DEFAULT)]
    assert "CUPY_TF32=1 is ignored" in caplog.text


def test_tf32_when_allowed(monkeypatch):
    fake = install_fake(monkeypatch)
    monkeypatch.setenv("LAMINA_ALLOW_TF32", "1")
    assert lamina_cupy.CupyBackend().tf32_allowed is True
    assert fake.linalg.calls == [(np.dtype(np.float32), FakeLinalg.COMPUTE_TYPE_TF32)]


# --- the Python side of every fused op, against the fake ------------------------------------------

SEEDS = [0, 1234567, (1 << 64) + 99, (1 << 128) - 1]
COUNTERS = [0, 7, (1 << 64) + 5, -1]


def _backend_pair(monkeypatch, **kwargs):
    fake = install_fake(monkeypatch, **kwargs)
    return fake, lamina_cupy.CupyBackend(), NumpyBackend()


def _optimizer_inputs(dtype, shape=(5, 7), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for _ in range(5)]


def _transposed_view(to_device, a):
    """``a``'s values on the device in F order (not C-contiguous): the transposed view of a C-ordered
    device copy of ``a.T`` (a host view never reaches a device backend)."""
    return to_device(np.ascontiguousarray(a.T)).T


def _host_io(backend):
    """(to the backend, back to the host) for the update helpers: a backend's own asarray (a host
    copy on a device) and to_numpy; an object that is not a backend (the gpu tests' OnDevice and
    _HostLists, which move host arrays themselves) is handed host arrays and gives them back."""
    if isinstance(backend, ArrayBackend):
        return backend.asarray, lambda x: np.array(backend.to_numpy(x))  # a host copy, on any backend
    return (lambda x: x), (lambda x: x)


def _run_optimizers(backend, dtype, transpose_grad=False):
    """Each update kind, three steps; returns host copies of every array they touched (the
    arrays live on ``backend``'s device while it updates them)."""
    to_backend, to_host = _host_io(backend)
    results = []
    p, g, s1, s2, s3 = _optimizer_inputs(dtype)
    s1, s2, s3 = np.abs(s1), np.abs(s2), np.abs(s3)
    if transpose_grad:  # same values, not C-contiguous: the transposed view of a C-ordered copy
        g = _transposed_view(to_backend, g)
    else:
        g = to_backend(g)
    for kind in RULES:
        arrays = [to_backend(a.copy()) for a in (p, s1, s2, s3)]
        param, a, b, c = arrays
        for _ in range(3):
            apply_update(backend, kind, param, g, a, b, c, lr=0.05)
        results.append((kind, [to_host(x) for x in arrays]))
    return results


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fake_optimizers_launch_and_match_numpy(monkeypatch, dtype):
    fake, backend, reference = _backend_pair(monkeypatch)
    got = _run_optimizers(backend, dtype, transpose_grad=True)
    want = _run_optimizers(reference, dtype)
    for (kind, arrays), (_, expected) in zip(got, want):
        for a, e in zip(arrays, expected):
            np.testing.assert_array_equal(a, e, err_msg=kind)
    suffix = "f32" if dtype == "float32" else "f64"
    assert set(fake.launches) == {f"lamina_sgd_{suffix}", f"lamina_adam_{suffix}", f"lamina_rmsprop_{suffix}"}
    assert len(fake.launches) == 18  # one launch per update
    assert backend.kernel_status() == {"sgd_update": "ok", "adam_update": "ok", "rmsprop_update": "ok"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fake_adadelta_is_one_launch_per_update_and_matches_numpy(monkeypatch, dtype):
    """Adadelta (mnist_cnn's optimizer) in one launch per parameter and step, with the NumPy backend's
    bits; a gradient in another layout is read through a C-ordered copy, a strided state takes the
    base code without a launch."""
    fake, backend, reference = _backend_pair(monkeypatch)
    p, g, a, d, _ = _optimizer_inputs(dtype, seed=4)
    a, d = np.abs(a), np.abs(d)
    got, want = [backend.asarray(x) for x in (p, a, d)], [x.copy() for x in (p, a, d)]  # device copies
    for step in range(3):  # the gradient as the transposed view of a C-ordered device copy
        backend.adadelta_update(got[0], _transposed_view(backend.asarray, g), got[1], got[2], 1.0, 0.95, 1e-7)
        reference.adadelta_update(want[0], g, want[1], want[2], 1.0, 0.95, 1e-7)
    for x, y in zip(got, want):
        assert backend.to_numpy(x).tobytes() == y.tobytes()
    suffix = "f32" if dtype == "float32" else "f64"
    assert fake.launches == [f"lamina_adadelta_{suffix}"] * 3
    assert backend.kernel_status() == {"adadelta_update": "ok"}
    wide = backend.zeros((5, 14), dtype)
    state = wide[:, ::2]  # a strided device view
    state[...] = backend.asarray(a)
    q, r = backend.asarray(p), p.copy()
    backend.adadelta_update(q, backend.asarray(g), state, backend.asarray(d), 0.5, 0.9, 1e-6)
    reference.adadelta_update(r, g, a.copy(), d.copy(), 0.5, 0.9, 1e-6)
    assert backend.to_numpy(q).tobytes() == r.tobytes() and len(fake.launches) == 3


def _run_many(backend, dtype, count, transpose_grad=False):
    """Each update kind through the *_many op over ``count`` parameters of several shapes; returns
    host copies of the arrays (on ``backend``'s device while it updates them)."""
    to_backend, to_host = _host_io(backend)
    rng = np.random.default_rng(3)
    shapes = [(5, 7), (3,), (0,), (2, 4, 3), ()] * 3
    results = []
    for kind in RULES:
        host = [[np.array(rng.standard_normal(shapes[i]), dtype=dtype) for _ in range(5)] for i in range(count)]
        arrays = []
        for arr in host:
            np.abs(arr[3], out=arr[3])
            np.abs(arr[4], out=arr[4])
            dev = [to_backend(a) for a in arr]
            if transpose_grad and arr[1].ndim == 2:  # the transposed view of a C-ordered copy
                dev[1] = _transposed_view(to_backend, arr[1])
            arrays.append(dev)
        columns = [list(col) for col in zip(*arrays)]
        for _ in range(2):
            apply_update(backend, kind, *columns, many=True, lr=0.05)
        results.append((kind, [[to_host(a) for a in arr] for arr in arrays]))
    return results


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("count", [1, 8, 11])
def test_fake_update_many_launches_per_eight_parameters(monkeypatch, dtype, count):
    fake, backend, reference = _backend_pair(monkeypatch)
    got = _run_many(backend, dtype, count, transpose_grad=True)
    want = _run_many(reference, dtype, count)
    for (kind, arrays), (_, expected) in zip(got, want):
        for arr, exp in zip(arrays, expected):
            for a, e in zip(arr, exp):
                np.testing.assert_array_equal(a, e, err_msg=kind)
    if dtype == "float32":  # one launch per eight parameters, for every rule and step
        assert fake.launches == ["lamina_update_many_f32"] * (6 * 2 * -(-count // 8))
        assert backend.kernel_status() == {"update_many": "ok"}
    else:  # float64: the one-parameter kernels, none for an empty parameter
        assert sorted(set(fake.launches)) == ["lamina_adam_f64", "lamina_rmsprop_f64", "lamina_sgd_f64"]
        assert len(fake.launches) == 6 * 2 * sum(arr[0].size > 0 for arr in got[0][1])


def test_fake_update_many_falls_back_for_other_dtypes_and_subclasses(monkeypatch):
    fake, backend, reference = _backend_pair(monkeypatch)
    got, want = _run_many(backend, "float16", 3), _run_many(reference, "float16", 3)
    for (kind, arrays), (_, expected) in zip(got, want):
        for arr, exp in zip(arrays, expected):
            for a, e in zip(arr, exp):
                np.testing.assert_array_equal(a, e, err_msg=kind)
    assert fake.launches == []

    class Single(lamina_cupy.CupyBackend):
        def sgd_update(self, param, grad, velocity, lr, momentum, nesterov):
            super().sgd_update(param, grad, velocity, lr, momentum, nesterov)

    single = Single()
    p = [single.asarray(np.ones(3, np.float32)), single.asarray(np.ones(4, np.float32))]
    single.sgd_update_many(p, [single.asarray(np.ones(3, np.float32)), single.asarray(np.ones(4, np.float32))],
                           None, 0.5, 0.0, False)
    assert fake.launches == ["lamina_sgd_f32"] * 2 and all((single.to_numpy(x) == 0.5).all() for x in p)


def test_fake_optimizers_other_dtypes_use_generic_code(monkeypatch):
    fake, backend, reference = _backend_pair(monkeypatch)
    got = _run_optimizers(backend, "float16")
    want = _run_optimizers(reference, "float16")
    for (kind, arrays), (_, expected) in zip(got, want):
        for a, e in zip(arrays, expected):
            np.testing.assert_array_equal(a, e, err_msg=kind)
    p = backend.asarray(np.ones((3, 4), np.float32))
    g = backend.asarray(np.ones((4,), np.float32))  # broadcast gradient
    backend.sgd_update(p, g, None, 0.5, 0.0, False)
    np.testing.assert_array_equal(backend.to_numpy(p), 0.5)
    assert fake.launches == []


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("counter", COUNTERS)
def test_fake_random_ops_match_numpy(monkeypatch, seed, counter):
    fake, backend, reference = _backend_pair(monkeypatch)
    for n in (0, 1, 3, 4, 5, 37):
        np.testing.assert_array_equal(backend.to_numpy(backend.random_bits(seed, counter, n)),
                                      reference.random_bits(seed, counter, n))
    assert backend.random_bits(seed, counter, 5).dtype == np.uint64
    for dtype in ("float16", "float32", "float64"):
        for lo, hi in ((0.0, 1.0), (-2.5, 3.0), (np.float32(0.1), np.float32(0.7))):
            got = backend.to_numpy(backend.random_uniform((3, 5), seed, counter, dtype, lo, hi))
            want = reference.random_uniform((3, 5), seed, counter, dtype, lo, hi)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
        for rate, shape in ((0.0, (4, 6)), (0.1, (4, 6)), (0.5, (4, 70)), (0.9375, (4, 6)), (0.25, (3, 50)),
                            (3 / 256, (5, 9)), (7 / 2 ** 16, (33,))):  # slots of 1, 32, 1, 4, 2, 8, 16 bits
            got = backend.to_numpy(backend.dropout_mask(shape, rate, seed, counter, dtype))
            want = reference.dropout_mask(shape, rate, seed, counter, dtype)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
    assert backend.random_uniform((0, 3), seed, counter, "float32").shape == (0, 3)
    assert {"lamina_philox_bits", "lamina_philox_uniform_f32", "lamina_philox_uniform_f64",
            "lamina_philox_dropout_f32", "lamina_philox_dropout_f64", "lamina_philox_keep"} == set(fake.launches)


def test_fake_random_errors_match_numpy(monkeypatch):
    _, backend, reference = _backend_pair(monkeypatch)
    for bad_seed in (-1, 1 << 128, 1.5):
        with pytest.raises((ValueError, TypeError)) as want:
            reference.random_bits(bad_seed, 0, 4)
        with pytest.raises(type(want.value)):
            backend.random_bits(bad_seed, 0, 4)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        backend.dropout_mask((3,), 1.0, 0, 0, "float32")


def test_fake_activations_match_numpy(monkeypatch):
    fake, backend, reference = _backend_pair(monkeypatch)
    dev, host = backend.asarray, backend.to_numpy
    x64 = np.array([[-1e4, -100.0, -20.0, -1e-8, -0.0, 0.0], [1e-8, 0.5, 20.0, 100.0, 1e4, np.nan]])
    for dtype in ("float32", "float64"):
        x = x64.astype(dtype)
        np.testing.assert_array_equal(host(backend.sigmoid(dev(x))), reference.sigmoid(x))
        np.testing.assert_array_equal(host(backend.sigmoid(dev(x).T)), reference.sigmoid(x.T))  # a transposed view
        np.testing.assert_array_equal(host(backend.erf(dev(x))), reference.erf(x))
        assert backend.erf(dev(x)).dtype == dtype
    half = x64.astype("float16")
    np.testing.assert_array_equal(host(backend.erf(dev(half))), reference.erf(half))
    assert backend.erf(dev(half)).dtype == np.float16
    assert backend.sigmoid(dev(np.zeros((0, 2), np.float32))).shape == (0, 2)
    for dtype in ("float32", "float64"):  # a 0-d input keeps its shape (CuPy's ascontiguousarray makes it (1,))
        for op in (backend.sigmoid, backend.erf):
            got, want = op(dev(np.asarray(0.25, dtype))), getattr(reference, op.__name__)(np.asarray(0.25, dtype))
            assert got.shape == () and got.dtype == dtype and host(got).tobytes() == np.asarray(want).tobytes()
    for dtype in ("float32", "float64"):
        y = np.tanh(x64[:, :5]).astype(dtype)
        g = np.linspace(-3, 3, 10).reshape(2, 5).astype(dtype)
        yd, gd = dev(y), dev(g)
        want = reference.tanh_grad(y, g)
        got = backend.tanh_grad(yd, gd)
        assert got.dtype == want.dtype and host(got).tobytes() == want.tobytes()
        assert host(backend.tanh_grad(yd.T, gd.T)).tobytes() == reference.tanh_grad(y.T, g.T).tobytes()
        assert backend.tanh_grad(yd, gd, out=gd) is gd and host(gd).tobytes() == want.tobytes()  # in place
        y = np.array([[0.0, -0.0, 2.0, np.nan, np.inf], [1e-30, 0.5, 0.0, 3.0, np.nan]], dtype)  # relu outputs
        g = np.array([[-1.0, 2.0, -3.0, 4.0, -np.inf], [np.nan, -0.5, -2.0, np.inf, 1.0]], dtype)
        yd, gd = dev(y), dev(g)
        want = reference.relu_grad(y, g)
        assert host(backend.relu_grad(yd, gd)).tobytes() == want.tobytes()
        assert host(backend.relu_grad(yd.T, gd.T)).tobytes() == reference.relu_grad(y.T, g.T).tobytes()
        assert backend.relu_grad(yd, gd, out=gd) is gd and host(gd).tobytes() == want.tobytes()  # in place
        launched = len(fake.launches)
        buf = dev(np.arange(11, dtype=dtype))
        backend.relu_grad(dev(np.ones(10, dtype)), buf[:-1], out=buf[1:])  # out overlaps g: the base code
        assert len(fake.launches) == launched and (host(buf) == np.r_[0, np.arange(10)]).all()
    assert {"lamina_sigmoid_f32", "lamina_sigmoid_f64", "lamina_erf_f32", "lamina_erf_f64",
            "lamina_tanh_grad_f32", "lamina_tanh_grad_f64", "lamina_relu_grad_f32",
            "lamina_relu_grad_f64"} == set(fake.launches)


def test_fake_classifier_output_kernels_are_the_numpy_backends_bit_for_bit(monkeypatch):
    """softmax_grad, the cross-entropy and its gradient on a (batch, classes) block: one launch each
    (two around CuPy's log for the loss), the NumPy backend's bits; other layouts, an epsilon that is
    not a Python float and more than 128 classes take the base composition without a launch."""
    fake, backend, reference = _backend_pair(monkeypatch)
    host = backend.to_numpy
    rng = np.random.default_rng(4)
    for dtype in ("float32", "float64"):
        z = rng.standard_normal((6, 10)) * 8
        y = (np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)).astype(dtype)  # entries below 1e-7 too
        t = np.eye(10, dtype=dtype)[rng.integers(0, 10, 6)]
        g = np.broadcast_to(np.asarray(1 / 6, dtype), (6,))
        yd, td = backend.asarray(y), backend.asarray(t)
        gd = backend.xp.broadcast_to(backend.asarray(np.asarray(1 / 6, dtype)), (6,))  # a broadcast device view
        fake.launches.clear()
        got, want = backend.categorical_crossentropy(td, yd, 1e-7), reference.categorical_crossentropy(t, y, 1e-7)
        for a, b in zip((got[0],) + got[1], (want[0],) + want[1]):
            a = host(a)
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        a, b = backend.categorical_crossentropy_grad(gd, td, got[1], 1e-7), reference.categorical_crossentropy_grad(g, t, want[1], 1e-7)
        assert host(a).tobytes() == b.tobytes()
        a, b = backend.softmax_grad(yd, td), reference.softmax_grad(y, t)
        assert host(a).tobytes() == b.tobytes()
        a, b = backend.argmax_equal(td, yd, dtype), reference.argmax_equal(t, y, dtype)
        assert a.dtype == b.dtype and host(a).tobytes() == b.tobytes()
        sfx = "f32" if dtype == "float32" else "f64"
        assert fake.launches == [f"lamina_ce_forward_{sfx}", f"lamina_ce_loss_{sfx}", f"lamina_ce_grad_{sfx}",
                                 f"lamina_softmax_grad_{sfx}", f"lamina_argmax_equal_{sfx}"]
        fake.launches.clear()
        wide = backend.asarray(np.full((2, 129), 1 / 129, dtype))
        for call in (lambda: backend.softmax_grad(yd.T, td.T), lambda: backend.softmax_grad(yd, td, axis=0),
                     lambda: backend.categorical_crossentropy(td, yd, np.float64(1e-7)),
                     lambda: backend.categorical_crossentropy(wide, wide, 1e-7),
                     lambda: backend.softmax_grad(yd[0], td[0])):
            call()
        assert fake.launches == []
        empty = backend.categorical_crossentropy(td[:0], yd[:0], 1e-7)
        assert empty[0].shape == (0,) and fake.launches == []
    status = backend.kernel_status()
    assert all(status[op] == "ok" for op in ("softmax_grad", "categorical_crossentropy",
                                             "categorical_crossentropy_grad", "argmax_equal")), status


def test_fake_argmax_equal_takes_the_kernel_only_where_it_gives_the_base_answer(monkeypatch):
    """argmax_equal for every input dtype, requested dtype and layout: one launch exactly for
    C-contiguous float32/float64 of rank >= 2 with 1 to 128 columns asked in their own dtype, and
    the base composition's dtype, shape and bits (or its error) everywhere."""
    from lamina.backends.base import ArrayBackend

    class Plain(ArrayBackend):
        xp = np

    def outcome(be, a, b, d):
        try:
            r = be.to_numpy(be.argmax_equal(a, b, d))
            return r.dtype, r.shape, r.tobytes()
        except Exception as exc:
            return type(exc)

    fake, backend, _ = _backend_pair(monkeypatch)
    plain, rng = Plain(), np.random.default_rng(0)
    for dt in ("float32", "float64", "float16", "int64"):
        for shape in ((5, 10), (7, 1), (3, 128), (3, 129), (0, 10), (2, 3, 4), (10,)):
            a, b = rng.integers(0, 3, shape).astype(dt), rng.integers(0, 3, shape).astype(dt)
            if dt.startswith("float"):
                a.reshape(-1)[::5] = np.nan
            bd = backend.asarray(b)
            for d in (dt, "float32", "float64", "int64"):
                # a, and for 2-D its values as the transposed view of a C-ordered copy (on the device too)
                for x, xd in ((a, backend.asarray(a)),
                              (np.ascontiguousarray(a.T).T, _transposed_view(backend.asarray, a))
                              if a.ndim == 2 else (a, backend.asarray(a))):
                    fake.launches.clear()
                    assert outcome(backend, xd, bd, d) == outcome(plain, x, b, d), (dt, shape, d)
                    kernel = (dt in ("float32", "float64") and d == dt and xd.flags.c_contiguous and len(shape) >= 2
                              and 1 <= shape[-1] <= 128 and shape[0] > 0)
                    assert fake.launches == ([f"lamina_argmax_equal_{'f32' if dt == 'float32' else 'f64'}"]
                                             if kernel else []), (dt, shape, d, fake.launches)
    assert backend.kernel_status()["argmax_equal"] == "ok"


def _recurrent_steps(backend, dtype, batch=5, units=3, h_out=False):
    """One LSTM and one GRU step forward and backward on ``backend`` (host arrays in and out)."""
    rng = np.random.default_rng(21)

    def arr(*shape, scale=1.0):
        return backend.asarray((rng.standard_normal(shape) * scale).astype(dtype))

    results = []
    z, c = arr(batch, 4 * units, scale=3), arr(batch, units)
    out = backend.zeros((batch, units), dtype) if h_out else None
    fwd = backend.lstm_cell_forward(z, c, axis=1, h_out=out)
    results += list(fwd)
    i, f, g, o, _, tc, _ = fwd
    for gh, gc in ((arr(batch, units), arr(batch, units)), (arr(batch, units), None), (None, arr(batch, units))):
        dz = backend.empty((batch, 4 * units), dtype)
        results += [backend.lstm_cell_grad(i, f, g, o, tc, c, gh, gc, dz, axis=-1), dz]
    x, inner, h = arr(batch, 3 * units, scale=3), arr(batch, 3 * units, scale=2), arr(batch, units)
    gz, gr, ghh, inner_h, h_new = backend.gru_cell_forward(x, inner, h, h_out=out)
    results += [gz, gr, ghh, inner_h, h_new]
    dx, du = backend.empty((batch, 3 * units), dtype), backend.empty((batch, 3 * units), dtype)
    results += [backend.gru_cell_grad(gz, gr, ghh, inner_h, h, arr(batch, units), dx, du), dx, du]
    return [backend.to_numpy(a) for a in results]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("h_out", [False, True])
def test_fake_recurrent_steps_launch_and_match_numpy(monkeypatch, dtype, h_out):
    fake, backend, reference = _backend_pair(monkeypatch)
    got = _recurrent_steps(backend, dtype, h_out=h_out)
    want = _recurrent_steps(reference, dtype, h_out=h_out)
    assert len(got) == len(want)
    for k, (a, b) in enumerate(zip(got, want)):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), k
    sfx = "f32" if dtype == "float32" else "f64"
    assert fake.launches == [f"lamina_lstm_cell_forward_{sfx}"] + [f"lamina_lstm_cell_grad_{sfx}"] * 3 + [
        f"lamina_gru_cell_forward_{sfx}", f"lamina_gru_cell_grad_{sfx}"]
    status = backend.kernel_status()
    assert all(status[op] == "ok" for op in ("lstm_cell_forward", "lstm_cell_grad", "gru_cell_forward",
                                             "gru_cell_grad"))


def test_fake_recurrent_steps_odd_inputs_take_the_generic_code(monkeypatch):
    fake, backend, reference = _backend_pair(monkeypatch)
    empty = _recurrent_steps(backend, "float32", batch=0)
    assert [a.shape for a in empty] == [a.shape for a in _recurrent_steps(reference, "float32", batch=0)]
    fake.launches.clear()
    got = _recurrent_steps(backend, "float16")  # no float16 kernels: the base composition
    want = _recurrent_steps(reference, "float16")
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(got, want))
    assert not any("cell" in name for name in fake.launches)
    # a GRU h block that is not a view of whole rows is copied into rows the kernel can read
    rng = np.random.default_rng(2)
    z, r, hh, h_prev, dh = (rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32) for _ in range(5))
    inner_h = np.ascontiguousarray(rng.standard_normal((4, 3)).astype(np.float32))
    outs = [[be.empty((4, 9), np.float32) for _ in range(2)] for be in (backend, reference)]
    a = backend.gru_cell_grad(*(backend.asarray(v) for v in (z, r, hh, inner_h, h_prev, dh)), *outs[0])
    b = reference.gru_cell_grad(z, r, hh, inner_h, h_prev, dh, *outs[1])
    assert backend.to_numpy(a).tobytes() == b.tobytes()
    assert all(backend.to_numpy(x).tobytes() == y.tobytes() for x, y in zip(outs[0], outs[1]))


def test_fake_recurrent_steps_with_overlapping_outputs_take_the_generic_code(monkeypatch):
    """A kernel's threads would read what others already wrote: an output overlapping an input goes
    to the base composition (the same values as the NumPy backend, which falls back the same way)."""
    fake, backend, reference = _backend_pair(monkeypatch)
    results = []
    for be in (backend, reference):  # each backend's own arrays; the overlapping views are views of them
        dz = be.asarray(np.linspace(-1, 1, 12, dtype="f4").reshape(1, 12))
        gates = [be.asarray(np.full((1, 3), 0.5, "f4"))] * 6
        prev = be.lstm_cell_grad(*gates, dz[:, 1:4], None, dz)
        flat = be.asarray(np.arange(8, dtype="f4") / 8)
        x, inner = be.asarray(np.ones((2, 9), "f4")), be.asarray(np.full((2, 9), 0.5, "f4"))
        be.gru_cell_forward(x, inner, flat[:6].reshape(2, 3), h_out=flat[1:7].reshape(2, 3))
        results.append([be.to_numpy(a) for a in (prev, dz, flat)])
    for got, want in zip(*results):
        assert got.tobytes() == want.tobytes()
    assert not any("cell" in name for name in fake.launches)


def test_fake_recurrent_kernel_failure_falls_back(monkeypatch, caplog):
    fake, backend, reference = _backend_pair(monkeypatch)
    fake.kernel_failure = RuntimeError("nvrtc: error (fake)")
    with caplog.at_level(logging.WARNING, logger="lamina.cupy"):
        got = _recurrent_steps(backend, "float32")
        _recurrent_steps(backend, "float32")
    want = _recurrent_steps(reference, "float32")
    assert all(a.tobytes() == b.tobytes() for a, b in zip(got, want))
    warned = sorted(r.args[0] for r in caplog.records if r.name == "lamina.cupy")
    assert warned == ["gru_cell_forward", "gru_cell_grad", "lstm_cell_forward", "lstm_cell_grad", "sigmoid",
                      "tanh_grad"]  # once each; the generic code's own kernels fail too
    assert fake.launches == []


def test_fake_cupy_refuses_host_arrays_as_cupy_does(monkeypatch):
    """The fake's arrays are not NumPy's: a host operand, an implicit host conversion, a host array in
    a kernel launch or a basic-slice assignment fail as on CuPy, and asarray copies host memory, so a
    dry run finds host/device mixing before a GPU session does. What CuPy allows still runs."""
    fake = install_fake(monkeypatch)
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    dev = fake.asarray(host)
    assert isinstance(dev, fake.ndarray) and not isinstance(dev, np.ndarray)
    host[0, 0] = 99.0
    assert float(dev[0, 0]) == 0.0  # a copy, not the caller's memory
    refused = {
        "dev + host": lambda: dev + host, "host * dev": lambda: host * dev,
        "cupy.add(dev, host)": lambda: fake.add(dev, host), "np.add(dev, host)": lambda: np.add(dev, host),
        "cupy.matmul(dev, host.T)": lambda: fake.matmul(dev, host.T), "np.asarray(dev)": lambda: np.asarray(dev),
        "np.concatenate([dev, host])": lambda: np.concatenate([dev, host]), "dev.dot(host.T)": lambda: dev.dot(host.T),
        "cupy.add(dev, list)": lambda: fake.add(dev, [1.0, 2.0, 3.0]), "dev + list": lambda: dev + [1.0, 2.0, 3.0],
        "cupy.multiply(dev, 2, out=host)": lambda: fake.multiply(dev, 2, out=host),
        "np.multiply(dev, 2, out=host)": lambda: np.multiply(dev, 2, out=host),
        "1-d dev - 1-d host": lambda: dev[0] - host[1], "cupy.stack of 1-d": lambda: fake.stack([dev[0], host[1]]), "dev * 0-d host": lambda: dev * np.array(2.0, np.float32),
        "cupy.where(dev > 0, dev, list)": lambda: fake.where(dev > 0, dev, [[0.0] * 3] * 2),
        "cupy.add(dev, 1, where=...)": lambda: fake.add(dev, 1, where=dev > 0),
        "cupy.ascontiguousarray(host)": lambda: fake.ascontiguousarray(host),
        "cupy.asarray([dev, host])": lambda: fake.asarray([dev, host]),
        "range(0-d dev)": lambda: range(fake.sum(dev[0]).astype(np.int64)),
    }
    for what, call in refused.items():
        with pytest.raises(TypeError):
            call()
            pytest.fail(f"{what} ran on the fake; CuPy refuses it")
    with pytest.raises(AttributeError):
        fake.errstate  # a NumPy name CuPy lacks
    for assign in (lambda: dev.__setitem__(Ellipsis, host), lambda: dev.fill(host)):
        with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
            assign()
    sgd = fake.RawModule(code=_kernels.kernel_source("optimizers"),
                         options=lamina_cupy.NVRTC_OPTIONS).get_function("lamina_sgd_f32")
    g, v = np.ones(6, np.float32), np.zeros(6, np.float32)
    with pytest.raises(AssertionError, match="a kernel takes device arrays"):
        sgd((1,), (32,), (dev.reshape(-1), g, v, np.uint64(6), np.float32(0.1), np.float32(0.9), np.int32(0)))
    assert fake.launches == []
    # what CuPy allows: device operands, scalars, out= on the device, host indices and advanced-index values
    out = fake.empty((2, 3), np.float32)
    assert fake.add(dev, np.float32(1), out=out) is out
    assert fake.asnumpy(out).tolist() == [[1, 2, 3], [4, 5, 6]]
    total = fake.sum(dev)
    assert isinstance(total, fake.ndarray) and total.ndim == 0 and float(total) == 15.0
    dev[np.array([1])] = host[:1]
    assert dev.get().tolist() == [[0, 1, 2], [99, 1, 2]]
    assert fake.asarray(dev) is dev and not hasattr(dev.flags, "writeable")
    assert fake.asarray(dev, copy=True) is not dev and fake.array(dev, copy=False) is dev
    item = dev[1, 2]  # a 0-d view, as CuPy's
    dev[1, 2] = 7.0
    assert float(item) == 7.0 and f"{item:.1f}" == "7.0"
    flat = fake.zeros(4, np.float32)
    fake.add.at(flat, np.array([0, 0, 3]), np.float32(1))  # host indices: CuPy copies them in
    assert flat.get().tolist() == [2, 0, 0, 1] and flat.take(np.array([3])).get().tolist() == [1]
    # every device -> host read is counted, one per read
    reads = {"get": lambda: dev.get(), "asnumpy": lambda: fake.asnumpy(dev), "float": lambda: float(total),
             "int": lambda: int(total), "bool": lambda: bool(total), "item": lambda: total.item(),
             "tolist": lambda: dev.tolist(), "repr": lambda: repr(dev), "format": lambda: f"{total:.2f}",
             "mask index": lambda: dev[np.array([True, False])], "nonzero": lambda: fake.nonzero(dev)}
    for what, read in reads.items():
        before = FakeArray.host_reads
        read()
        assert FakeArray.host_reads == before + 1, what
    before = FakeArray.host_reads
    dev.reshape(-1)[1:4] * 2 + fake.sum(dev, axis=0)  # views and device arithmetic read nothing
    assert FakeArray.host_reads == before
    sgd((1,), (32,), (dev.reshape(-1), fake.asarray(g), fake.asarray(v), np.uint64(6), np.float32(0.1),
                      np.float32(0.9), np.int32(0)))
    assert fake.launches == ["lamina_sgd_f32"] and dev.get()[0, 0] == np.float32(-0.1)


def test_fake_transfer_and_matmul(monkeypatch):
    fake, backend, _ = _backend_pair(monkeypatch)
    host = np.arange(6, dtype=np.float64).reshape(2, 3)
    dev = backend.asarray(host, dtype="float32")
    assert dev.dtype == np.float32 and backend.is_array(dev)
    np.testing.assert_array_equal(backend.to_numpy(dev), host)
    a, b = backend.asarray(np.ones((2, 3), np.float32)), backend.asarray(np.ones((3, 4), np.float32))
    out = backend.empty((2, 4), np.float32)
    assert backend.matmul(a, b, out=out) is out
    np.testing.assert_array_equal(backend.to_numpy(out), 3.0)
    with pytest.raises(ValueError, match=r"matmul: out has shape \(4, 2\).*is \(2, 4\) float32"):
        backend.matmul(a, b, out=backend.empty((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"matmul: out .*dtype float64"):
        backend.matmul(a, b, out=backend.empty((2, 4), np.float64))
    batched = backend.asarray(np.ones((5, 2, 3), np.float32))
    out = backend.empty((5, 2, 4), np.float32)
    assert backend.matmul(batched, b, out=out) is out
    backend.synchronize()
    assert fake.synchronized == 1


def test_fake_kernel_failure_falls_back_with_one_warning(monkeypatch, caplog):
    fake, backend, reference = _backend_pair(monkeypatch)
    fake.kernel_failure = RuntimeError("nvrtc: error: invalid option --fmad=false (fake)")
    with caplog.at_level(logging.WARNING, logger="lamina.cupy"):
        for _ in range(2):
            got = _run_optimizers(backend, "float32")
            host = backend.to_numpy
            np.testing.assert_array_equal(host(backend.random_bits(3, 4, 9)), reference.random_bits(3, 4, 9))
            np.testing.assert_array_equal(host(backend.random_uniform((2, 3), 3, 4, "float32")),
                                          reference.random_uniform((2, 3), 3, 4, "float32"))
            np.testing.assert_array_equal(host(backend.dropout_mask((2, 3), 0.5, 3, 4, "float64")),
                                          reference.dropout_mask((2, 3), 0.5, 3, 4, "float64"))
            x = np.linspace(-3, 3, 7, dtype=np.float32)
            xd = backend.asarray(x)
            np.testing.assert_array_equal(host(backend.sigmoid(xd)), reference.sigmoid(x))
            np.testing.assert_array_equal(host(backend.erf(xd)), reference.erf(x))
            np.testing.assert_array_equal(host(backend.tanh_grad(backend.asarray(np.tanh(x)), xd)),
                                          reference.tanh_grad(np.tanh(x), x))
    for (kind, arrays), (_, expected) in zip(got, _run_optimizers(reference, "float32")):
        for a, e in zip(arrays, expected):
            np.testing.assert_array_equal(a, e, err_msg=kind)
    ops = {"sgd_update", "adam_update", "rmsprop_update", "random_bits", "random_uniform",
           "dropout_mask", "sigmoid", "erf", "tanh_grad"}
    warnings = [r for r in caplog.records if r.name == "lamina.cupy"]
    assert sorted(r.args[0] for r in warnings) == sorted(ops)  # one warning per op, never repeated
    assert all("invalid option" in r.getMessage() for r in warnings)
    status = backend.kernel_status()
    assert set(status) == ops and all(v.startswith("failed: RuntimeError") for v in status.values())
    assert fake.launches == []


def test_fused_kernels_can_be_turned_off(monkeypatch):
    fake = install_fake(monkeypatch)
    monkeypatch.setenv("LAMINA_CUPY_FUSED", "0")
    backend, reference = lamina_cupy.CupyBackend(), NumpyBackend()
    _run_optimizers(backend, "float32")
    np.testing.assert_array_equal(backend.to_numpy(backend.random_bits(1, 2, 10)), reference.random_bits(1, 2, 10))
    np.testing.assert_array_equal(backend.to_numpy(backend.dropout_mask((4,), 0.5, 1, 2, "float32")),
                                  reference.dropout_mask((4,), 0.5, 1, 2, "float32"))
    assert fake.launches == [] and fake.modules_built == 0


def test_every_kernel_has_an_emulation_and_a_caller():
    names = set()
    for path in CU_FILES:
        names |= set(kernel_signatures(path.read_text()))
    assert names == set(EMULATIONS)
    source = "".join(p.read_text() for p in Path(lamina_cupy.__file__).parent.glob("*.py"))
    for name in names:  # each kernel is launched by name (possibly built from a prefix + suffix)
        stem = re.sub(r"_(f32|f64)$", "", name)
        assert stem in source, f"{name} is never launched"


def test_kernel_files_are_package_data():
    assert {p.stem for p in CU_FILES} == set(lamina_cupy.KERNEL_FILES)
    for name in lamina_cupy.KERNEL_FILES:
        assert "__global__" in lamina_cupy.kernel_source(name)


def test_philox_kernel_args_split_seed_and_counter():
    assert lamina_cupy.philox_kernel_args(0, 0) == (0, 0, 0, 0, 0)
    seed = (5 << 64) | 9
    counter = (3 << 128) | (2 << 64) | 1
    assert lamina_cupy.philox_kernel_args(seed, counter) == (9, 5, 1, 2, 3)
    assert lamina_cupy.philox_kernel_args(1, -1) == (1, 0, MASK64, MASK64, MASK64)
    with pytest.raises(ValueError):
        lamina_cupy.philox_kernel_args(-3, 0)


def test_launch_shape():
    assert _kernels.launch_shape(0) == ((1,), (256,))
    assert _kernels.launch_shape(257) == ((2,), (256,))
    assert _kernels.launch_shape(10 ** 12) == ((65535,), (256,))


# =================================================================================================
# The CUDA sources, compiled without a GPU
# =================================================================================================

needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found")


@needs_nvcc
@pytest.mark.parametrize("path", CU_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("options", [(), lamina_cupy.NVRTC_OPTIONS], ids=["plain", "backend-options"])
def test_cu_file_compiles_with_nvcc(path, options, tmp_path):
    ptx = tmp_path / (path.stem + ".ptx")
    done = subprocess.run([NVCC, "-arch=sm_90", "--ptx", *options, str(path), "-o", str(ptx)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr.lower(), done.stderr
    entries = set(re.findall(r"\.entry\s+(\w+)\(", ptx.read_text()))
    assert entries == set(kernel_signatures(path.read_text())), "every extern \"C\" kernel, unmangled"


def _cupy_nvrtc():
    try:
        from cupy.cuda import nvrtc  # CuPy's binding (cupy_backends.cuda.libs.nvrtc)
        nvrtc.getVersion()
        return nvrtc
    except Exception:
        return None


@pytest.mark.parametrize("path", CU_FILES, ids=lambda p: p.name)
def test_cu_file_compiles_with_nvrtc(path):
    """The compiler CuPy's RawModule uses at run time (no headers, the backend's options)."""
    if isinstance(sys.modules.get("cupy"), FakeCupy):
        pytest.skip("a fake cupy is installed")
    nvrtc = _cupy_nvrtc()
    if nvrtc is None:
        pytest.skip("CuPy with NVRTC not installed")
    program = nvrtc.createProgram(path.read_text(), path.name, [], [])
    try:
        try:
            nvrtc.compileProgram(program, ["-arch=compute_90", *lamina_cupy.NVRTC_OPTIONS])
        except Exception as exc:
            pytest.fail(f"NVRTC rejected {path.name}: {exc}\n{nvrtc.getProgramLog(program)}")
        ptx = nvrtc.getPTX(program)
        ptx = ptx.decode() if isinstance(ptx, bytes) else ptx
    finally:
        nvrtc.destroyProgram(program)
    assert set(re.findall(r"\.entry\s+(\w+)\(", ptx)) == set(kernel_signatures(path.read_text()))


# --- Philox: the kernel's arithmetic as a host program -------------------------------------------

HARNESS = textwrap.dedent(r"""
    // Runs the __host__ __device__ part of kernels/philox.cu on the CPU.
    // stdin:  B k0 k1 c0 c1 c2 c3                      -> one Philox4x64-10 block
    //         S k0 k1 d0 d1 d2 n threshold lo32 span32 lo64 span64 scale32 scale64
    //                                                  -> six lines: words, float32 uniforms,
    //                                                     float64 uniforms, float32 and float64
    //                                                     dropout masks (all as bit patterns), keeps
    //         D w k0 k1 d0 d1 d2 n units kind has s threshold scale y[n] bias[units if has & 1]
    //                                                  -> three lines: y, mask and out (bit patterns;
    //                                                     mask and out empty without dropout) after
    //                                                     the dense forward (lamina_dense_forward_f32
    //                                                     for w = 4, _f64 for w = 8): every
    //                                                     element's lamina_dense_forward_one with
    //                                                     dropout (has & 2), else every element's
    //                                                     lamina_dense_activate; y and bias as bit
    //                                                     patterns
    #include <cstdio>
    #include <cstdlib>
    #include <cstring>
    #include <vector>
    #include "philox.cu"

    static unsigned long long read_u64() {
        unsigned long long v;
        if (std::scanf("%llx", &v) != 1) std::exit(2);
        return v;
    }
    static double read_real() {
        char text[128];
        if (std::scanf("%127s", text) != 1) std::exit(2);
        return std::strtod(text, 0);
    }
    static unsigned int bits32(float f) { unsigned int u; std::memcpy(&u, &f, 4); return u; }
    static unsigned long long bits64(double d) { unsigned long long u; std::memcpy(&u, &d, 8); return u; }

    // count values given as bit patterns (U: the unsigned type of T's width), one spare at the end
    template <typename T, typename U>
    static std::vector<T> read_values(lamina_u64 count) {
        std::vector<T> values(count + 1);
        for (lamina_u64 i = 0; i < count; ++i) {
            U u = (U)read_u64();
            std::memcpy(&values[i], &u, sizeof u);
        }
        return values;
    }
    template <typename T, typename U>
    static void print_values(const std::vector<T>& values, lamina_u64 count) {
        for (lamina_u64 i = 0; i < count; ++i) {
            U u;
            std::memcpy(&u, &values[i], sizeof u);
            std::printf("%0*llx ", (int)(2 * sizeof u), (unsigned long long)u);
        }
        std::printf("\n");
    }

    // D: the dense forward's per-block / per-element functions over a whole (n / units, units) product
    template <typename T, typename U>
    static void dense_forward_case() {
        lamina_u64 k0 = read_u64(), k1 = read_u64(), d0 = read_u64(), d1 = read_u64(), d2 = read_u64();
        lamina_u64 n = read_u64(), units = read_u64();
        int kind = (int)read_u64(), has = (int)read_u64();
        unsigned s = (unsigned)read_u64();
        lamina_u64 threshold = read_u64();
        T scale = (T)read_real();
        std::vector<T> y = read_values<T, U>(n), bias = read_values<T, U>(has & 1 ? units : 0);
        std::vector<T> mask(n + 1), out(n + 1);
        if (has & 2) {
            for (lamina_u64 i = 0; i < n; ++i)
                lamina_dense_forward_one<T>(k0, k1, d0, d1, d2, i, &y[0], &bias[0], &mask[0], &out[0], units,
                                            kind, has, s, threshold, scale);
        } else {
            for (lamina_u64 i = 0; i < n; ++i) lamina_dense_activate<T>(&y[0], &bias[0], i, units, kind, has);
        }
        print_values<T, U>(y, n);
        print_values<T, U>(mask, has & 2 ? n : 0);
        print_values<T, U>(out, has & 2 ? n : 0);
    }

    int main() {
        char op[4];
        while (std::scanf("%3s", op) == 1) {
            if (op[0] == 'B') {
                lamina_u64 k0 = read_u64(), k1 = read_u64(), c[4];
                for (int j = 0; j < 4; ++j) c[j] = read_u64();
                lamina_philox4x64_10(c, k0, k1);
                std::printf("%016llx %016llx %016llx %016llx\n", c[0], c[1], c[2], c[3]);
                continue;
            }
            if (op[0] == 'D') {
                if (read_u64() == 4) dense_forward_case<float, unsigned int>();
                else dense_forward_case<double, unsigned long long>();
                continue;
            }
            lamina_u64 k0 = read_u64(), k1 = read_u64(), d0 = read_u64(), d1 = read_u64();
            lamina_u64 d2 = read_u64(), n = read_u64();
            unsigned s = (unsigned)read_u64();
            lamina_u64 threshold = read_u64();
            float lo32 = (float)read_real(), span32 = (float)read_real();
            double lo64 = read_real(), span64 = read_real();
            float scale32 = (float)read_real();
            double scale64 = read_real();
            std::vector<lamina_u64> words(n + 1);
            std::vector<float> u32(n + 1), m32(n + 1);
            std::vector<double> u64(n + 1), m64(n + 1);
            std::vector<unsigned char> keep(n + 1);
            for (lamina_u64 b = 0; b < (n + 3) / 4; ++b) {
                lamina_philox_fill_bits(k0, k1, d0, d1, d2, b, n, &words[0]);
                lamina_philox_fill_uniform_f32(k0, k1, d0, d1, d2, b, n, &u32[0], lo32, span32);
                lamina_philox_fill_uniform_f64(k0, k1, d0, d1, d2, b, n, &u64[0], lo64, span64);
                lamina_philox_fill_dropout<float>(k0, k1, d0, d1, d2, b, n, &m32[0], s, threshold, scale32);
                lamina_philox_fill_dropout<double>(k0, k1, d0, d1, d2, b, n, &m64[0], s, threshold, scale64);
                lamina_philox_fill_dropout<unsigned char>(k0, k1, d0, d1, d2, b, n, &keep[0], s, threshold, 1);
            }
            // the dropout kernels' per-element form must give the blocks' values, element by element
            for (lamina_u64 i = 0; i < n; ++i) {
                if (bits32(lamina_dropout_one<float>(k0, k1, d0, d1, d2, i, s, threshold, scale32)) != bits32(m32[i])
                    || bits64(lamina_dropout_one<double>(k0, k1, d0, d1, d2, i, s, threshold, scale64)) != bits64(m64[i])
                    || lamina_dropout_one<unsigned char>(k0, k1, d0, d1, d2, i, s, threshold, 1) != keep[i]) {
                    std::fprintf(stderr, "lamina_dropout_one differs from lamina_philox_fill_dropout at %llu\n", i);
                    return 3;
                }
            }
            for (lamina_u64 i = 0; i < n; ++i) std::printf("%016llx ", words[i]);
            std::printf("\n");
            for (lamina_u64 i = 0; i < n; ++i) std::printf("%08x ", bits32(u32[i]));
            std::printf("\n");
            for (lamina_u64 i = 0; i < n; ++i) std::printf("%016llx ", bits64(u64[i]));
            std::printf("\n");
            for (lamina_u64 i = 0; i < n; ++i) std::printf("%08x ", bits32(m32[i]));
            std::printf("\n");
            for (lamina_u64 i = 0; i < n; ++i) std::printf("%016llx ", bits64(m64[i]));
            std::printf("\n");
            for (lamina_u64 i = 0; i < n; ++i) std::printf("%d", (int)keep[i]);
            std::printf("\n");
        }
        return 0;
    }
""")

# Random123's published known answers for philox4x64-10 (kat_vectors): (counter, key) -> words.
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x16554d9eca36314c, 0xdb20fe9d672d0fdc, 0xd7e772cee186176b, 0x7e68b68aec7ba23b)),
    ((MASK64,) * 4, (MASK64, MASK64),
     (0x87b092c3013fe90b, 0x438c3c67be8d0224, 0x9cc7d7c69cd777b6, 0xa09caebf594f0ba0)),
]
STREAM_CASES = [  # (seed, counter, n, rate, minval, maxval)
    (0, 0, 1, 0.5, 0.0, 1.0),
    (42, 0, 3, 0.1, -1.0, 1.0),
    (42, 1, 4, 0.25, 0.0, 1.0),
    (123456789, 17, 5, 0.9, 2.0, 5.5),
    ((1 << 64) + 12345, (1 << 64) + 3, 37, 0.3, -0.05, 0.05),
    ((1 << 128) - 1, (1 << 192) - 1, 64, 0.0, 0.0, 1.0),
    (2 ** 63 + 1, -1, 1001, 0.999, -3.0, 3.0),
    (7, 2 ** 63, 4099, 0.5, 1e-3, 1e3),
    (3, 5, 300, 0.75, 0.0, 1.0),  # dropout slots of 2, 4, 8 and 16 bits
    (3, 6, 130, 0.375, 0.0, 1.0),
    (3, 7, 77, 201 / 256, 0.0, 1.0),
    (3, 8, 45, 1 - 2 ** -16, 0.0, 1.0),
]


def _compilers():
    found = []
    cxx = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    found.append(pytest.param(
        [cxx, "-std=c++11", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-x", "c++"] if cxx else None,
        id="host-c++", marks=pytest.mark.skipif(cxx is None, reason="no C++ compiler found")))
    found.append(pytest.param(  # the schoolbook high product that hosts without __int128 use
        [cxx, "-std=c++11", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror",
         "-DLAMINA_PHILOX_PORTABLE_MULHI", "-x", "c++"]
        if cxx else None, id="host-c++-portable-mulhi",
        marks=pytest.mark.skipif(cxx is None, reason="no C++ compiler found")))
    found.append(pytest.param(
        [NVCC, "-Xcompiler", "-ffp-contract=off", "-x", "cu"] if NVCC else None, id="nvcc-host",
        marks=pytest.mark.skipif(NVCC is None, reason="nvcc not found")))
    return found


@pytest.fixture(scope="module")
def _harness_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("philox_harness")
    (folder / "harness.cpp").write_text(HARNESS)
    return folder


def _harness_exe(compiler, folder):
    """The harness built by ``compiler`` (once a module run)."""
    exe = folder / f"harness_{Path(compiler[0]).name}_{zlib.crc32(' '.join(compiler).encode()):08x}"
    if not exe.exists():
        done = subprocess.run([*compiler, str(folder / "harness.cpp"), "-I", str(KERNEL_DIR),
                               "-o", str(exe)], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    return exe


@pytest.mark.parametrize("compiler", _compilers())
def test_philox_kernel_logic_matches_host_stream(compiler, _harness_dir):
    exe = _harness_exe(compiler, _harness_dir)
    lines = []
    for counter, key, _ in PHILOX_KAT:
        lines.append("B " + " ".join(f"{v:x}" for v in (*key, *counter)))
    for seed, counter, n, rate, lo, hi in STREAM_CASES:
        k0, k1, d0, d1, d2 = lamina_cupy.philox_kernel_args(seed, counter)
        t32 = np.float32
        values = [float(t32(lo)), float(t32(hi - lo)), float(lo), float(hi - lo),
                  float(t32(1 / (1 - rate))), 1 / (1 - rate)]
        lines.append("S " + " ".join(f"{v:x}" for v in (k0, k1, d0, d1, d2, n, *philox.dropout_slot(rate)))
                     + " " + " ".join(v.hex() for v in values))
    done = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert len(out) == len(PHILOX_KAT) + 6 * len(STREAM_CASES)
    # Random123's known answers, and NumPy's Philox for the same counter and key
    for i, (counter, key, expected) in enumerate(PHILOX_KAT):
        got = tuple(int(w, 16) for w in out[i].split())
        assert got == expected
        start = (sum(c << (64 * j) for j, c in enumerate(counter)) - 1) % (1 << 256)
        gen = np.random.Philox(counter=np.array([(start >> (64 * j)) & MASK64 for j in range(4)], np.uint64),
                               key=np.array(key, np.uint64))
        assert got == tuple(int(w) for w in gen.random_raw(4))
    reference = NumpyBackend()
    rows = iter(out[len(PHILOX_KAT):])
    for seed, counter, n, rate, lo, hi in STREAM_CASES:
        words, u32, u64, m32, m64, keep = (next(rows).split() for _ in range(6))
        case = f"seed={seed} counter={counter} n={n}"
        want_words = philox.philox_words(seed, counter, n)
        assert [int(w, 16) for w in words] == [int(w) for w in want_words], case
        want = reference.random_uniform((n,), seed, counter, "float32", lo, hi).view(np.uint32)
        assert [int(w, 16) for w in u32] == [int(w) for w in want], case
        want = reference.random_uniform((n,), seed, counter, "float64", lo, hi).view(np.uint64)
        assert [int(w, 16) for w in u64] == [int(w) for w in want], case
        want = reference.dropout_mask((n,), rate, seed, counter, "float32").view(np.uint32)
        assert [int(w, 16) for w in m32] == [int(w) for w in want], case
        want = reference.dropout_mask((n,), rate, seed, counter, "float64").view(np.uint64)
        assert [int(w, 16) for w in m64] == [int(w) for w in want], case
        want = philox.keep_mask(seed, counter, n, rate)
        assert [c == "1" for c in keep[0]] == list(want) if n else keep == [], case


def _ulps_apart(got, want):
    """Units in the last place between two float arrays of one dtype (-0.0 and +0.0: one)."""
    sign = 1 << (8 * got.itemsize - 1)
    uint = np.uint32 if got.dtype == np.float32 else np.uint64

    def ordered(a):
        return [-(int(u) ^ sign) - 1 if int(u) & sign else int(u) for u in a.view(uint).ravel()]
    return max((abs(g - w) for g, w in zip(ordered(got), ordered(want))), default=0)


@pytest.mark.parametrize("compiler", _compilers())
def test_dense_forward_kernel_logic_matches_numpy(compiler, _harness_dir):
    """philox.cu's lamina_dense_forward_one (with dropout) and lamina_dense_activate (without), over
    every element, the work of lamina_dense_forward_f32/f64's
    grid-stride loops, on the host: float32 and float64, ragged shapes, bias or none, linear and tanh,
    dropout with 1-, 2- and 32-bit slots (rates 0.5, 0.25, 0.3) or none. The mask is dropout_mask's bit
    for bit; linear: y = y + bias and out = y * mask bit for bit; tanh: y within 2 ulp of
    np.tanh(y + bias) (the host's libm is not NumPy's) and out = y * mask bit for bit."""
    exe = _harness_exe(compiler, _harness_dir)
    reference = NumpyBackend()
    rng = np.random.default_rng(zlib.crc32(b"dense-forward-harness"))
    cases, lines = [], []
    for dtype in (np.float32, np.float64):
        uint, t = (np.uint32, np.float32) if dtype == np.float32 else (np.uint64, np.float64)
        for shape in _DENSE_FORWARD_SHAPES:
            y0, b = _dense_forward_inputs(rng, shape, dtype)
            for kind in (0, 1):
                for bias in (b, None):
                    for k, rate in enumerate((None, 0.5, 0.25, 0.3)):
                        if kind == 0 and bias is None and rate is None:
                            continue  # the backend launches nothing
                        seed, counter = SEEDS[k], COUNTERS[k]
                        if rate is None:  # as CupyBackend.dense_activation passes them
                            key, slot, scale = (0,) * 5, (32, 0), t(1.0)
                        else:
                            key, slot, scale = (lamina_cupy.philox_kernel_args(seed, counter),
                                                philox.dropout_slot(rate), t(1.0 / (1.0 - rate)))
                        has = (bias is not None) | (rate is not None) << 1
                        values = list(y0.view(uint).ravel()) + ([] if bias is None else list(bias.view(uint)))
                        lines.append("D " + " ".join(f"{int(v):x}" for v in (
                            y0.itemsize, *key, y0.size, shape[1], kind, has, *slot))
                            + f" {float(scale).hex()} " + " ".join(f"{int(v):x}" for v in values))
                        cases.append((y0, bias, kind, rate, seed, counter, uint))
    done = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert len(out) == 3 * len(cases) == 3 * 2 * len(_DENSE_FORWARD_SHAPES) * 15

    def parse(line, like, uint):
        return np.array([int(w, 16) for w in line.split()], dtype=uint).view(like.dtype).reshape(-1)

    for n, (y0, bias, kind, rate, seed, counter, uint) in enumerate(cases):
        what = f"{y0.dtype} {y0.shape} kind={kind} bias={bias is not None} rate={rate}"
        got_y, got_mask, got_out = (parse(line, y0, uint) for line in out[3 * n:3 * n + 3])
        a = y0 if bias is None else y0 + bias
        if kind == 0:
            assert got_y.tobytes() == a.tobytes(), what
        else:
            assert _ulps_apart(got_y, np.tanh(a)) <= 2, what
        if rate is None:
            assert got_mask.size == got_out.size == 0, what
            continue
        want_mask = reference.dropout_mask(y0.shape, rate, seed, counter, y0.dtype)
        assert got_mask.tobytes() == want_mask.tobytes(), what
        want_out = (a if kind == 0 else got_y.reshape(y0.shape)) * want_mask
        assert got_out.tobytes() == want_out.tobytes(), what


# --- activations.cu: the gradient kernels' arithmetic as a host program -------------------------

ACT_HARNESS = textwrap.dedent(r"""
    // Runs the __host__ __device__ part of kernels/activations.cu on the CPU.
    // stdin: w rows cols kind has y[n] g[n] mask[n if has & 1]   (w = 4: float32, 8: float64; values
    //        as bit patterns; n = rows * cols)
    // stdout per case: three lines of bit patterns: every column's lamina_dense_grad_column (d, then
    //        gb, empty without has & 2), and lamina_tanh_grad_one (kind 1) or lamina_relu_grad_one
    //        (kind 2) of every element of y and g (empty for kind 0)
    #include <cmath>
    #include <cstdio>
    #include <cstdlib>
    #include <cstring>
    #include <vector>
    #include "activations.cu"

    static unsigned long long read_u64() {
        unsigned long long v;
        if (std::scanf("%llx", &v) != 1) std::exit(2);
        return v;
    }
    template <typename T, typename U>
    static std::vector<T> read_values(unsigned long long n) {
        std::vector<T> out(n ? n : 1);
        for (unsigned long long i = 0; i < n; ++i) {
            const U u = (U)read_u64();
            std::memcpy(&out[i], &u, sizeof(T));
        }
        return out;
    }
    template <typename T, typename U>
    static void print(const std::vector<T>& v, unsigned long long n) {
        for (unsigned long long i = 0; i < n; ++i) {
            U u;
            std::memcpy(&u, &v[i], sizeof(T));
            std::printf(i ? " %llx" : "%llx", (unsigned long long)u);
        }
        std::printf("\n");
    }
    template <typename T, typename U>
    static void one_case(unsigned long long rows, unsigned long long cols, int kind, int has) {
        const unsigned long long n = rows * cols;
        std::vector<T> y = read_values<T, U>(n), g = read_values<T, U>(n);
        std::vector<T> mask = (has & 1) ? read_values<T, U>(n) : std::vector<T>(1);
        std::vector<T> d(n ? n : 1), gb(cols ? cols : 1), e(n ? n : 1);
        for (unsigned long long j = 0; j < cols; ++j)
            lamina_dense_grad_column<T>(&y[0], &g[0], &mask[0], &d[0], &gb[0], rows, cols, j, kind, has);
        for (unsigned long long i = 0; i < n; ++i)
            e[i] = kind == 1 ? lamina_tanh_grad_one(y[i], g[i]) : lamina_relu_grad_one(y[i], g[i]);
        print<T, U>(d, n);
        print<T, U>(gb, (has & 2) ? cols : 0);
        print<T, U>(e, kind ? n : 0);
    }
    int main() {
        unsigned long long w;
        while (std::scanf("%llx", &w) == 1) {
            const unsigned long long rows = read_u64(), cols = read_u64();
            const int kind = (int)read_u64(), has = (int)read_u64();
            if (w == 4) one_case<float, unsigned int>(rows, cols, kind, has);
            else one_case<double, unsigned long long>(rows, cols, kind, has);
        }
        return 0;
    }
""")


def _grad_inputs(rng, shape, dtype):
    """y (tanh-like outputs and relu outputs with exact zeros and -0), g with signed zeros, subnormals
    and a column of -0 (its sum's sign shows where the sum starts), and a dropout mask of 0 and 2."""
    rows, cols = shape
    y = rng.uniform(-1, 1, shape).astype(dtype)
    y.reshape(-1)[::4] = 0.0
    y.reshape(-1)[1::9] = -0.0
    g = (rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, shape)).astype(dtype)
    g.reshape(-1)[2::7] = -0.0
    g.reshape(-1)[3::11] = np.finfo(dtype).tiny / 4
    g[:, 0] = -0.0
    mask = (rng.uniform(size=shape) < 0.5).astype(dtype) * dtype(2)
    return y, g, mask


@pytest.mark.parametrize("compiler", [c for c in _compilers() if c.id != "host-c++-portable-mulhi"])
def test_activation_kernel_logic_matches_numpy(compiler, tmp_path):
    """activations.cu's lamina_dense_grad_column (the work of one thread of lamina_dense_grad_f32/f64,
    run here for every column), lamina_tanh_grad_one and lamina_relu_grad_one on the host: float32 and
    float64, ragged shapes, linear, tanh and relu, with and without a mask and the bias sums. d and gb
    are the NumPy backend's base composition (multiply, tanh_grad or relu_grad, sum over the rows) bit
    for bit, and the element functions its tanh_grad and relu_grad."""
    (tmp_path / "harness.cpp").write_text(ACT_HARNESS)
    exe = tmp_path / "harness"
    done = subprocess.run([*compiler, str(tmp_path / "harness.cpp"), "-I", str(KERNEL_DIR), "-o", str(exe)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    be = NumpyBackend()
    rng = np.random.default_rng(zlib.crc32(b"activation-harness"))
    cases, lines = [], []
    for dtype in (np.float32, np.float64):
        uint = np.uint32 if dtype == np.float32 else np.uint64
        for shape in [(1, 1), (3, 7), (33, 17), (200, 10), (2, 300), (64, 9)]:
            y, g, mask = _grad_inputs(rng, shape, dtype)
            for kind, activation in enumerate(("linear", "tanh", "relu")):
                for has in range(4):
                    arrays = (y, g) + ((mask,) if has & 1 else ())
                    lines.append(" ".join(f"{v:x}" for v in (y.itemsize, *shape, kind, has)) + " " +
                                 " ".join(f"{int(v):x}" for a in arrays for v in a.view(uint).ravel()))
                    cases.append((y, g, mask if has & 1 else None, activation, bool(has & 2), uint))
    done = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert len(out) == 3 * len(cases) == 3 * 2 * 6 * 3 * 4

    def parse(line, uint, dtype):
        return np.array([int(w, 16) for w in line.split()], dtype=uint).view(dtype)

    for k, (y, g, mask, activation, sums, uint) in enumerate(cases):
        what = f"{y.dtype} {y.shape} {activation} mask={mask is not None} sums={sums}"
        got_d, got_gb, got_e = (parse(line, uint, y.dtype) for line in out[3 * k:3 * k + 3])
        want_d, want_gb = ArrayBackend.dense_activation_grad(be, y, g, activation, mask, sums)
        assert got_d.tobytes() == want_d.tobytes(), what
        assert got_gb.tobytes() == (want_gb.tobytes() if sums else b""), what
        if activation == "linear":
            assert got_e.size == 0
        else:
            grad = be.tanh_grad if activation == "tanh" else be.relu_grad
            assert got_e.tobytes() == grad(y, g).tobytes(), what


# =================================================================================================
# On a GPU
# =================================================================================================


def _real_cupy_reason() -> str | None:
    if isinstance(sys.modules.get("cupy"), FakeCupy):
        return "a fake cupy is installed"
    try:
        cupy = importlib.import_module("cupy")
    except Exception:
        return "no CUDA GPU available (CuPy is not installed)"
    try:
        if not cupy.is_available():
            return "no CUDA GPU available (cupy.is_available() is False)"
    except Exception as exc:
        return f"no CUDA GPU available (cupy.is_available() raised {exc})"
    return None


@pytest.fixture(scope="module")
def gpu():
    reason = _real_cupy_reason()
    if reason:
        pytest.skip(reason)
    _config.reset()
    # LAMINA_DEVICE and LAMINA_ALLOW_TF32 are honoured; a memory cap or fused kernels turned off
    # would defeat the tests below.
    saved = {k: os.environ.pop(k) for k in ("LAMINA_GPU_MEMORY_LIMIT", "LAMINA_CUPY_FUSED")
             if k in os.environ}
    try:
        backend = lamina_cupy.CupyBackend()
    finally:
        os.environ.update(saved)
    return backend


@pytest.mark.gpu
def test_gpu_description_and_transfer(gpu):
    assert re.fullmatch(r"GPU \d+: .+ \(CUDA \d+\.\d+, CuPy \S+\)", gpu.device_description())
    host = np.random.default_rng(0).standard_normal((33, 17))
    dev = gpu.asarray(host, dtype="float32")
    assert gpu.is_array(dev) and dev.dtype == np.float32
    np.testing.assert_array_equal(gpu.to_numpy(dev), host.astype(np.float32))
    np.testing.assert_array_equal(gpu.to_numpy(gpu.asarray(host)), host)
    assert gpu.asarray(dev) is dev


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("counter", COUNTERS)
@pytest.mark.gpu
def test_gpu_random_bits_equal_host_stream(gpu, seed, counter):
    for n in (1, 3, 4, 5, 1000, (1 << 20) + 3):
        got = gpu.to_numpy(gpu.random_bits(seed, counter, n))
        np.testing.assert_array_equal(got, philox.philox_words(seed, counter, n))
    assert gpu.kernel_status()["random_bits"] == "ok"


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.gpu
def test_gpu_uniform_and_dropout_equal_numpy_bits(gpu, dtype):
    reference = NumpyBackend()
    for seed, counter in ((0, 0), (99, (1 << 64) + 1), ((1 << 128) - 1, 12)):
        for lo, hi in ((0.0, 1.0), (-0.05, 0.05), (np.float32(2), np.float32(7))):
            got = gpu.to_numpy(gpu.random_uniform((257, 33), seed, counter, dtype, lo, hi))
            want = reference.random_uniform((257, 33), seed, counter, dtype, lo, hi)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}"))
        for rate in (0.0, 0.1, 0.5, 0.999):
            got = gpu.to_numpy(gpu.dropout_mask((129, 65), rate, seed, counter, dtype))
            want = reference.dropout_mask((129, 65), rate, seed, counter, dtype)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    status = gpu.kernel_status()
    assert status["random_uniform"] == "ok" and status["dropout_mask"] == "ok"


@pytest.mark.gpu
def test_gpu_random_normal_close_to_numpy(gpu):
    got = gpu.to_numpy(gpu.random_normal((1000,), 5, 6, "float64"))
    np.testing.assert_allclose(got, NumpyBackend().random_normal((1000,), 5, 6, "float64"),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("transpose_grad", [False, True])
@pytest.mark.gpu
def test_gpu_optimizers_match_numpy_and_base(gpu, dtype, transpose_grad):
    rtol = 1e-6 if dtype == "float32" else 1e-12

    class OnDevice:  # run the host-array recipe of _run_optimizers on the device
        def __init__(self, backend, generic):
            self.backend, self.generic = backend, generic

        def __getattr__(self, name):
            method = getattr(ArrayBackend, name) if self.generic else getattr(self.backend, name)

            def call(*args):
                dev = [self.backend.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
                if self.generic:
                    method(self.backend, *dev)
                else:
                    method(*dev)
                for a, d in zip(args, dev):
                    if isinstance(a, np.ndarray):
                        a[...] = self.backend.to_numpy(d)
            return call

    fused = _run_optimizers(OnDevice(gpu, False), dtype, transpose_grad)
    generic = _run_optimizers(OnDevice(gpu, True), dtype, transpose_grad)
    host = _run_optimizers(NumpyBackend(), dtype, transpose_grad)
    for (kind, got), (_, via_base), (_, want) in zip(fused, generic, host):
        for g, b, w in zip(got, via_base, want):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=0, err_msg=kind)
            np.testing.assert_allclose(g, b, rtol=rtol, atol=0, err_msg=kind)
    status = gpu.kernel_status()
    assert all(status[op] == "ok" for op in ("sgd_update", "adam_update", "rmsprop_update"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.gpu
def test_gpu_adadelta_is_the_numpy_backends_bit_for_bit(gpu, dtype):
    """optimizers.cu's Adadelta kernel against the NumPy helper (one definition of the step), three
    steps, the gradient in both layouts."""
    p, g, a, d, _ = _optimizer_inputs(dtype, shape=(300, 129), seed=8)
    a, d = np.abs(a), np.abs(d)
    for grad_dev in (gpu.asarray(g), gpu.asarray(np.ascontiguousarray(g.T)).T):  # C order, then a transposed view
        assert gpu.to_numpy(grad_dev).tobytes() == g.tobytes()
        dev = [gpu.asarray(x) for x in (p, a, d)]
        host = [x.copy() for x in (p, a, d)]
        for _ in range(3):
            gpu.adadelta_update(dev[0], grad_dev, dev[1], dev[2], 1.0, 0.95, 1e-7)
            NumpyBackend().adadelta_update(host[0], g, host[1], host[2], 1.0, 0.95, 1e-7)
        for x, y in zip(dev, host):
            assert gpu.to_numpy(x).tobytes() == y.tobytes()
    assert gpu.kernel_status()["adadelta_update"] == "ok"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.gpu
def test_gpu_classifier_output_kernels(gpu, dtype):
    """classifier.cu against the NumPy helper (one definition of each row): softmax's gradient, the
    cross-entropy's saved values and its gradient bit for bit; the loss within a few ulp, since it sums
    CuPy's log where the NumPy backend sums NumPy's."""
    rng = np.random.default_rng(9)
    z = rng.standard_normal((300, 10)) * 8
    y = (np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)).astype(dtype)
    t = np.eye(10, dtype=dtype)[rng.integers(0, 10, 300)]
    g = rng.standard_normal(300).astype(dtype)
    host = NumpyBackend()
    per, saved = host.categorical_crossentropy(t, y, 1e-7)
    dper, dsaved = gpu.categorical_crossentropy(gpu.asarray(t), gpu.asarray(y), 1e-7)
    for k in range(3):  # s, p, c
        assert gpu.to_numpy(dsaved[k]).tobytes() == saved[k].tobytes()
    np.testing.assert_allclose(gpu.to_numpy(dper), per, rtol=8 * np.finfo(dtype).eps, atol=np.finfo(dtype).tiny)
    dgrad = gpu.categorical_crossentropy_grad(gpu.asarray(g), gpu.asarray(t), dsaved, 1e-7)
    assert gpu.to_numpy(dgrad).tobytes() == host.categorical_crossentropy_grad(g, t, saved, 1e-7).tobytes()
    assert gpu.to_numpy(gpu.softmax_grad(gpu.asarray(y), gpu.asarray(t))).tobytes() == host.softmax_grad(y, t).tobytes()
    ties = np.round(y * 4).astype(dtype)  # many ties: the first maximum must win on the GPU too
    ties[::5, 3] = np.nan
    got = gpu.to_numpy(gpu.argmax_equal(gpu.asarray(t), gpu.asarray(ties), dtype))
    assert got.tobytes() == host.argmax_equal(t, ties, dtype).tobytes()
    status = gpu.kernel_status()
    assert all(status[op] == "ok" for op in ("softmax_grad", "categorical_crossentropy", "categorical_crossentropy_grad",
                                             "argmax_equal"))


@pytest.mark.parametrize("transpose_grad", [False, True])
@pytest.mark.gpu
def test_gpu_update_many_is_the_numpy_backends_bit_for_bit(gpu, transpose_grad):
    """lamina_update_many_f32 over 11 float32 parameters (two launches) gives the NumPy helper's
    bits for every rule, as the one-parameter kernels do."""
    reference = NumpyBackend()
    for (kind, host), (_, want) in zip(_run_many(_HostLists(gpu), "float32", 11, transpose_grad),
                                        _run_many(reference, "float32", 11, transpose_grad)):
        for arr, exp in zip(host, want):
            for a, e in zip(arr, exp):
                assert a.tobytes() == e.tobytes(), kind
    assert gpu.kernel_status()["update_many"] == "ok"


class _HostLists:
    """Runs a backend's ``*_update_many`` on host lists: copies them to the device, calls, and
    copies every array back into the host lists' arrays."""

    def __init__(self, backend):
        self.backend = backend

    def __getattr__(self, name):
        method = getattr(self.backend, name)

        def call(*args):
            dev = [[self.backend.asarray(a) for a in arg] if isinstance(arg, list) else arg for arg in args]
            method(*dev)
            for arg, d in zip(args, dev):
                if isinstance(arg, list):
                    for a, x in zip(arg, d):
                        a[...] = self.backend.to_numpy(x)
        return call


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.gpu
def test_gpu_sigmoid_and_erf(gpu, dtype):
    x64 = np.concatenate([np.array([-1e4, -100.0, -20.0, -1e-8, -0.0, 0.0, 1e-8, 20.0, 100.0, 1e4]),
                          np.linspace(-8, 8, 4001)])
    x = x64.astype(dtype)
    ref_sigmoid = NumpyBackend().sigmoid(x.astype(np.float64))
    got = gpu.to_numpy(gpu.sigmoid(gpu.asarray(x)))
    assert got.dtype == dtype
    normal = np.abs(x64) <= 80  # results far from the subnormal range: an ulp bound applies
    np.testing.assert_array_max_ulp(got[normal], ref_sigmoid[normal].astype(dtype), maxulp=4)
    tiny = 1e-38 if dtype == "float32" else 1e-300
    np.testing.assert_allclose(got, ref_sigmoid.astype(dtype), rtol=1e-6, atol=tiny)
    assert np.isnan(gpu.to_numpy(gpu.sigmoid(gpu.asarray(np.array([np.nan], dtype))))).all()
    exact = np.array([math.erf(v) for v in x.astype(np.float64)])
    got = gpu.to_numpy(gpu.erf(gpu.asarray(x))).astype(np.float64)
    rtol = 1e-7 if dtype == "float32" else 1e-12
    relative = np.abs(got - exact) / np.maximum(np.abs(exact), 1e-300)
    assert np.all(np.abs(got - exact) <= rtol * np.abs(exact)), f"erf: {relative.max():.2e} relative"
    strided = gpu.asarray(x.reshape(-1, 1)).T  # not C-contiguous
    contiguous = gpu.to_numpy(gpu.sigmoid(gpu.asarray(x))).reshape(1, -1)
    np.testing.assert_array_equal(gpu.to_numpy(gpu.sigmoid(strided)), contiguous)
    status = gpu.kernel_status()
    assert status["sigmoid"] == "ok" and status["erf"] == "ok"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ["tanh_grad", "relu_grad"])
@pytest.mark.gpu
def test_gpu_activation_grads_are_the_numpy_backends_bit_for_bit(gpu, op, dtype):
    """Bit for bit wherever the result is not NaN (signed zeros included; a GPU may give its own
    NaN bits), also transposed and in place into the gradient."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 77))
    y = (np.tanh(x * 3) if op == "tanh_grad" else np.maximum(x, 0)).astype(dtype)  # the activation's output
    y.reshape(-1)[::97] = np.nan
    y.reshape(-1)[5::89] = -0.0
    g = rng.standard_normal((300, 77)).astype(dtype)
    g.reshape(-1)[3::101] = np.inf
    g.reshape(-1)[7::103] = np.nan

    def same(got, want):
        nan = np.isnan(want)
        assert got.dtype == want.dtype and (np.isnan(got) == nan).all()
        assert got[~nan].tobytes() == want[~nan].tobytes()
    with np.errstate(invalid="ignore"):
        want = getattr(NumpyBackend(), op)(y, g)
    same(gpu.to_numpy(getattr(gpu, op)(gpu.asarray(y), gpu.asarray(g))), want)
    same(gpu.to_numpy(getattr(gpu, op)(gpu.asarray(y).T, gpu.asarray(g).T)), want.T.copy())
    g_dev = gpu.asarray(g)
    assert getattr(gpu, op)(gpu.asarray(y), g_dev, out=g_dev) is g_dev
    same(gpu.to_numpy(g_dev), want)
    assert gpu.kernel_status()[op] == "ok"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.gpu
def test_gpu_dense_activation_is_the_base_composition_bit_for_bit(gpu, dtype):
    """lamina_dense_forward gives the base composition's bits on the card (CuPy's add and tanh, then
    the dropout kernel: tanhf / tanh as CuPy's ufunc calls them, under the backend's --fmad=false),
    wherever the result is not NaN; the mask is the NumPy backend's."""
    rng = np.random.default_rng(12)
    for shape in ((200, 500), (7, 33), (1, 1)):
        y0, b = _dense_forward_inputs(rng, shape, dtype)
        y0.reshape(-1)[3::97] = np.inf
        for activation in ("tanh", "linear"):
            for bias in (b, None):
                for dropout in (None, (0.5, 3, 4), (0.3, (1 << 64) + 9, 11)):
                    if activation == "linear" and bias is None and dropout is None:
                        continue
                    what = f"{activation} {dtype} {shape} bias={bias is not None} dropout={dropout}"
                    dev_b = None if bias is None else gpu.asarray(bias)
                    # y is written in place: each call its own copy (the fake CuPy of a dry run
                    # (gpu_check.sh) shares a NumPy array's memory where cupy.asarray copies it)
                    got = gpu.dense_activation(gpu.asarray(y0.copy()), dev_b, activation, dropout)
                    want = ArrayBackend.dense_activation(gpu, gpu.asarray(y0.copy()), dev_b, activation, dropout)
                    for g, w, label in zip(got, want, ("a", "out", "mask")):
                        if w is None:
                            assert g is None, what
                            continue
                        g, w = gpu.to_numpy(g), gpu.to_numpy(w)
                        nan = np.isnan(w)
                        assert (np.isnan(g) == nan).all() and g[~nan].tobytes() == w[~nan].tobytes(), f"{what} {label}"
                    if dropout is not None:
                        mask = NumpyBackend().dropout_mask(shape, *dropout, dtype)
                        assert gpu.to_numpy(got[2]).tobytes() == mask.tobytes(), what
    assert gpu.kernel_status()["dense_activation"] == "ok"


@pytest.mark.gpu
def test_gpu_training_steps_take_no_new_device_memory(gpu, monkeypatch):
    """The performance issue's memory target on the GPU: after warm-up, W1 training steps take
    every buffer from CuPy's pool; the pool asks the device for nothing more."""
    import lamina
    from lamina.layers import Dense, Dropout
    from lamina.models import Sequential
    from lamina.optimizers import SGD

    previous = backends.current().name
    # The registry's "cupy" is this test's backend only while it runs: left cached, it would be
    # what set_backend("cupy") returns to the fake-CuPy tests below (their launches then never show).
    monkeypatch.setattr(backends, "_instances", {**backends._instances, "cupy": gpu})
    monkeypatch.setattr(backends, "_active", backends._active)  # put back as it was afterwards
    backends.set_backend("cupy")
    try:
        lamina.utils.set_random_seed(3)
        model = Sequential([Dense(500, activation="tanh", input_shape=(784,)), Dropout(0.5),
                            Dense(500, activation="tanh"), Dropout(0.5), Dense(10, activation="softmax")])
        model.compile(loss="categorical_crossentropy", optimizer=SGD(0.01, momentum=0.9, nesterov=True),
                      metrics=["accuracy"])
        rng = np.random.default_rng(0)
        x = rng.random((200, 784), dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 200)]
        for _ in range(3):
            model.train_on_batch(x, y)
        pool = gpu.xp.get_default_memory_pool()
        before = pool.total_bytes()
        for _ in range(10):
            model.train_on_batch(x, y)
        assert pool.total_bytes() == before, (before, pool.total_bytes())
    finally:
        backends.set_backend(previous)


@pytest.mark.gpu
def test_gpu_erf_float16_and_tanh_out(gpu):
    x = np.linspace(-3, 3, 101).astype(np.float16)
    np.testing.assert_array_equal(gpu.to_numpy(gpu.erf(gpu.asarray(x))), NumpyBackend().erf(x))
    y = gpu.asarray(np.linspace(-5, 5, 64, dtype=np.float32))
    out = gpu.empty((64,), "float32")
    assert gpu.tanh(y, out=out) is out
    want = np.tanh(np.linspace(-5, 5, 64, dtype=np.float32))
    np.testing.assert_allclose(gpu.to_numpy(out), want, rtol=1e-6, atol=1e-7)


@pytest.mark.gpu
def test_gpu_matmul_out_is_true_fp32(gpu):
    if gpu.tf32_allowed:
        pytest.skip("LAMINA_ALLOW_TF32=1")
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (1024, 1024)).astype(np.float32)
    b = rng.uniform(-1, 1, (1024, 1024)).astype(np.float32)
    out = gpu.empty((1024, 1024), "float32")
    assert gpu.matmul(gpu.asarray(a), gpu.asarray(b), out=out) is out
    exact = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    # Normalised error: true FP32 gives about 1e-7 here, TF32 (10-bit mantissa) about 1e-4.
    error = np.max(np.abs(gpu.to_numpy(out) - exact) / scale)
    assert error < 5e-6, f"float32 matmul error {error:.2e} (normalised): is TF32 in use?"
    with pytest.raises(ValueError, match="matmul: out"):
        gpu.matmul(gpu.asarray(a), gpu.asarray(b), out=gpu.empty((1024, 1024), "float64"))


@pytest.mark.gpu
def test_gpu_memory_limit_and_release(gpu):
    cupy = gpu.xp
    if getattr(cupy, "FAKE", False):  # the dry run's fake (tests/fake_cupy_site) has no real memory pool
        pytest.skip("the fake CuPy of a dry run has no memory pool to cap")
    gpu.release_memory()
    used = gpu.memory_info()["used_bytes"]
    try:
        gpu.set_memory_limit(used + 64 * 2 ** 20)
        with pytest.raises(cupy.cuda.memory.OutOfMemoryError):
            cupy.empty((256 * 2 ** 20,), dtype=np.uint8)
    finally:
        gpu.set_memory_limit(None)
    assert gpu.memory_limit() == 0
    block = cupy.empty((64 * 2 ** 20,), dtype=np.uint8)
    del block
    cached = gpu.memory_info()["pool_bytes"]
    assert cached >= 64 * 2 ** 20
    gpu.release_memory()
    assert gpu.memory_info()["pool_bytes"] <= cached - 64 * 2 ** 20  # the freed block went back


@pytest.mark.gpu
def test_gpu_kernel_failure_falls_back(gpu, monkeypatch, caplog):
    backend = lamina_cupy.CupyBackend()

    def broken(file, name):
        raise RuntimeError("simulated NVRTC failure")
    monkeypatch.setattr(backend._kernels, "function", broken)
    with caplog.at_level(logging.WARNING, logger="lamina.cupy"):
        bits = backend.to_numpy(backend.random_bits(1, 2, 100))
        backend.to_numpy(backend.random_bits(1, 2, 100))
    np.testing.assert_array_equal(bits, philox.philox_words(1, 2, 100))
    assert sum("random_bits" in r.getMessage() for r in caplog.records) == 1
    assert backend.kernel_status()["random_bits"].startswith("failed")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.gpu
def test_gpu_recurrent_steps(gpu, dtype):
    """recurrent.cu on a GPU: the backward steps are plain arithmetic shared with the NumPy helper, so
    they equal the NumPy backend bit for bit; the forward steps use the GPU's exp and tanh in the
    formulas of the CuPy composition. Its sigmoid kernel is compiled with the same options, but CuPy
    compiles its own tanh kernel (FMA contraction allowed), so the forward values are held to a
    few ulp of that composition rather than to its bits."""
    rng = np.random.default_rng(8)
    host = {name: (rng.standard_normal(shape) * scale).astype(dtype) for name, shape, scale in (
        ("z", (64, 4 * 33), 3), ("c", (64, 33), 1), ("x", (64, 3 * 33), 3), ("inner", (64, 3 * 33), 2),
        ("h", (64, 33), 1), ("gh", (64, 33), 1), ("gc", (64, 33), 1))}
    dev = {k: gpu.asarray(v) for k, v in host.items()}
    rtol = 8 * np.finfo(dtype).eps
    for fused, generic in ((gpu.lstm_cell_forward(dev["z"], dev["c"], axis=1),
                            ArrayBackend.lstm_cell_forward(gpu, dev["z"], dev["c"], axis=1)),
                           (gpu.gru_cell_forward(dev["x"], dev["inner"], dev["h"]),
                            ArrayBackend.gru_cell_forward(gpu, dev["x"], dev["inner"], dev["h"]))):
        for a, b in zip(fused, generic):
            np.testing.assert_allclose(gpu.to_numpy(a), gpu.to_numpy(b), rtol=rtol, atol=rtol)

    gates = [np.abs(np.tanh(host["c"] * k)).astype(dtype) for k in (1, 2, 3, 4)]  # i, f, g, o-like values
    tc = np.tanh(host["h"]).astype(dtype)
    for gh, gc in ((host["gh"], host["gc"]), (host["gh"], None), (None, host["gc"])):
        want_dz = np.empty((64, 4 * 33), dtype)
        want = NumpyBackend().lstm_cell_grad(*gates, tc, host["c"], gh, gc, want_dz)
        got_dz = gpu.empty((64, 4 * 33), dtype)
        got = gpu.lstm_cell_grad(*(gpu.asarray(a) for a in gates), gpu.asarray(tc), dev["c"],
                                 None if gh is None else gpu.asarray(gh), None if gc is None else gpu.asarray(gc), got_dz)
        assert gpu.to_numpy(got).tobytes() == want.tobytes() and gpu.to_numpy(got_dz).tobytes() == want_dz.tobytes()
    inner_h = host["inner"][:, 2 * 33:]
    want_dx, want_du = np.empty((64, 99), dtype), np.empty((64, 99), dtype)
    want = NumpyBackend().gru_cell_grad(gates[0], gates[1], tc, inner_h, host["h"], host["gh"], want_dx, want_du)
    got_dx, got_du = gpu.empty((64, 99), dtype), gpu.empty((64, 99), dtype)
    got = gpu.gru_cell_grad(gpu.asarray(gates[0]), gpu.asarray(gates[1]), gpu.asarray(tc), dev["inner"][:, 2 * 33:],
                            dev["h"], dev["gh"], got_dx, got_du)
    assert gpu.to_numpy(got).tobytes() == want.tobytes()
    assert gpu.to_numpy(got_dx).tobytes() == want_dx.tobytes() and gpu.to_numpy(got_du).tobytes() == want_du.tobytes()
    status = gpu.kernel_status()
    assert all(status[op] == "ok" for op in ("lstm_cell_forward", "lstm_cell_grad", "gru_cell_forward", "gru_cell_grad"))


# --- whole training runs through the fake: every fused call site in its real context ---------------

def _train_small_models(seed: int) -> tuple[list, dict]:
    """A relu convnet with Adadelta (mnist_cnn's pieces) and a tanh MLP with dropout and Nesterov SGD
    (W1's), two steps each plus an evaluate, on the active backend; their weights and losses."""
    import lamina
    from lamina.layers import Activation, Dense, Dropout, Flatten
    from lamina.layers.convolutional import Conv2D
    from lamina.layers.pooling import MaxPooling2D
    from lamina.models import Sequential
    from lamina.layers import GRU, LSTM
    from lamina.optimizers import SGD, Adadelta, Adam

    rng = np.random.default_rng(seed)
    images = rng.random((16, 10, 10, 1), dtype=np.float32)
    flat = rng.random((16, 12), dtype=np.float32)
    labels = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 16)]
    lamina.utils.set_random_seed(seed)
    cnn = Sequential([Conv2D(4, (3, 3), activation="relu", input_shape=(10, 10, 1)), Conv2D(6, (3, 3)),
                      Activation("relu"), MaxPooling2D((2, 2)), Dropout(0.25), Flatten(),
                      Dense(8, activation="relu"), Dropout(0.5), Dense(4, activation="softmax")])
    cnn.compile(loss="categorical_crossentropy", optimizer=Adadelta(), metrics=["accuracy"])
    mlp = Sequential([Dense(9, input_shape=(12,)), Activation("tanh"), Dropout(0.5), Dense(9, activation="tanh"),
                      Dropout(0.5), Dense(4), Activation("softmax")])
    mlp.compile(loss="categorical_crossentropy", optimizer=SGD(0.05, momentum=0.9, nesterov=True),
                metrics=["accuracy"])
    sequences = rng.random((16, 5, 3), dtype=np.float32)
    rnn = Sequential([LSTM(6, return_sequences=True, input_shape=(5, 3)), GRU(5), Dense(4, activation="softmax")])
    rnn.compile(loss="categorical_crossentropy", optimizer=Adam(0.01), metrics=["accuracy"])
    logs = {}
    for name, model, x in (("cnn", cnn, images), ("mlp", mlp, flat), ("rnn", rnn, sequences)):
        history = model.fit(x, labels, batch_size=8, epochs=1, verbose=0, shuffle=True)
        logs[name] = (history.history["loss"][-1], model.evaluate(x, labels, verbose=0))
    return [w for model in (cnn, mlp, rnn) for w in model.get_weights()], logs


def _on_numpy_then_fake_cupy(monkeypatch, train, seed):
    """``train(seed)`` with the NumPy backend active, then with the CuPy backend on the installed
    fake; the active backend is put back afterwards."""
    previous = backends.current().name
    # A "cupy" backend cached by an earlier test (on a GPU: a real one) would not use this fake.
    monkeypatch.setattr(backends, "_instances", {k: v for k, v in backends._instances.items() if k != "cupy"})
    monkeypatch.setattr(backends, "_active", backends._active)  # put back as it was afterwards
    try:
        backends.set_backend("numpy")
        want = train(seed)
        backends.set_backend("cupy")
        assert backends.current().name == "cupy"
        return want, train(seed)
    finally:
        backends.set_backend(previous)


def test_a_variable_made_from_host_data_lives_on_the_backend(monkeypatch):
    """``ops.Variable(numpy_array)`` (a user's own weight, a test's input) holds a device array on
    CuPy, as Keras' Variable converts its value; on NumPy the array itself, not a copy."""
    from lamina import ops
    fake = install_fake(monkeypatch)

    def make(seed):
        host = np.arange(6.0).reshape(2, 3)
        v = ops.Variable(host, name="w")
        one, other = ops.Variable(1.0), ops.Variable(1.0)
        one.assign(5.0)  # a variable is written in place: it must not share the backend's cached scalar
        scalars = (float(other.numpy()), float(backends.current().to_numpy(backends.current().asarray(1.0))),
                   one.dtype, ops.Variable(3).dtype, ops.Variable(True).dtype,
                   (ops.convert_to_tensor(np.ones(2, np.float32)) * ops.Variable(2.0)).dtype)
        return host, v, ops.Variable([1.0, 2.0]), ops.Variable(ops.Variable(host)), scalars

    (host, v, listed, wrapped, scalars), (_, dv, dlisted, dwrapped, dscalars) = \
        _on_numpy_then_fake_cupy(monkeypatch, make, 0)
    assert v.value is host and isinstance(listed.value, np.ndarray)
    assert isinstance(wrapped.value, np.ndarray) and wrapped.value is not host
    for variable in (dv, dlisted, dwrapped):
        assert isinstance(variable.value, fake.ndarray)
    # a Python float takes floatx (float32 arithmetic stays float32), an int int64, a bool bool
    assert scalars == dscalars == (1.0, 1.0, "float32", "int64", "bool", "float32")
    assert fake.asnumpy(dv.value).tolist() == host.tolist() and fake.asnumpy(dlisted.value).tolist() == [1.0, 2.0]


def test_fake_cupy_fit_reads_the_device_once_per_progress_update(monkeypatch, capsys):
    """The performance issue's GPU rule, at most one host synchronisation per displayed progress update,
    on the CuPy backend's own code: the fake counts every device -> host read (get/asnumpy, float, int
    or bool of a device array, item, printing one, a boolean mask), not only the backend's to_numpy
    (tests/test_host_syncs.py counts those on the NumPy backend)."""
    import lamina
    import lamina.models.model as model_module
    from lamina.layers import Dense, Dropout
    from lamina.models import Sequential
    from _models import every_third_step_progbar  # tests/ is on the path under pytest
    fake = install_fake(monkeypatch)
    draws = []
    every_third_step = every_third_step_progbar(draws)

    def reads(seed):
        lamina.utils.set_random_seed(seed)
        model = Sequential([Dense(16, activation="tanh", input_shape=(8,)), Dropout(0.5),
                            Dense(3, activation="softmax")])
        model.compile("sgd", loss="categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(0)
        x = rng.random((600, 8), dtype=np.float32)
        y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 600)]
        model.fit(x[:20], y[:20], batch_size=10, verbose=0)  # build, first calls
        counts = []
        for verbose, validation in ((0, None), (0, (x[:100], y[:100])), (1, None)):
            FakeArray.host_reads, draws[:], fake.synchronized = 0, [], 0
            with monkeypatch.context() as patch:
                if verbose:  # a bar that draws every third step (the default draws by time)
                    patch.setattr(model_module, "Progbar", every_third_step)
                model.fit(x, y, batch_size=20, epochs=2, verbose=verbose, validation_data=validation)
            counts.append((FakeArray.host_reads, len(draws)))
            assert fake.synchronized == 0  # nor a device synchronisation of its own
        return counts

    _, on_fake = _on_numpy_then_fake_cupy(monkeypatch, reads, 2)
    capsys.readouterr()
    silent, validated, displayed = on_fake
    assert silent == (2, 0)  # 30 steps per epoch: one read per epoch
    assert validated == (4, 0)  # and one per validation pass
    assert displayed == (20, 20)  # updates at steps 3, 6, ..., 27 and the epoch's last line: one read each


def test_fake_cupy_float32_training_makes_no_float64_device_arrays(monkeypatch):
    """"float32 throughout" on the CuPy backend's own code: every device array made while a float32 MLP
    (tanh, Dropout, softmax, SGD with Nesterov momentum and Keras-2 decay) fits, validates, evaluates
    and predicts is float32 (or an integer or boolean helper), but for the read-out of the running
    totals, which casts its few values to float64 for the one transfer per read. A float64 temporary
    in a step would run at the card's float64 rate and double its memory traffic."""
    import lamina
    from lamina.layers import Dense, Dropout
    from lamina.models import Sequential, objectives
    from lamina.optimizers import SGD
    install_fake(monkeypatch)
    made, reading = [], [False]
    wrap, read_with = FakeArray.__init__, objectives.Totals.read_with

    def counting_init(self, a):
        wrap(self, a)
        made.append((a.dtype, a.size, reading[0]))

    def marked_read_with(self, *args, **kwargs):
        reading[0] = True
        try:
            return read_with(self, *args, **kwargs)
        finally:
            reading[0] = False

    def fit(seed):
        lamina.utils.set_random_seed(seed)
        model = Sequential([Dense(24, activation="tanh", input_shape=(12,)), Dropout(0.5),
                            Dense(24, activation="tanh"), Dropout(0.5), Dense(4, activation="softmax")])
        model.compile(SGD(learning_rate=0.01, momentum=0.9, nesterov=True, decay=1e-6),
                      loss="categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(seed)
        x = rng.random((160, 12), dtype=np.float32)
        y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 160)]
        model.fit(x[:20], y[:20], batch_size=10, verbose=0)  # build
        made.clear()
        with monkeypatch.context() as patch:
            patch.setattr(FakeArray, "__init__", counting_init)
            patch.setattr(objectives.Totals, "read_with", marked_read_with)
            model.fit(x, y, batch_size=20, epochs=2, verbose=0, validation_split=0.25)
            model.evaluate(x, y, batch_size=20, verbose=0)
            model.predict(x, batch_size=20, verbose=0)
        return list(made)

    _, made_on_fake = _on_numpy_then_fake_cupy(monkeypatch, fit, 3)
    floats = [(dtype, size) for dtype, size, read in made_on_fake if dtype.kind == "f" and not read]
    assert len(floats) > 500  # the steps really ran on the fake
    assert all(dtype == np.float32 for dtype, _ in floats), sorted({(str(d), n) for d, n in floats if d != np.float32})
    read_out = [(dtype, size) for dtype, size, read in made_on_fake if read and dtype == np.float64]
    assert read_out and max(size for _, size in read_out) <= 8  # the read-out did run: a few values each time


def test_fake_cupy_w1_steps_hold_no_growing_device_memory(monkeypatch):
    """The memory rule on the CuPy backend's own code (tests/test_memory.py measures the NumPy backend
    with tracemalloc, which cannot see a device): the bytes of live device arrays, counted as the
    fake allocates and frees them, return to the same level after every W1 training step, so CuPy's
    pool has nothing to grow by; a step's peak stays a few MB."""
    import gc
    import weakref

    import lamina
    from lamina.layers import Dense, Dropout
    from lamina.models import Sequential
    from lamina.optimizers import SGD
    install_fake(monkeypatch)
    live = {"bytes": 0, "peak": 0}
    owners: set[int] = set()  # ids of the NumPy buffers behind live device arrays
    wrap = FakeArray.__init__

    def release(key, nbytes):
        owners.discard(key)
        live["bytes"] -= nbytes

    def tracking_init(self, a):
        wrap(self, a)
        if a.base is None and id(a) not in owners:  # an allocation (a view adds nothing)
            owners.add(id(a))
            live["bytes"] += a.nbytes
            live["peak"] = max(live["peak"], live["bytes"])
            weakref.finalize(a, release, id(a), a.nbytes)

    def steps(seed):
        lamina.utils.set_random_seed(seed)
        model = Sequential([Dense(500, activation="tanh", input_shape=(784,)), Dropout(0.5),
                            Dense(500, activation="tanh"), Dropout(0.5), Dense(10, activation="softmax")])
        model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                      optimizer=SGD(learning_rate=0.01, momentum=0.9, nesterov=True))
        rng = np.random.default_rng(seed)
        x = rng.random((200, 784), dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 200)]
        with monkeypatch.context() as patch:
            patch.setattr(FakeArray, "__init__", tracking_init)
            after = []
            for _ in range(12):
                model.train_on_batch(x, y)
                gc.collect()
                after.append(live["bytes"])
        return after, live["peak"]

    _, (after, peak) = _on_numpy_then_fake_cupy(monkeypatch, steps, 3)
    # The weights exist before counting starts; the first step makes the optimizer's velocities (2.6 MB,
    # counted); from then on a step frees all it makes (the smallest array of a step, the 200x10
    # output, is 8 KB). Measured: 2,596,048 bytes live after every step, a step's peak 7.7 MB above.
    assert after[3] > 2_000_000  # the velocities of 648k parameters are live
    assert after == [after[0]] * 12, after
    assert peak - after[3] < 32 * 1024 * 1024, (peak, after[3])


def _fit_tiny(seed, samples, layers, metrics=None):
    """A Sequential of ``layers()`` (made after the seed is set) fitted for 2 epochs of batch 8 on ``samples`` random (12,) inputs and
    4 one-hot classes, SGD with Nesterov momentum; returns (model, x, labels, history)."""
    import lamina
    from lamina.models import Sequential
    from lamina.optimizers import SGD
    rng = np.random.default_rng(seed)
    x = rng.random((samples, 12), dtype=np.float32)
    labels = np.eye(4, dtype=np.float32)[rng.integers(0, 4, samples)]
    lamina.utils.set_random_seed(seed)
    model = Sequential(layers())
    model.compile(loss="categorical_crossentropy", optimizer=SGD(0.05, momentum=0.9, nesterov=True), metrics=metrics)
    return model, x, labels, model.fit(x, labels, batch_size=8, epochs=2, verbose=0, shuffle=True)


def _assert_same_weights(got, want, count):
    assert len(got) == len(want) == count
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.tobytes() == w.tobytes()


def test_fake_training_runs_every_fused_kernel_and_matches_numpy(monkeypatch):
    """Training on the CuPy backend (here its fake: NumPy arrays, launches checked against the .cu
    signatures and emulated) reaches the NumPy backend's weights bit for bit, and takes the fused
    kernels it should: relu's gradient, a Dense layer's backward pass (activation, dropout and bias
    gradient in one launch), Adadelta, SGD and Adam for several parameters, dropout with its mask,
    and one LSTM and one GRU step forward and backward."""
    fake = install_fake(monkeypatch)
    (want_weights, want_logs), (got_weights, got_logs) = _on_numpy_then_fake_cupy(monkeypatch, _train_small_models, 11)
    assert len(got_weights) == len(want_weights)
    for got, want in zip(got_weights, want_weights):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    assert got_logs == want_logs
    launched = set(fake.launches)
    for kernel in ("lamina_relu_grad_f32", "lamina_dense_grad_f32", "lamina_dense_forward_f32", "lamina_adadelta_f32",
                   "lamina_update_many_f32",
                   "lamina_philox_dropout_apply_f32", "lamina_lstm_cell_forward_f32", "lamina_lstm_cell_grad_f32",
                   "lamina_gru_cell_forward_f32", "lamina_gru_cell_grad_f32", "lamina_ce_forward_f32",
                   "lamina_ce_loss_f32", "lamina_ce_grad_f32", "lamina_softmax_grad_f32", "lamina_argmax_equal_f32"):
        assert kernel in launched, f"{kernel} was never launched (launched: {sorted(launched)})"


# --- dropout and dense_activation_grad (one launch each) on the fake ---------------------------------

def _same_bits_or_nan(got, want, what):
    """Identical bits (signed zeros included) where ``want`` is not NaN, NaN where it is."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, got.shape, want.dtype, want.shape)
    nan = np.isnan(want)
    assert (np.isnan(got) == nan).all(), f"{what}: NaNs differ"
    assert got[~nan].tobytes() == want[~nan].tobytes(), f"{what}: bits differ"


def _on_device(backend, a):
    """``a``'s values on ``backend`` in ``a``'s layout: C-contiguous (or 0-d, 1-d) as they are, an
    F-ordered 2-D block as ``_transposed_view``."""
    if a.ndim == 2 and not a.flags.c_contiguous:
        assert a.flags.f_contiguous, "only C- or F-ordered blocks"
        return _transposed_view(backend.asarray, a)
    return backend.asarray(a)


def _dense_grad_inputs(rng, activation, dtype, shape=(24, 7)):
    """A tanh or relu output (with tanh's +-1 and relu's zeros, -0 included), a gradient with a
    column of -0 (whose bias gradient is a sum of -0s: +0 in NumPy 2) and a column of +0."""
    x = rng.standard_normal(shape) * 2
    y = np.tanh(x) if activation == "tanh" else np.maximum(x, 0)
    y.reshape(-1)[::11] = 1.0 if activation == "tanh" else -0.0
    y.reshape(-1)[4::13] = -1.0 if activation == "tanh" else 0.0
    g = rng.standard_normal(shape)
    g[:, 0], g[:, 1] = -0.0, 0.0
    return y.astype(dtype), g.astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_fake_dense_activation_grad_is_the_numpy_backends_bit_for_bit(monkeypatch, activation, dtype):
    """The CuPy backend's dense_activation_grad (one launch of activations.cu's lamina_dense_grad:
    one thread per column, down the rows) gives the NumPy backend's bits (whose helper does it in
    one pass too), with and without a mask and the bias, one row, and a gradient holding inf and
    NaN; for transposed inputs d is, and gb is the row-after-row sum of its C-ordered d (NumPy's base
    path keeps the inputs' F order and sums each column pairwise)."""
    fake, backend, reference = _backend_pair(monkeypatch)
    host = backend.to_numpy
    rng = np.random.default_rng(zlib.crc32(f"{activation}-{dtype}".encode()))
    y, g = _dense_grad_inputs(rng, activation, dtype)
    mask = reference.dropout_mask(y.shape, 0.3, 17, 4, dtype)
    np.testing.assert_array_equal(host(backend.dropout_mask(y.shape, 0.3, 17, 4, dtype)), mask)
    g_special = g.copy()
    g_special[2, 3], g_special[5, 4], g_special[7, 5] = np.inf, -np.inf, np.nan
    cases = [("contiguous", y, g, mask), ("one-row", y[:1].copy(), g[:1].copy(), mask[:1].copy()),
             ("transposed", np.ascontiguousarray(y.T).T, np.ascontiguousarray(g.T).T, np.ascontiguousarray(mask.T).T),
             ("non-finite", y, g_special, mask)]
    for label, yy, gg, mm in cases:
        yd, gd, md = (_on_device(backend, a) for a in (yy, gg, mm))  # the transposed case stays F-ordered
        for m, m_dev in ((None, None), (mm, md)):
            for bias in (True, False):
                what = f"{activation} {dtype} [{label}, mask={m is not None}, bias={bias}]"
                with np.errstate(invalid="ignore"):
                    d, gb = backend.dense_activation_grad(yd, gd, activation, m_dev, bias)
                    want_d, want_gb = reference.dense_activation_grad(yy, gg, activation, m, bias)
                _same_bits_or_nan(host(d), want_d, f"{what} d")
                if bias and label == "transposed":
                    # The sum's order follows d's layout: NumPy's ufuncs keep the inputs' F order (a
                    # pairwise column sum), the CuPy kernels write C order (row after row). Each gb is
                    # its own backend's sum of its own d (here: of a C-ordered host copy of it).
                    _same_bits_or_nan(host(gb), np.sum(host(d), axis=0), f"{what} gb")
                elif bias:
                    _same_bits_or_nan(host(gb), want_gb, f"{what} gb")
                else:
                    assert gb is None and want_gb is None, what
    suffix = "f32" if dtype == "float32" else "f64"
    assert set(fake.launches) == {f"lamina_dense_grad_{suffix}", f"lamina_philox_dropout_{suffix}"}, \
        sorted(set(fake.launches))  # one launch per call (and dropout_mask's above)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fake_dropout_is_the_numpy_backends_bit_for_bit(monkeypatch, dtype):
    """backend.dropout(x) = (x * mask, mask) with mask = its dropout_mask (the Philox kernel) bit for
    bit, both the NumPy backend's (its helper draws and multiplies in one pass); x's dtype and shape;
    rate 0 returns x's values; contiguous, transposed, 0-d and empty x, signed zeros, inf and NaN."""
    fake, backend, reference = _backend_pair(monkeypatch)
    host = backend.to_numpy
    rng = np.random.default_rng(5)
    x = rng.standard_normal((33, 17)).astype(dtype)
    x.reshape(-1)[::9] = -0.0
    x.reshape(-1)[4::50], x.reshape(-1)[7::61] = np.inf, np.nan
    for rate in (0.0, 0.1, 0.5, 0.25, 3 / 256, 0.9):
        for seed, counter in zip(SEEDS, COUNTERS):
            for label, xx in (("contiguous", x), ("transposed", np.ascontiguousarray(x.T).T),
                              ("0-d", np.asarray(x[0, 1])), ("empty", x[:0])):
                what = f"dropout rate={rate} {dtype} [{label}, seed={seed}, counter={counter}]"
                xd = _on_device(backend, xx)  # the transposed case stays F-ordered
                with np.errstate(invalid="ignore"):
                    out, mask = backend.dropout(xd, rate, seed, counter)
                    want_out, want_mask = reference.dropout(xx, rate, seed, counter)
                assert out.dtype == np.dtype(dtype) and out.shape == xx.shape, what
                _same_bits_or_nan(host(mask), host(backend.dropout_mask(xx.shape, rate, seed, counter, dtype)),
                                  f"{what} mask")
                _same_bits_or_nan(host(mask), want_mask, f"{what} mask vs numpy")
                _same_bits_or_nan(host(out), want_out, f"{what} output vs numpy")
                if rate == 0.0:
                    _same_bits_or_nan(host(out), xx, f"{what} rate 0")
    assert f"lamina_philox_dropout_apply_{'f32' if dtype == 'float32' else 'f64'}" in fake.launches


def test_fake_dense_dropout_training_takes_dense_activation_grad_and_matches_numpy(monkeypatch):
    """A Sequential Dense + Activation(tanh) + Dropout and Dense + Activation(relu) + Dropout (each run
    as one ops.dense with the dropout folded in) trains on the fake CuPy backend to the NumPy
    backend's weights bit for bit, and both backends' backward passes go through
    dense_activation_grad with the dropout's mask (the fused path), not a separate dropout op."""
    from lamina.layers import Activation, Dense, Dropout

    fake = install_fake(monkeypatch)
    calls: dict[str, list] = {"numpy": [], "cupy": []}
    for cls in (NumpyBackend, lamina_cupy.CupyBackend):
        real = cls.dense_activation_grad

        def spy(self, y, g, activation, mask=None, bias=True, _real=real):
            calls[self.name].append((activation, mask is not None, bias))
            return _real(self, y, g, activation, mask, bias)
        monkeypatch.setattr(cls, "dense_activation_grad", spy)
    dropouts: dict[str, int] = {"numpy": 0, "cupy": 0}
    for cls in (NumpyBackend, lamina_cupy.CupyBackend):
        real_dropout = cls.dropout

        def spy_dropout(self, x, rate, seed, counter, _real=real_dropout):
            dropouts[self.name] += 1
            return _real(self, x, rate, seed, counter)
        monkeypatch.setattr(cls, "dropout", spy_dropout)

    def train(seed):
        # rate 0.3: a scale of 1 / 0.7 is inexact, so how g * mask is grouped shows in the bits
        model, _, _, history = _fit_tiny(seed, 16, lambda: [
            Dense(9, input_shape=(12,)), Activation("tanh"), Dropout(0.3),
            Dense(8), Activation("relu"), Dropout(0.25), Dense(4), Activation("softmax")])
        return model.get_weights(), history.history["loss"]

    (want_weights, want_loss), (got_weights, got_loss) = _on_numpy_then_fake_cupy(monkeypatch, train, 3)
    _assert_same_weights(got_weights, want_weights, 6)
    assert got_loss == want_loss
    steps = 4  # 2 epochs of 2 batches
    for name in ("numpy", "cupy"):
        seen = calls[name]
        assert seen.count(("tanh", True, True)) == steps, (name, seen)
        assert seen.count(("relu", True, True)) == steps, (name, seen)
        assert seen.count(("softmax", False, True)) == steps, (name, seen)
    # the relu layer's folded mask a step, no other dropout: the tanh layer's is drawn inside
    # dense_activation (the CuPy kernel lamina_dense_forward; the NumPy helper's pass where it is built)
    assert dropouts["cupy"] == steps and dropouts["numpy"] in (steps, 2 * steps), dropouts
    # One launch each: the tanh layer's bias, tanh and dropout, the relu layer's dropout with its mask,
    # and a hidden layer's backward pass up to its products.
    launched = set(fake.launches)
    assert {"lamina_dense_forward_f32", "lamina_philox_dropout_apply_f32", "lamina_dense_grad_f32"} <= launched
    assert not {"lamina_philox_dropout_f32", "lamina_tanh_grad_f32", "lamina_relu_grad_f32"} & set(fake.launches)


# --- dense_activation (a Dense layer's bias, tanh and dropout after its product) on the fake ---------

def _dense_forward_inputs(rng, shape, dtype):
    """A product with signed zeros, a subnormal, values that saturate tanh and entries that the bias
    cancels exactly (y + b = +0), and a bias with a -0 entry."""
    rows, units = shape
    y = rng.standard_normal(shape) * rng.uniform(0.01, 12, (rows, 1))
    b = rng.standard_normal(units) * 2
    b[0] = -0.0
    y = y.astype(dtype)
    b = b.astype(dtype)
    y.reshape(-1)[::5] = -0.0
    y.reshape(-1)[1::7] = np.finfo(dtype).tiny / 4
    cancel = np.arange(y.size)[2::9]
    y.reshape(-1)[cancel] = -b[cancel % units]
    return y, b


_DENSE_FORWARD_SHAPES = [(1, 1), (3, 7), (33, 17), (2, 300), (5, 130), (64, 9)]  # sizes off 256 / s multiples


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fake_dense_activation_is_the_numpy_backends_bit_for_bit(monkeypatch, dtype):
    """The CuPy backend's dense_activation (one launch of philox.cu's lamina_dense_forward: the bias,
    tanh and the dropout's mask and product) gives the NumPy backend's (a, out, mask) bit for bit, for
    tanh and linear, with and without a bias, rates 0.5, 0.25, 0.3 and no dropout, ragged shapes; one
    launch per call, and a returned in y's own buffer."""
    fake, backend, reference = _backend_pair(monkeypatch)
    host = backend.to_numpy
    suffix = "f32" if dtype == "float32" else "f64"
    rng = np.random.default_rng(zlib.crc32(f"dense-forward-{dtype}".encode()))
    calls = 0
    for shape in _DENSE_FORWARD_SHAPES:
        y0, b = _dense_forward_inputs(rng, shape, dtype)
        for activation in ("tanh", "linear"):
            for bias in (b, None):
                for k, rate in enumerate((None, 0.5, 0.25, 0.3)):
                    dropout = None if rate is None else (rate, SEEDS[k], COUNTERS[k])
                    if activation == "linear" and bias is None and dropout is None:
                        continue  # nothing to do: the base returns y (tested below)
                    what = f"{activation} {dtype} {shape} bias={bias is not None} dropout={dropout}"
                    y, want_y = backend.asarray(y0), y0.copy()  # a device copy, a host copy
                    bias_dev = None if bias is None else backend.asarray(bias)
                    fake.launches.clear()
                    a, out, mask = backend.dense_activation(y, bias_dev, activation, dropout)
                    want_a, want_out, want_mask = reference.dense_activation(want_y, bias, activation, dropout)
                    assert fake.launches == [f"lamina_dense_forward_{suffix}"], (what, fake.launches)
                    assert a is y, what  # in place in the product's buffer
                    _same_bits_or_nan(host(a), want_a, f"{what} a")
                    if dropout is None:
                        assert out is a and mask is None and want_mask is None, what
                    else:
                        _same_bits_or_nan(host(mask), want_mask, f"{what} mask")
                        _same_bits_or_nan(host(out), want_out, f"{what} out")
                        _same_bits_or_nan(host(mask), host(backend.dropout_mask(shape, *dropout, dtype)),
                                          f"{what} mask vs dropout_mask")
                    calls += 1
    # non-finite products and sums (inf - inf = NaN): the kernel's NaN positions and other bits too
    y0, b = _dense_forward_inputs(rng, (6, 11), dtype)
    y0[1, 2], y0[2, 3], y0[3, 4] = np.inf, -np.inf, np.nan
    b[3] = np.inf
    for bias in (b, None):
        for dropout in (None, (0.3, 5, 6)):
            y, want_y = backend.asarray(y0), y0.copy()
            with np.errstate(invalid="ignore"):
                a, out, mask = backend.dense_activation(y, None if bias is None else backend.asarray(bias), "tanh",
                                                        dropout)
                want_a, want_out, want_mask = reference.dense_activation(want_y, bias, "tanh", dropout)
            for got, want, label in ((a, want_a, "a"), (out, want_out, "out"), (mask, want_mask, "mask")):
                if want is None:
                    assert got is None
                else:
                    _same_bits_or_nan(host(got), want, f"non-finite bias={bias is not None} dropout={dropout} {label}")
            calls += 1
    assert calls == len(_DENSE_FORWARD_SHAPES) * 15 + 4 and backend.kernel_status()["dense_activation"] == "ok"


def test_fake_dense_activation_other_inputs_take_the_base_composition(monkeypatch, caplog):
    """sigmoid, relu and softmax, float16, a non-contiguous, 1-D or empty product, a bias of another
    dtype or shape or inside the product, and linear with nothing to do take the base composition
    (no lamina_dense_forward launch) with the NumPy backend's results; an invalid rate raises the
    base class's error; a failing kernel falls back with one warning and is not tried again."""
    fake, backend, reference = _backend_pair(monkeypatch)
    rng = np.random.default_rng(8)
    y32, b32 = _dense_forward_inputs(rng, (12, 10), np.float32)

    host = backend.to_numpy

    def check(what, y, bias, activation, dropout=None):
        fake.launches.clear()
        # a device copy in y's layout (an F-ordered y: the transposed view of a C-ordered device copy)
        got_y, want_y = _on_device(backend, y), y.copy(order="A")
        got = backend.dense_activation(got_y, None if bias is None else backend.asarray(bias), activation, dropout)
        want = reference.dense_activation(want_y, bias, activation, dropout)
        assert not any(name.startswith("lamina_dense_forward") for name in fake.launches), (what, fake.launches)
        for g, w, label in zip(got, want, ("a", "out", "mask")):
            if w is None:
                assert g is None, (what, label)
            else:
                _same_bits_or_nan(host(g), w, f"{what} {label}")

    for activation in ("sigmoid", "relu", "softmax"):
        for dropout in (None, (0.5, 3, 4)):
            check(f"{activation} dropout={dropout}", y32, b32, activation, dropout)
    check("float16", y32.astype(np.float16), b32.astype(np.float16), "tanh", (0.5, 3, 4))
    check("float16 no dropout", y32.astype(np.float16), b32.astype(np.float16), "tanh")
    transposed = np.asfortranarray(y32)  # C order's values, F-contiguous
    assert not transposed.flags.c_contiguous
    check("non-contiguous", transposed, b32, "tanh", (0.5, 3, 4))
    check("float64 bias", y32, b32.astype(np.float64), "tanh")
    check("(1, units) bias", y32, b32.reshape(1, -1), "tanh")
    check("1-D", y32[0].copy(), b32, "tanh")
    check("empty", y32[:0].copy(), b32, "tanh", (0.5, 3, 4))
    check("linear, no bias, no dropout", y32, None, "linear")
    fake.launches.clear()
    y = backend.asarray(y32)
    with np.errstate(all="ignore"):
        a, out, mask = backend.dense_activation(y, y[3], "tanh")  # the bias is a row of the product (a device view)
        want = y32.copy()
        want_a, _, _ = reference.dense_activation(want, want[3], "tanh")
    _same_bits_or_nan(host(a), want_a, "bias inside y")
    assert not fake.launches
    for rate in (1.0, -0.1):
        with pytest.raises(ValueError) as got_error:
            backend.dense_activation(backend.asarray(y32), backend.asarray(b32), "tanh", (rate, 3, 4))
        with pytest.raises(ValueError) as want_error:
            reference.dense_activation(y32.copy(), b32, "tanh", (rate, 3, 4))
        assert str(got_error.value) == str(want_error.value)
        assert not any(name.startswith("lamina_dense_forward") for name in fake.launches)
    assert "dense_activation" not in backend.kernel_status()

    fake.kernel_failure = RuntimeError("nvrtc: error: lamina_dense_forward (fake)")
    with caplog.at_level(logging.WARNING, logger="lamina.cupy"):
        for _ in range(2):
            got_y, want_y = backend.asarray(y32), y32.copy()
            got = backend.dense_activation(got_y, backend.asarray(b32), "tanh", (0.3, 9, 2))
            want = reference.dense_activation(want_y, b32, "tanh", (0.3, 9, 2))
            for g, w, label in zip(got, want, ("a", "out", "mask")):
                _same_bits_or_nan(host(g), w, f"kernel failure {label}")
    warned = [r.args[0] for r in caplog.records if r.name == "lamina.cupy"]
    assert warned.count("dense_activation") == 1, warned
    assert backend.kernel_status()["dense_activation"].startswith("failed: RuntimeError")
    assert not any(name.startswith("lamina_dense_forward") for name in fake.launches), fake.launches


def test_fake_w1_like_training_takes_dense_forward_and_matches_numpy(monkeypatch):
    """W1's model in small (Dense + Activation(tanh) + Dropout twice, then Dense + Activation(softmax))
    trains a few steps on the fake CuPy backend to the NumPy backend's weights and losses bit for bit;
    each training step's hidden layers run one lamina_dense_forward launch each (the bias, tanh and
    the dropout), with no separate add, dropout or dropout kernel, and evaluation takes it too."""
    from lamina.layers import Activation, Dense, Dropout

    fake = install_fake(monkeypatch)
    seen: list = []
    real = lamina_cupy.CupyBackend.dense_activation

    def spy(self, y, bias, activation, dropout=None):
        seen.append((activation, bias is not None, dropout is not None))
        return real(self, y, bias, activation, dropout)
    monkeypatch.setattr(lamina_cupy.CupyBackend, "dense_activation", spy)
    dropouts = {"cupy": 0}

    def spy_dropout(self, x, rate, seed, counter, _real=lamina_cupy.CupyBackend.dropout):
        dropouts["cupy"] += 1
        return _real(self, x, rate, seed, counter)
    monkeypatch.setattr(lamina_cupy.CupyBackend, "dropout", spy_dropout)

    def train(seed):
        model, x, labels, history = _fit_tiny(seed, 24, lambda: [
            Dense(11, input_shape=(12,)), Activation("tanh"), Dropout(0.5),
            Dense(11), Activation("tanh"), Dropout(0.5), Dense(4), Activation("softmax")], metrics=["accuracy"])
        return model.get_weights(), history.history["loss"], model.evaluate(x, labels, verbose=0)

    (want_w, want_loss, want_eval), (got_w, got_loss, got_eval) = _on_numpy_then_fake_cupy(monkeypatch, train, 7)
    _assert_same_weights(got_w, want_w, 6)
    assert got_loss == want_loss and got_eval == want_eval
    steps = 6  # 2 epochs of 3 batches
    assert seen.count(("tanh", True, True)) == 2 * steps, seen
    assert seen.count(("softmax", True, False)) >= steps, seen
    assert seen.count(("tanh", True, False)) >= 2, seen  # evaluate: no dropout
    assert dropouts["cupy"] == 0, dropouts  # the masks are drawn inside lamina_dense_forward
    assert fake.launches.count("lamina_dense_forward_f32") == seen.count(("tanh", True, True)) + seen.count(
        ("tanh", True, False))
    assert "lamina_philox_dropout_apply_f32" not in fake.launches
    assert backends.get_backend("cupy").kernel_status().get("dense_activation") == "ok"


# --- scatter_add for an integer-array key: np.add.at's order, deterministic (scatter.cu) ------------

def _order_sensitive(rng, shape, dtype):
    """Values whose sum depends on the order of the additions: magnitudes over six decades, and a
    quarter of them +-big, large enough (1e8 in float32, 1e17 in float64) that big + 1 is big."""
    big = 1e8 if np.dtype(dtype) == np.float32 else 1e17
    values = rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, shape)
    values = np.where(rng.random(shape) < 0.25, rng.choice([big, -big], shape), values)
    return values.astype(dtype)


def _order_sensitive_start(rng, shape, dtype):
    """A given out's content: +-big / 2 plus a little, so that sums started there differ from sums
    started at 0 (the small values vanish into it)."""
    big = 1e8 if np.dtype(dtype) == np.float32 else 1e17
    return (rng.choice([big, -big], shape) / 2 + rng.uniform(-3, 3, shape)).astype(dtype)


def _scatter_cases(rng, dtype):
    """(shape, key as (axis, host index), values, out or None) for the key forms ops.take's VJP makes:
    many repeats, negative indices, a 2-d index, int32, a leading slice, a given out with content."""
    cases = []
    idx = rng.integers(0, 3, 60)  # 60 positions into 3 rows: long runs
    cases.append(((3, 5), 0, idx, _order_sensitive(rng, (60, 5), dtype), None))
    idx = rng.integers(-7, 7, 50)  # negative indices, normalised by adding the axis length
    cases.append(((7, 2), 0, idx, _order_sensitive(rng, (50, 2), dtype), None))
    idx = rng.integers(0, 4, (6, 9))  # a 2-d index array
    cases.append(((4, 3), 0, idx, _order_sensitive(rng, (6, 9, 3), dtype), None))
    idx = rng.integers(-5, 5, 40).astype(np.int32)  # int32 and axis 1: a leading slice
    cases.append(((3, 5, 2), 1, idx, _order_sensitive(rng, (3, 40, 2), dtype), None))
    idx = rng.integers(0, 6, (4, 5))  # axis 2 of a 3-d array, 2-d index, into a given out with content
    out = _order_sensitive_start(rng, (2, 3, 6), dtype)
    cases.append(((2, 3, 6), 2, idx, _order_sensitive(rng, (2, 3, 4, 5), dtype), out))
    idx = rng.integers(0, 5, 30)  # a 1-d out: each element one run
    cases.append(((5,), 0, idx, _order_sensitive(rng, (30,), dtype), _order_sensitive_start(rng, (5,), dtype)))
    idx = np.array(-2)  # a 0-d index
    cases.append(((4, 3), 0, idx, _order_sensitive(rng, (3,), dtype), _order_sensitive_start(rng, (4, 3), dtype)))
    return cases


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fake_scatter_add_is_np_add_at_bit_for_bit(monkeypatch, dtype):
    """An integer-array key, bare or after leading slice(None)s (the VJP of take, an Embedding's weight
    gradient), is one lamina_scatter_add launch that gives np.add.at's bits: for each element the
    values in increasing position, added one rounding at a time to the element's value. The data are
    chosen so that another order (reversed, or without the starting value) gives other bits. No
    device read: nothing waits for the GPU."""
    fake, backend, _ = _backend_pair(monkeypatch)
    rng = np.random.default_rng(zlib.crc32(b"scatter-add") + len(dtype))
    for shape, ax, idx, values, out in _scatter_cases(rng, dtype):
        what = f"{dtype} shape={shape} axis={ax} index {idx.dtype}{idx.shape}"
        host_key = (slice(None),) * ax + (idx,)
        start = np.zeros(shape, dtype) if out is None else out.copy()
        want = start.copy()
        np.add.at(want, host_key, values)
        flipped = start.copy()  # the same additions in reverse order: the data must tell them apart
        np.add.at(flipped, (slice(None),) * ax + (np.flip(idx, axis=None),), np.flip(values, axis=tuple(
            range(ax, ax + idx.ndim))))
        if idx.size > 1:  # (a 0-d index adds one value: only the start can tell)
            assert flipped.tobytes() != want.tobytes(), f"{what}: the data do not depend on the order"
        if out is not None:
            unstarted, touched = np.zeros(shape, dtype), np.zeros(shape, bool)
            np.add.at(unstarted, host_key, values)
            touched[host_key] = True  # a sum that ignored out's value would leave this:
            assert np.where(touched, unstarted, out).tobytes() != want.tobytes(), f"{what}: the start does not show"
        key = backend.asarray(idx) if ax == 0 and idx.ndim else (slice(None),) * ax + (backend.asarray(idx),)
        given = None if out is None else backend.asarray(out)
        before, reads = len(fake.launches), FakeArray.host_reads
        got = backend.scatter_add(shape, key, backend.asarray(values), dtype, out=given)
        assert FakeArray.host_reads == reads, f"{what}: read the device"
        assert fake.launches[before:] == [f"lamina_scatter_add_{_FLOAT_SUFFIX_OF[dtype]}"], what
        assert given is None or got is given, f"{what}: not in place"
        got = backend.to_numpy(got)
        assert got.dtype == want.dtype and got.shape == want.shape, what
        assert got.tobytes() == want.tobytes(), what
    assert backend.kernel_status()["scatter_add"] == "ok"


_FLOAT_SUFFIX_OF = {"float32": "f32", "float64": "f64"}


def test_fake_scatter_add_other_keys_take_the_base_code(monkeypatch):
    """A basic key, a boolean mask, two index arrays, something after the index array, another index
    or value dtype, values to broadcast, float16, a non-contiguous out, an out that shares memory
    with the values, and a zero-length axis all take the base code (no launch), with its result; an
    empty index adds nothing without a launch."""
    fake, backend, reference = _backend_pair(monkeypatch)
    dev, host = backend.asarray, backend.to_numpy
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 4, 10)
    values = rng.standard_normal((10, 3)).astype("float32")
    cases = [
        ((6, 3), lambda: (slice(1, 4),), rng.standard_normal((3, 3)).astype("float32"), "float32"),
        ((6, 3), lambda: 2, rng.standard_normal(3).astype("float32"), "float32"),
        ((4, 3), lambda: dev(np.array([True, False, True, True])), values[:3], "float32"),
        ((4, 3), lambda: (dev(idx[:3]), dev(np.array([0, 2, 1]))), values[:3, 0], "float32"),
        ((4, 3), lambda: (dev(idx), slice(None)), values, "float32"),
        ((4, 3), lambda: dev(idx.astype(np.uint8)), values, "float32"),
        ((4, 3), lambda: dev(idx), values.astype("float64"), "float32"),  # values of another dtype
        ((4, 3), lambda: dev(idx), values[:1], "float32"),  # values to broadcast
        ((4, 3), lambda: dev(idx), values.astype("float16"), "float16"),
        ((4, 3), lambda: (slice(0, 4), dev(idx[:3] % 3)), values[:4, :3], "float32"),  # a slice that is not slice(None)
    ]
    for shape, make_key, vals, dtype in cases:
        key = make_key()
        host_key = _dev_unwrap(key)
        want = reference.scatter_add(shape, host_key, vals, dtype)
        before = len(fake.launches)
        got = host(backend.scatter_add(shape, key, dev(vals), dtype))
        assert fake.launches[before:] == [], (shape, host_key)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), (shape, host_key)
    # a non-contiguous out, and an out whose memory the values share: the base code, in place
    buf = dev(np.ones((3, 8), np.float32))
    out = buf[:, ::2]
    want = np.ones((3, 4), np.float32)
    np.add.at(want, (slice(None), np.array([0, 3, 3])), np.full((3, 3), 0.5, np.float32))
    got = backend.scatter_add((3, 4), (slice(None), dev(np.array([0, 3, 3]))), dev(np.full((3, 3), 0.5, np.float32)),
                              "float32", out=out)
    assert got is out and host(got).tobytes() == want.tobytes() and fake.launches == []
    shared = dev(np.arange(8, dtype=np.float32))
    want = np.arange(8, dtype=np.float32)
    reference.scatter_add((6,), np.array([1, 1, 5, 0]), want[2:6], "float32", out=want[:6])
    backend.scatter_add((6,), dev(np.array([1, 1, 5, 0])), shared[2:6], "float32", out=shared[:6])
    assert host(shared).tobytes() == want.tobytes() and fake.launches == []
    apart = dev(np.arange(8, dtype=np.float32))  # two halves of one buffer do not overlap: the kernel
    backend.scatter_add((4,), dev(np.array([1, 1, 2, 0])), apart[4:], "float32", out=apart[:4])
    assert host(apart).tolist() == [7, 10, 8, 3, 4, 5, 6, 7] and fake.launches == ["lamina_scatter_add_f32"]
    fake.launches.clear()
    for shape in ((4, 3), (0, 3)):  # an empty index adds nothing; a zero-length axis has no index to wrap
        got = backend.scatter_add(shape, dev(np.zeros((0,), np.int64)), dev(np.zeros((0, 3), np.float32)), "float32")
        assert host(got).tobytes() == np.zeros(shape, np.float32).tobytes() and got.shape == shape
    assert fake.launches == []


def test_fake_scatter_add_kernel_failure_falls_back(monkeypatch, caplog):
    """A kernel that fails to build: one warning, the base code (np.add.at here) into the same out."""
    fake, backend, _ = _backend_pair(monkeypatch)
    fake.kernel_failure = RuntimeError("nvrtc: error: invalid option")
    idx, values = np.array([2, 0, 2, -1]), np.arange(12, dtype=np.float64).reshape(4, 3)
    out = backend.asarray(np.ones((3, 3)))
    with caplog.at_level(logging.WARNING, logger="lamina.cupy"):
        got = backend.scatter_add((3, 3), backend.asarray(idx), backend.asarray(values), "float64", out=out)
        backend.scatter_add((3, 3), backend.asarray(idx), backend.asarray(values), "float64")
    want = np.ones((3, 3))
    np.add.at(want, idx, values)
    assert got is out and backend.to_numpy(got).tobytes() == want.tobytes()
    assert [r.args[0] for r in caplog.records if r.name == "lamina.cupy"] == ["scatter_add"]
    assert backend.kernel_status()["scatter_add"].startswith("failed: RuntimeError") and fake.launches == []


def test_fake_embedding_training_replayed_and_eager_are_the_numpy_backends_bit_for_bit(monkeypatch, replays):
    """tests/test_replay.py's Embedding model on the fake CuPy backend: the weight gradient of the
    Embedding (ops.take's VJP) is lamina_scatter_add, and training with every step's Python and with
    replayed steps both give the NumPy backend's history and weights bit for bit."""
    from _models import embedding_classifier

    fake = install_fake(monkeypatch)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 50, (200, 6))
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 200)]

    def train(seed):
        runs = []
        for eager in (True, False):
            model = embedding_classifier(eager, seed=seed)
            history = model.fit(x, y, batch_size=20, epochs=1, verbose=0)
            runs.append((history.history, [w.copy() for w in model.get_weights()]))
        return runs

    want, got = _on_numpy_then_fake_cupy(monkeypatch, train, 2)
    for (history, weights), what in zip(got + want[1:], ("cupy eager", "cupy replayed", "numpy replayed")):
        assert history == want[0][0], what
        _assert_same_weights(weights, want[0][1], 3)
    assert [(r.replayed, r.refused) for r in replays] == [(8, None), (8, None)]  # numpy's, then cupy's
    assert fake.launches.count("lamina_scatter_add_f32") == 2 * 10  # each of the 10 steps, eager and replayed
    assert backends.get_backend("cupy").kernel_status().get("scatter_add") == "ok"


SCATTER_HARNESS = textwrap.dedent(r"""
    // Runs kernels/scatter.cu's lamina_scatter_add_item (one GPU thread's work) on the CPU for every
    // work item, last item first (a GPU runs them in any order).
    // stdin, per case: itemsize pre n rows post, then values[pre * n * post] and out[pre * rows * post]
    // as bit patterns and sorted[n] as integers (all hex) -> one line: out after the kernel (bits).
    #include <cstdio>
    #include <cstring>
    #include <vector>
    #include "scatter.cu"
    static unsigned long long read_u64() {
        unsigned long long v = 0;
        if (std::scanf("%llx", &v) != 1) v = 0;
        return v;
    }
    template <typename T, typename U>
    static void read_bits(T* at) {
        const U u = (U)read_u64();
        std::memcpy(at, &u, sizeof(T));
    }
    template <typename T, typename U>
    static void one_case(unsigned long long pre, unsigned long long n, unsigned long long rows,
                         unsigned long long post) {
        std::vector<T> values(pre * n * post + 1), out(pre * rows * post + 1);
        std::vector<long long> sorted(n + 1);
        for (unsigned long long i = 0; i < pre * n * post; ++i) read_bits<T, U>(&values[i]);
        for (unsigned long long i = 0; i < pre * rows * post; ++i) read_bits<T, U>(&out[i]);
        for (unsigned long long i = 0; i < n; ++i) sorted[i] = (long long)read_u64();
        for (unsigned long long i = pre * n * post; i-- > 0;)
            lamina_scatter_add_item<T>(&values[0], &sorted[0], &out[0], i, n, rows, post);
        for (unsigned long long i = 0; i < pre * rows * post; ++i) {
            U u;
            std::memcpy(&u, &out[i], sizeof(T));
            std::printf(i ? " %llx" : "%llx", (unsigned long long)u);
        }
        std::printf("\n");
    }
    int main() {
        unsigned long long w;
        while (std::scanf("%llx", &w) == 1) {
            const unsigned long long pre = read_u64(), n = read_u64(), rows = read_u64(), post = read_u64();
            if (w == 4) one_case<float, unsigned int>(pre, n, rows, post);
            else one_case<double, unsigned long long>(pre, n, rows, post);
        }
        return 0;
    }
""")


@pytest.mark.parametrize("compiler", [c for c in _compilers() if c.id != "host-c++-portable-mulhi"])
def test_scatter_kernel_logic_matches_np_add_at(compiler, tmp_path):
    """scatter.cu's per-thread work on the host, every item run (last first), with the sorted composite
    keys the backend makes (index mod rows, times n, plus the position): np.add.at's bits for the
    order-sensitive cases of the fake-CuPy test, float32 and float64."""
    (tmp_path / "harness.cpp").write_text(SCATTER_HARNESS)
    exe = tmp_path / "harness"
    done = subprocess.run([*compiler, str(tmp_path / "harness.cpp"), "-I", str(KERNEL_DIR), "-o", str(exe)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    rng = np.random.default_rng(zlib.crc32(b"scatter-harness"))
    cases, lines = [], []
    for dtype in (np.float32, np.float64):
        uint = np.uint32 if dtype == np.float32 else np.uint64
        for shape, ax, idx, values, out in _scatter_cases(rng, dtype):
            start = np.zeros(shape, dtype) if out is None else out
            rows, n = shape[ax], idx.size
            pre, post = int(np.prod(shape[:ax])), int(np.prod(shape[ax + 1:]))
            composite = np.sort((idx.reshape(-1).astype(np.int64) % rows) * n + np.arange(n))
            lines.append(" ".join(f"{v:x}" for v in (values.itemsize, pre, n, rows, post)) + " " +
                         " ".join(f"{int(v):x}" for a in (values, start) for v in a.view(uint).ravel()) + " " +
                         " ".join(f"{int(v):x}" for v in composite))
            want = start.copy()
            np.add.at(want, (slice(None),) * ax + (idx,), values)
            cases.append((want, uint))
    done = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert len(out) == len(cases)
    for line, (want, uint) in zip(out, cases):
        got = np.array([int(w, 16) for w in line.split()], dtype=uint).view(want.dtype)
        assert got.tobytes() == want.reshape(-1).tobytes(), (want.dtype, want.shape)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.gpu
def test_gpu_scatter_add_is_np_add_at_bit_for_bit(gpu, dtype):
    """The integer-array key cases of the fake-CuPy test and an Embedding-sized gradient (10,000
    positions into 50 rows of 64; CuPy's atomicAdd gives other last bits from run to run): np.add.at's
    bits, the same on every run, through lamina_scatter_add."""
    rng = np.random.default_rng(zlib.crc32(b"scatter-gpu"))
    cases = _scatter_cases(rng, dtype)
    cases.append(((50, 64), 0, rng.integers(-50, 50, (500, 20)), _order_sensitive(rng, (500, 20, 64), dtype), None))
    for shape, ax, idx, values, out in cases:
        want = np.zeros(shape, dtype) if out is None else out.copy()
        np.add.at(want, (slice(None),) * ax + (idx,), values)
        for _ in range(3):
            given = None if out is None else gpu.asarray(out)
            got = gpu.scatter_add(shape, (slice(None),) * ax + (gpu.asarray(idx),), gpu.asarray(values), dtype,
                                  out=given)
            assert given is None or got is given
            assert gpu.to_numpy(got).tobytes() == want.tobytes(), (dtype, shape, ax, idx.shape)
    assert gpu.kernel_status()["scatter_add"] == "ok"
