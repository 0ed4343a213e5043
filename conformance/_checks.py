"""Comparison helpers: tolerance rules and assertions that explain what went wrong.

Every float comparison is ``|got - ref| <= bound`` element by element, where ``ref`` is a float64
NumPy reference computed from the *same* input values the backend saw (inputs are rounded to the
tested dtype first, then widened exactly to float64), so the bound only has to cover the
backend's own rounding plus the float64 reference's (tiny) error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest


def eps(dtype: str) -> float:
    """Machine epsilon: the gap between 1 and the next float (1 ulp at 1.0)."""
    return float(np.finfo(dtype).eps)


def tiny(dtype: str) -> float:
    """Smallest normal number. Every bound gets 2*tiny added, so a device that flushes
    subnormal results to zero (CUDA's default for some kernels) is not failed for that alone."""
    return float(np.finfo(dtype).tiny)


@dataclass(frozen=True)
class Tol:
    """An element-wise tolerance rule.

    bound = rel * eps * |ref| + abs * eps * |scale(*inputs)| + 2 * tiny

    ``rel`` is in units of eps relative to the exact result, i.e. roughly "ulps" (for a value in
    [2**k, 2**(k+1)) one ulp is between eps*|ref|/2 and eps*|ref|, so ``rel=4`` admits 4 to 8 ulp).
    ``abs``/``scale`` add an absolute part for ops whose error is naturally absolute (a result
    formed by cancellation, e.g. ``x/6 + 0.5`` near zero). ``contract`` replaces ``rel * eps`` by a
    relative tolerance stated in the protocol's docstring (erf).
    """

    rel: float = 4.0
    abs: float = 0.0
    scale: Callable[..., Any] | None = None
    contract: dict[str, float] | None = None

    def bound(self, dtype: str, ref: np.ndarray, inputs: tuple = ()) -> np.ndarray:
        e = eps(dtype)
        rel = self.contract[dtype] if self.contract else self.rel * e
        b = rel * np.abs(ref) + 2 * tiny(dtype)
        if self.abs:
            s = self.scale(*inputs) if self.scale is not None else 1.0
            b = b + self.abs * e * np.abs(np.asarray(s, dtype=np.float64))
        return b

    def describe(self, dtype: str) -> str:
        if self.contract:
            return f"rel {self.contract[dtype]:g} (protocol contract)"
        s = f"{self.rel:g} eps relative"
        if self.abs:
            s += f" + {self.abs:g} eps absolute" + (" x scale" if self.scale else "")
        return s


EXACT = None  # a case whose ``tol`` is EXACT must match the reference bit for bit


def _fmt_index(i: tuple) -> str:
    return "(" + ", ".join(str(int(k)) for k in i) + ")" if i else "()"


def assert_close(got: Any, ref: Any, bound: Any, what: str, dtype: str | None = None) -> None:
    """``|got - ref| <= bound`` element-wise; NaNs must coincide and infinities must be equal."""
    got = np.asarray(got)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"{what}: result shape {got.shape}, expected {ref.shape}"
    if dtype is not None:
        assert str(got.dtype) == dtype, f"{what}: result dtype {got.dtype}, expected {dtype}"
    g = got.astype(np.float64)
    bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), ref.shape)
    nan_r, nan_g = np.isnan(ref), np.isnan(g)
    inf = (np.isinf(ref) | np.isinf(g)) & ~nan_r & ~nan_g
    finite = ~(nan_r | nan_g | inf)
    with np.errstate(invalid="ignore"):
        err = np.where(finite, np.abs(g - ref), 0.0)
        bad = (nan_r != nan_g) | (inf & (g != ref)) | (finite & (err > bound))
    if not bad.any():
        return
    idx = np.argwhere(bad)
    worst = max(idx, key=lambda i: (np.inf if not finite[tuple(i)] else err[tuple(i)] / max(bound[tuple(i)], 1e-300)))
    w = tuple(worst)
    e = eps(dtype) if dtype else eps("float64")
    in_eps = err[w] / (e * abs(ref[w])) if finite[w] and ref[w] != 0 else float("nan")
    raise AssertionError(
        f"{what}: {len(idx)} of {ref.size} values outside tolerance; worst at index "
        f"{_fmt_index(w)}: got {g[w]!r}, expected {ref[w]!r}, |error| {err[w]:.3g} "
        f"(= {in_eps:.3g} eps x |expected|) > bound {bound[w]:.3g}"
    )


def flush_subnormals(backend: Any, values: np.ndarray) -> np.ndarray:
    """``values`` with each subnormal replaced by a zero of its sign where ``backend`` flushes its dtype
    (``flushed_subnormal_dtypes``): the input such a backend reads, or the result it gives."""
    values = np.asarray(values)
    if str(values.dtype) not in getattr(backend, "flushed_subnormal_dtypes", ()):
        return values
    sub = (values != 0) & (np.abs(values) < np.finfo(values.dtype).tiny)
    return np.where(sub, np.copysign(np.zeros((), values.dtype), values), values)


def assert_exact(got: Any, ref: Any, what: str, dtype: str | None = None) -> None:
    """Same shape, (optionally) same dtype and identical values (NaN equal to NaN)."""
    got = np.asarray(got)
    ref = np.asarray(ref)
    assert got.shape == ref.shape, f"{what}: result shape {got.shape}, expected {ref.shape}"
    if dtype is not None:
        assert str(got.dtype) == dtype, f"{what}: result dtype {got.dtype}, expected {dtype}"
    if got.dtype.kind in "fc" and ref.dtype.kind in "fc":
        same = (got == ref) | (np.isnan(got) & np.isnan(ref))
    else:
        same = got == ref
    same = np.asarray(same)
    if same.all():
        return
    idx = np.argwhere(~same)
    w = tuple(idx[0])
    raise AssertionError(f"{what}: {len(idx)} of {ref.size} values differ; first at index "
                         f"{_fmt_index(w)}: got {got[w]!r}, expected {ref[w]!r}")


class Failures:
    """Collects failures of the sub-checks of one test (one per input layout, say) so a report
    lists every failing layout at once instead of stopping at the first.

    ``known`` maps a sub-check label to the reason it is a known library bug: if every failure
    is a known one the test is marked xfail with those reasons; any other failure fails it.
    """

    def __init__(self, known: dict[str, str] | None = None):
        self.known = known or {}
        self.messages: list[tuple[str, str]] = []

    def check(self, label: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except pytest.skip.Exception:
            raise
        except AssertionError as exc:
            self.messages.append((label, str(exc)))
        except Exception as exc:  # an op that crashes on some layout is a failure of that layout
            self.messages.append((label, f"raised {type(exc).__name__}: {exc}"))

    def finish(self) -> None:
        if not self.messages:
            return
        unknown = [(label, m) for label, m in self.messages if label not in self.known]
        if unknown:
            raise AssertionError("\n".join(f"[{label}] {m}" for label, m in self.messages))
        pytest.xfail("; ".join(f"known library bug [{label}]: {self.known[label]}" for label, _ in self.messages))


def sqrt_n(n: int) -> float:
    return math.sqrt(max(int(n), 1))


def require(condition: Any, message: str) -> None:
    """``assert`` with exactly ``message`` as the report (no pytest introspection noise)."""
    if not bool(np.all(condition)):
        raise AssertionError(message)
