"""Philox4x64-10 and the random ops derived from it (spec: lamina.backends.philox).

An independent pure-Python Philox4x64-10 (below) is checked against the published Random123
known-answer vectors; every backend's ``random_bits`` is then checked against it word for word,
and uniform/normal/dropout against the documented formulas applied to those words.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import lamina.ops as ops
from lamina.backends import philox

from ._checks import assert_close, assert_exact, eps
from ._inputs import STRIDED, Layout, real, rng_for, sample, with_specials, with_zeros

MASK64 = (1 << 64) - 1
PHILOX_M0, PHILOX_M1 = 0xD2E7470EE14C6C93, 0xCA5A826395121157  # round multipliers
PHILOX_W0, PHILOX_W1 = 0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B  # Weyl key increments


def philox4x64_10(ctr: tuple[int, int, int, int], key: tuple[int, int]) -> tuple[int, int, int, int]:
    """One Philox4x64 block, 10 rounds (Salmon et al. 2011; Random123's philox4x64_R(10, ...))."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + PHILOX_W0) & MASK64, (k1 + PHILOX_W1) & MASK64
        p0, p1 = PHILOX_M0 * c0, PHILOX_M1 * c2
        c0, c1, c2, c3 = (p1 >> 64) ^ c1 ^ k0, p1 & MASK64, (p0 >> 64) ^ c3 ^ k1, p0 & MASK64
    return c0, c1, c2, c3


def lamina_words(seed: int, counter: int, n: int) -> np.ndarray:
    """The Lamina convention, written out: key (seed lo, seed hi), block b of draw c has counter
    words (b, c, 0, 0), element i is word i % 4 of block i // 4."""
    key = (seed & MASK64, (seed >> 64) & MASK64)
    out = []
    for b in range((n + 3) // 4):
        out.extend(philox4x64_10((b, counter, 0, 0), key))
    return np.asarray(out[:n], dtype=np.uint64)


# Random123 kat_vectors, philox4x64 with 10 rounds: (counter words, key words, expected output).
KAT = {
    "zero": ((0, 0, 0, 0), (0, 0),
             (0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B)),
    "all-ones": ((MASK64,) * 4, (MASK64, MASK64),
                 (0x87B092C3013FE90B, 0x438C3C67BE8D0224, 0x9CC7D7C69CD777B6, 0xA09CAEBF594F0BA0)),
    "pi": ((0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89),
           (0x452821E638D01377, 0xBE5466CF34E90C6C),
           (0xA528F45403E61D95, 0x38C72DBD566E9788, 0xA5A1610E72FD18B5, 0x57BD43B5E52B7FE6)),
}

# (seed, counter, n): seeds above 2**64 use the second key word; n not a multiple of 4.
DRAWS = [(0, 0, 4), (0, 1, 7), (42, 3, 1), (42, 3, 13), (2**64 + 5, 9, 10), (2**128 - 1, 2**64 - 1, 6),
         (123456789, 2**40, 33), (2**64, 0, 5), (7, 0, 0)]


@pytest.mark.parametrize("name", list(KAT))
def test_reference_philox_matches_random123(name):
    ctr, key, expected = KAT[name]
    got = philox4x64_10(ctr, key)
    assert got == expected, f"pure-Python Philox4x64-10, KAT {name}: {[hex(w) for w in got]}"


@pytest.mark.parametrize("name", list(KAT))
def test_host_philox_matches_random123(name):
    """lamina.backends.philox.philox_words (NumPy's C Philox under Lamina's counter convention):
    the 256-bit counter (c3, c2, c1, c0) is reached with counter = c1 | c2 << 64 | c3 << 128 and
    first_block = c0, the key with seed = k0 | k1 << 64."""
    ctr, key, expected = KAT[name]
    seed = key[0] | key[1] << 64
    counter = ctr[1] | ctr[2] << 64 | ctr[3] << 128
    got = philox.philox_words(seed, counter, 4, first_block=ctr[0])
    assert [int(w) for w in got] == list(expected), f"philox_words, KAT {name}: {[hex(int(w)) for w in got]}"


def test_random_bits_known_answer(backend):
    """Draw 0 of seed 0 is block (0, 0, 0, 0) under key (0, 0): the all-zero KAT vector."""
    got = backend.to_numpy(backend.random_bits(0, 0, 4))
    assert str(got.dtype) == "uint64"
    assert [int(w) for w in got] == list(KAT["zero"][2]), [hex(int(w)) for w in got]


@pytest.mark.parametrize("seed,counter,n", DRAWS)
def test_random_bits_match_reference(backend, seed, counter, n):
    got = backend.to_numpy(backend.random_bits(seed, counter, n))
    ref = lamina_words(seed, counter, n)
    assert got.shape == (n,) and str(got.dtype) == "uint64", f"random_bits shape {got.shape} dtype {got.dtype}"
    bad = np.flatnonzero(got != ref)
    assert bad.size == 0, (f"random_bits(seed={seed}, counter={counter}, n={n}): word {bad[0]} is "
                           f"{int(got[bad[0]]):#018x}, expected {int(ref[bad[0]]):#018x}")


def test_random_bits_are_a_function_of_seed_and_counter(backend):
    a = backend.to_numpy(backend.random_bits(11, 5, 64))
    assert np.array_equal(a, backend.to_numpy(backend.random_bits(11, 5, 64))), "same (seed, counter) must repeat"
    assert np.array_equal(a[:10], backend.to_numpy(backend.random_bits(11, 5, 10))), \
        "element i must not depend on n (a shorter draw is a prefix)"
    for other in [(11, 6), (12, 5), (11 + 2**64, 5)]:
        b = backend.to_numpy(backend.random_bits(*other, 64))
        assert np.mean(a == b) < 0.05, f"draw {other} repeats draw (11, 5)"
    assert len(np.unique(a)) == 64


_SHAPES = [(), (0,), (7,), (3, 5), (2, 3, 4)]


@pytest.mark.parametrize("shape", _SHAPES, ids=[str(s) for s in _SHAPES])
def test_uniform_formula(backend, dtype, shape):
    """float32: (w >> 40) * 2**-24; float64: (w >> 11) * 2**-53 — exact, so equal bit for bit."""
    seed, counter = 2024, 17
    n = int(np.prod(shape, dtype=np.int64))
    w = lamina_words(seed, counter, n)
    ref = ((w >> np.uint64(11)).astype(np.float64) * 2.0 ** -53 if dtype == "float64"
           else (w >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)).reshape(shape)
    got = backend.to_numpy(backend.random_uniform(shape, seed, counter, dtype))
    assert_exact(got, ref, f"random_uniform{shape} {dtype}", dtype=dtype)
    assert np.all((got >= 0) & (got < 1))
    # minval/maxval: minval + (maxval - minval) * u in the dtype (one FMA-sized rounding allowed).
    got = backend.to_numpy(backend.random_uniform(shape, seed, counter, dtype, minval=-2.0, maxval=3.0))
    t = np.dtype(dtype).type
    ref2 = (t(-2.0) + t(5.0) * ref.astype(dtype)).astype(np.float64)
    assert_close(got, ref2, 2 * eps(dtype) * (np.abs(ref2) + 2.0), f"random_uniform{shape} in [-2, 3) {dtype}", dtype=dtype)


def test_uniform_statistics(backend):
    u = backend.to_numpy(backend.random_uniform((100_000,), 3, 0, "float32")).astype(np.float64)
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / u.size), u.mean()
    assert abs(u.var() - 1 / 12) < 0.002, u.var()


def _normal_ref(seed, counter, shape, mean, stddev):
    w = lamina_words(seed, counter, int(np.prod(shape, dtype=np.int64)))
    u1 = ((w >> np.uint64(32)).astype(np.float64) + 1.0) * 2.0 ** -32
    u2 = (w & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.0 ** -32
    r = np.sqrt(-2.0 * np.log(u1))
    return (mean + stddev * r * np.cos(2.0 * np.pi * u2)).reshape(shape), r.reshape(shape)


@pytest.mark.parametrize("shape", _SHAPES, ids=[str(s) for s in _SHAPES])
def test_normal_formula(backend, dtype, shape):
    """z = sqrt(-2 ln u1) cos(2 pi u2) in float64, then mean + stddev z cast to the dtype.
    Tolerance: a few float64 ulps of the radius (log, sqrt, cos differ between libraries by
    ~1 ulp), plus one rounding to the dtype."""
    for mean, stddev in [(0.0, 1.0), (1.5, 0.25)]:
        ref, r = _normal_ref(99, 4, shape, mean, stddev)
        got = backend.to_numpy(backend.random_normal(shape, 99, 4, dtype, mean=mean, stddev=stddev))
        bound = 16 * eps("float64") * (abs(mean) + stddev * (r + 1)) + eps(dtype) * np.abs(ref)
        assert_close(got, ref, bound, f"random_normal{shape} mean={mean} stddev={stddev} {dtype}", dtype=dtype)


def test_normal_statistics(backend):
    z = backend.to_numpy(backend.random_normal((100_000,), 5, 1, "float64"))
    assert abs(z.mean()) < 5 / math.sqrt(z.size), z.mean()
    assert abs(z.std() - 1.0) < 0.01, z.std()
    assert np.all(np.isfinite(z))


def _slot_rule(rate):
    """The documented slot width and threshold: the fewest of 1, 2, 4, 8, 16 bits for which
    rate * 2**s is whole (kept when the slot reaches it), else 32 bits whose top 24 must reach
    ceil(rate * 2**24)."""
    for bits in (1, 2, 4, 8, 16):
        if (rate * 2 ** bits).is_integer():
            return bits, int(rate * 2 ** bits)
    return 32, math.ceil(rate * 2 ** 24) << 8


def _dropout_slots(backend, seed, counter, n, bits):
    """The ``bits``-bit piece deciding each element of a dropout draw: element i reads bits
    [bits i, bits i + bits) of the draw's words (bit k = bit k % 64 of word k // 64). Computed with
    shifts on the words, independently of any byte-order view."""
    w = backend.to_numpy(backend.random_bits(seed, counter, (n * bits + 63) // 64))  # checked above
    first = np.arange(n, dtype=np.uint64) * np.uint64(bits)
    return (w[first // np.uint64(64)] >> (first % np.uint64(64))) & np.uint64((1 << bits) - 1)


@pytest.mark.parametrize("rate, bits", [(0.0, 1), (0.1, 32), (0.5, 1), (0.9, 32), (0.25, 2), (0.125, 4),
                                        (0.375, 4), (0.75, 2), (57 / 256, 8), (12345 / 2 ** 16, 16)])
def test_dropout_mask_formula(backend, dtype, rate, bits):
    """keep = slot >= threshold (slots of the fewest exact bits); mask = keep / (1 - rate) in the dtype."""
    assert _slot_rule(rate)[0] == bits
    shape = (200, 500)
    seed, counter = 77, 8
    bits, threshold = _slot_rule(rate)
    slots = _dropout_slots(backend, seed, counter, int(np.prod(shape)), bits)
    keep = (slots >= np.uint64(threshold)).reshape(shape)
    ref = keep * np.asarray(1.0 / (1.0 - rate), dtype)
    got = backend.to_numpy(backend.dropout_mask(shape, rate, seed, counter, dtype))
    assert_exact(got, ref.astype(dtype), f"dropout_mask rate={rate} {dtype}", dtype=dtype)
    frac = np.mean(got != 0)
    sigma = math.sqrt(max(rate * (1 - rate), 1e-12) / got.size)
    assert abs(frac - (1 - rate)) <= 5 * sigma, f"keep fraction {frac:.4f}, expected {1 - rate} +- {5 * sigma:.4f}"


@pytest.mark.parametrize("bits", [16, 32])
def test_dropout_mask_threshold_is_inclusive(backend, dtype, bits):
    """An element whose slot equals the threshold exactly is kept (>=, not >). Rates of the form
    k / 2**24 (k odd: 32-bit slots) or k / 2**16 (k odd: 16-bit slots) are exact in float64, so
    each boundary can be hit on purpose."""
    top = 24 if bits == 32 else 16
    slots = _dropout_slots(backend, 5, 3, 8, bits)
    tested = 0
    for i in range(8):
        k = int(slots[i] >> np.uint64(bits - top))
        if k % 2 == 0 or k >= 2 ** top - 2:  # an even k / 2**top needs fewer bits: another slot width
            continue
        at = backend.to_numpy(backend.dropout_mask((8,), k / 2 ** top, 5, 3, dtype))
        assert at[i] != 0, f"element {i}: top bits {k} == threshold must be kept (rate {k}/2**{top})"
        # One past it in the same slot width (k + 2 is odd too).
        above = backend.to_numpy(backend.dropout_mask((8,), (k + 2) / 2 ** top, 5, 3, dtype))
        assert above[i] == 0, f"element {i}: top bits {k} < threshold {k + 2} must be dropped"
        tested += 1
    assert tested, "no element had an odd slot value; pick another seed"


def test_dropout_mask_highest_threshold_keeps_nothing(backend, dtype):
    """A rate within 2**-24 of 1 rounds the threshold up to 2**24, which no 24-bit value reaches
    (and which does not fit a 32-bit comparison shifted by 8: the edge an implementation trips on)."""
    rate = 1.0 - 2.0 ** -30
    assert math.ceil(rate * 2 ** 24) == 2 ** 24
    got = backend.to_numpy(backend.dropout_mask((9, 7), rate, 4, 1, dtype))
    assert got.shape == (9, 7) and not got.any()


@pytest.mark.parametrize("rate", [0.3, 0.5, 0.25])
def test_dropout_mask_same_for_every_dtype(backend, rate):
    a = backend.to_numpy(backend.dropout_mask((300,), rate, 1, 2, "float32")) != 0
    b = backend.to_numpy(backend.dropout_mask((300,), rate, 1, 2, "float64")) != 0
    assert np.array_equal(a, b)


def test_random_matches_numpy_backend(backend, numpy_backend, dtype):
    """Every selected backend draws exactly what the NumPy backend draws."""
    be, ref = backend, numpy_backend
    for seed, counter, n in DRAWS:
        assert np.array_equal(be.to_numpy(be.random_bits(seed, counter, n)), ref.to_numpy(ref.random_bits(seed, counter, n))), \
            f"random_bits({seed}, {counter}, {n}) differs from the numpy backend"
    assert_exact(be.to_numpy(be.random_uniform((33, 3), 5, 6, dtype)), ref.to_numpy(ref.random_uniform((33, 3), 5, 6, dtype)),
                 f"random_uniform vs numpy backend {dtype}")
    assert_exact(be.to_numpy(be.dropout_mask((33, 3), 0.4, 5, 7, dtype)), ref.to_numpy(ref.dropout_mask((33, 3), 0.4, 5, 7, dtype)),
                 f"dropout_mask vs numpy backend {dtype}")
    zr = ref.to_numpy(ref.random_normal((33, 3), 5, 8, dtype)).astype(np.float64)
    assert_close(be.to_numpy(be.random_normal((33, 3), 5, 8, dtype)), zr,
                 2 * eps(dtype) * (np.abs(zr) + 1) + 64 * eps("float64"), f"random_normal vs numpy backend {dtype}",
                 dtype=dtype)


def test_host_helpers_match_backend(backend, dtype):
    """Initial weights and shuffles are drawn on the host (lamina.backends.philox.host_*) and must
    equal what the backend draws for the same (seed, counter)."""
    shape = (6, 7)
    assert_exact(philox.host_uniform(8, 2, shape, dtype, -0.5, 0.5),
                 backend.to_numpy(backend.random_uniform(shape, 8, 2, dtype, -0.5, 0.5)), "host_uniform vs backend")
    hn = philox.host_normal(8, 3, shape, dtype, 0.0, 0.05).astype(np.float64)
    assert_close(backend.to_numpy(backend.random_normal(shape, 8, 3, dtype, 0.0, 0.05)), hn,
                 eps(dtype) * np.abs(hn) + 64 * eps("float64"), "host_normal vs backend", dtype=dtype)
    perm = philox.host_permutation(8, 4, 50)
    assert sorted(perm.tolist()) == list(range(50))
    bits = backend.to_numpy(backend.random_bits(8, 4, 50))
    assert np.array_equal(perm, np.argsort(bits, kind="stable")), "host_permutation is the stable argsort of the draw"


def test_ops_random_uses_seed_and_counter(backend, dtype):
    """lamina.ops draws (seed, counter) pairs in order: a SeedGenerator's k-th draw uses counter k."""
    gen = ops.SeedGenerator(31)
    a = ops.random_uniform((4, 3), dtype=dtype, seed=gen).numpy()
    b = ops.random_normal((4, 3), dtype=dtype, seed=gen).numpy()
    assert_exact(a, backend.to_numpy(backend.random_uniform((4, 3), 31, 0, dtype)), "ops.random_uniform draw 0")
    assert_exact(b, backend.to_numpy(backend.random_normal((4, 3), 31, 1, dtype)), "ops.random_normal draw 1")
    assert gen.counter == 2
    c = ops.random_uniform((5,), minval=-1.0, maxval=1.0, dtype=dtype, seed=9).numpy()
    assert_exact(c, backend.to_numpy(backend.random_uniform((5,), 9, 0, dtype, -1.0, 1.0)), "int seed means counter 0")
    d = ops.random_normal((5,), mean=2.0, stddev=3.0, dtype=dtype, seed=9).numpy()
    assert_exact(d, backend.to_numpy(backend.random_normal((5,), 9, 0, dtype, 2.0, 3.0)), "ops.random_normal mean/stddev")
    child = ops.SeedGenerator(31)
    child.next(), child.next()
    assert child.next_seed() == int(lamina_words(31, 2, 1)[0]), "next_seed is the first word of the next draw"


def test_ops_set_random_seed(backend):
    from lamina.ops import random as lamina_random
    saved = lamina_random.global_generator()
    seed, counter = saved.seed, saved.counter
    try:
        ops.set_random_seed(1234)
        a = ops.random_uniform((6,), dtype="float32").numpy()
        b = ops.random_uniform((6,), dtype="float32").numpy()
        assert_exact(a, backend.to_numpy(backend.random_uniform((6,), 1234, 0, "float32")), "after set_random_seed: draw 0")
        assert_exact(b, backend.to_numpy(backend.random_uniform((6,), 1234, 1, "float32")), "after set_random_seed: draw 1")
        ops.set_random_seed(1234)
        assert_exact(ops.random_uniform((6,), dtype="float32").numpy(), a, "set_random_seed makes draws repeat")
    finally:
        ops.set_random_seed(seed)
        lamina_random.global_generator().counter = counter


# --- dropout: the mask and its product in one call ----------------------------------------------

def _dropout_layouts():
    return [Layout("0-d", ()), Layout("empty", (0,)), Layout("empty-2d", (3, 0)), Layout("vector", (7,)),
            Layout("matrix", (64, 33)), Layout("3-d", (2, 3, 4)), Layout("transposed", (5, 9), transpose=True),
            Layout("strided", (6, 40), key=STRIDED)]


def _same_bits(got, want, what):
    """Identical bits (signed zeros included) where ``want`` is not NaN, NaN where it is (a device
    may form its own NaN payload)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, \
        f"{what}: {got.dtype} {got.shape}, expected {want.dtype} {want.shape}"
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), f"{what}: NaNs in other places"
    bad = np.argwhere(((got != want) | (np.signbit(got) != np.signbit(want))) & ~nan)
    assert bad.size == 0, (f"{what}: {len(bad)} values differ; first at {bad[0].tolist()}: "
                           f"got {got[tuple(bad[0])]!r}, expected {want[tuple(bad[0])]!r}")


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.25, 0.5, 57 / 256, 0.9])
def test_dropout(backend, dtype, rate, quiet_numpy):
    """dropout(x, rate, seed, counter) = (x * mask, mask): the mask is dropout_mask(x.shape, rate, seed,
    counter, x.dtype) bit for bit (checked against the formula above); the product is the backend's
    own multiply(x, mask) bit for bit (the protocol: "as multiply rounds it") and within one rounding
    of the exact product (2 eps |x * mask|: one correctly rounded multiply is eps/2); both have x's
    shape and dtype. Contiguous, transposed, sliced, 0-d and empty x; x holds signed zeros, and a
    last case inf and NaN (0 * inf is NaN: a dropped inf is not 0)."""
    rng = rng_for("dropout", rate, dtype)
    fails = []
    cases = [(layout, with_zeros(real()), seed, counter)
             for layout, (seed, counter) in zip(_dropout_layouts(), [(5, 2), (0, 0), (7, 1), (2**64 + 5, 9),
                                                                     (123456789, 2**40), (2**128 - 1, 2**64 - 1),
                                                                     (42, 3), (1, 2)])]
    cases.append((_dropout_layouts()[4], with_specials(real()), 11, 12))
    for layout, domain, seed, counter in cases:
        what = f"dropout rate={rate} {dtype} [{layout.name}, seed={seed}, counter={counter}]"
        try:
            hbase = sample(domain, rng, layout.base_shape, dtype)
            hbase = np.where(rng.random(layout.base_shape) < 0.05, -0.0, hbase).astype(dtype)  # signed zeros
            x, hx = layout.device(backend, backend.asarray(hbase)), layout.host(hbase)
            res = backend.dropout(x, rate, seed, counter)
            assert isinstance(res, tuple) and len(res) == 2, f"{what}: must return a pair (x * mask, mask)"
            out, mask = (backend.to_numpy(a) for a in res)
            want_mask = backend.to_numpy(backend.dropout_mask(hx.shape, rate, seed, counter, dtype))
            assert str(out.dtype) == dtype and out.shape == hx.shape, f"{what}: output {out.dtype} {out.shape}"
            _same_bits(mask, want_mask, f"{what} mask vs dropout_mask")
            _same_bits(out, backend.to_numpy(backend.multiply(x, res[1])), f"{what} output vs multiply(x, mask)")
            ref = hx.astype(np.float64) * mask.astype(np.float64)
            assert_close(out, ref, 2 * eps(dtype) * np.abs(ref), f"{what} output", dtype=dtype)
            if rate == 0.0:
                assert np.all(mask == 1.0), f"{what}: rate 0 must keep everything (mask 1)"
                _same_bits(out, hx, f"{what}: rate 0 output vs x")
        except AssertionError as exc:
            fails.append(str(exc))
    assert not fails, "\n".join(fails)


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
def test_dropout_rejects_rates_outside_0_1(backend, rate):
    x = backend.ones((3, 4), "float32")
    with pytest.raises(ValueError):
        backend.dropout(x, rate, 0, 0)
