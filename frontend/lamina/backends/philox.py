"""The counter-based random stream, specified bit for bit (reference implementation on the host).

Every random number Lamina draws comes from Philox4x64-10 (Salmon et al., SC'11, "Parallel
random numbers: as easy as 1, 2, 3"), with this convention, which every backend reproduces:

* key   = (seed mod 2**64, (seed >> 64) mod 2**64) — a seed is a non-negative int < 2**128;
* counter for block ``b`` of draw number ``c`` = (b, c, 0, 0) as four little-endian 64-bit words
  (equivalently the 256-bit integer ``(c << 64) | b``);
* element ``i`` of a draw is 64-bit word ``i % 4`` of block ``i // 4``.

From a word ``w`` (uint64):

* float32 uniform in [0, 1): ``(w >> 40) * 2**-24`` (exact in float32);
* float64 uniform in [0, 1): ``(w >> 11) * 2**-53``;
* keep bit of dropout at rate ``r``: the draw's words are one bit string (bit ``k`` is bit
  ``k % 64`` of word ``k // 64``) cut into slots of ``s`` bits, one per element; ``s`` is the
  smallest of 1, 2, 4, 8, 16 for which ``r * 2**s`` is a whole number, else 32. Element ``i``
  reads slot ``i`` as an unsigned integer ``v`` and is kept when ``v >= r * 2**s`` (``s <= 16``)
  or ``(v >> 8) >= ceil(r * 2**24)`` (``s = 32``: the low half of a word first, 24 bits tested).
  The same mask for every dtype. A dyadic rate such as 0.5 or 0.25 is decided exactly by one or two
  bits, so its mask costs 1/64 or 1/32 of the words of a uniform draw of the same size;
* standard normal: ``u1 = ((w >> 32) + 1) * 2**-32`` in (0, 1], ``u2 = (w & 0xffffffff) * 2**-32``,
  ``z = sqrt(-2 ln u1) * cos(2 pi u2)`` computed in float64, then cast.

NumPy ships Philox4x64-10 as a C bit generator whose key/counter are settable; it increments
the 256-bit counter *before* producing each block, so starting it at ``counter - 1`` yields the
block for ``counter`` first. That makes the CPU stream cost a few nanoseconds per word.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

MASK64 = (1 << 64) - 1
_TWO_M24 = 2.0 ** -24
_TWO_M53 = 2.0 ** -53
_TWO_M32 = 2.0 ** -32


def split_seed(seed: int) -> tuple[int, int]:
    """The two 64-bit key words of a seed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"A random seed must be an int, got {type(seed).__name__} {seed!r}.")
    seed = int(seed)
    if not 0 <= seed < 1 << 128:
        raise ValueError(f"A random seed must be in [0, 2**128), got {seed}.")
    return seed & MASK64, (seed >> 64) & MASK64


def philox_words(seed: int, counter: int, n: int, first_block: int = 0) -> np.ndarray:
    """``n`` uint64 words of draw ``counter`` under ``seed`` (elements 0..n-1 of that draw)."""
    key = np.array(split_seed(seed), dtype=np.uint64)
    start = ((int(counter) << 64) | int(first_block)) - 1
    start %= 1 << 256
    ctr = np.array([(start >> (64 * k)) & MASK64 for k in range(4)], dtype=np.uint64)
    gen = np.random.Philox(counter=ctr, key=key)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    return gen.random_raw(int(n))


def kernel_args(seed: int, counter: int) -> tuple[int, int, int, int, int]:
    """``(k0, k1, d0, d1, d2)`` for the compiled kernels: the key words of ``seed`` and the words
    of draw ``counter``, so that block ``b`` of the draw has counter ``(b, d0, d1, d2)``."""
    k0, k1 = split_seed(seed)
    draw = int(counter) % (1 << 192)
    return k0, k1, draw & MASK64, (draw >> 64) & MASK64, (draw >> 128) & MASK64


class Draw(int):
    """The seed (``part`` 0) or counter (``part`` 1) of a step's ``index``-th random draw: an int
    that says where it came from. A step's recording (lamina/ops/replay.py, ``token`` naming the
    recording) learns which backend argument is which draw; a CUDA graph capture
    (lamina_cupy/_graph.py, token 0) learns which draw a dropout kernel's words come from."""

    index: int
    part: int
    token: int

    @classmethod
    def tag(cls, value: int, index: int, part: int, token: int = 0) -> "Draw":
        d = cls(value)
        d.index, d.part, d.token = index, part, token
        return d


def tagged_draws(draws: list[tuple[int, int]], token: int = 0) -> list[tuple[Draw, Draw]]:
    """Each (seed, counter) of ``draws`` as tagged ints."""
    return [(Draw.tag(s, k, 0, token), Draw.tag(c, k, 1, token)) for k, (s, c) in enumerate(draws)]


def keep_threshold(rate: float) -> int:
    """The integer a 32-bit slot's top 24 bits must reach for a dropout keep (slot width 32)."""
    return int(math.ceil(float(rate) * (1 << 24)))


DROPOUT_NARROW_SLOTS = (1, 2, 4, 8, 16)


def dropout_slot(rate: float) -> tuple[int, int]:
    """``(s, threshold)`` of a dropout draw at ``rate``: each element reads an ``s``-bit slot ``v``
    of the draw's bit string and is kept when ``v >= threshold``.

    ``s`` is the fewest bits that decide the keep exactly: the smallest of 1, 2, 4, 8, 16 with
    ``rate * 2**s`` whole (the threshold is then ``rate * 2**s``); otherwise 32 bits, of which the
    top 24 are compared with ``ceil(rate * 2**24)`` (a threshold of ``2**32`` keeps nothing).
    """
    r = float(rate)
    for s in DROPOUT_NARROW_SLOTS:
        scaled = r * (1 << s)  # exact: a power-of-two scaling of a float64
        if scaled.is_integer():
            return s, int(scaled)
    return 32, keep_threshold(r) << 8


def uniform_from_words(words: np.ndarray, dtype: str = "float32") -> np.ndarray:
    if np.dtype(dtype) == np.float64:
        return (words >> np.uint64(11)).astype(np.float64) * _TWO_M53
    return ((words >> np.uint64(40)).astype(np.float32) * np.float32(_TWO_M24)).astype(dtype, copy=False)


def normal_from_words(words: np.ndarray, dtype: str = "float32") -> np.ndarray:
    u1 = ((words >> np.uint64(32)).astype(np.float64) + 1.0) * _TWO_M32
    u2 = (words & np.uint64(0xFFFFFFFF)).astype(np.float64) * _TWO_M32
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return z.astype(dtype, copy=False)


def dropout_words(n: int, slot_bits: int = 32) -> int:
    """How many 64-bit words a dropout draw of ``n`` elements with ``slot_bits``-bit slots uses."""
    return (int(n) * int(slot_bits) + 63) // 64


def little_endian_bytes(words: Any, xp: Any = np) -> Any:
    """The bytes of uint64 ``words`` least significant first (a free view on little-endian hosts)."""
    return words.astype("<u8", copy=False).view(xp.uint8)


def dropout_slots(data: Any, slot_bits: int, xp: Any = np) -> Any:
    """The ``slot_bits``-bit slots of ``data`` (uint64 words, or already bytes) in element order,
    the least significant first, as unsigned integers: slots of 8 bits or more are a view of the
    little-endian words, narrower ones come from the bytes with shifts."""
    s = int(slot_bits)
    if data.dtype != xp.uint8:
        if s > 8:
            return data.astype("<u8", copy=False).view(f"<u{s // 8}")
        data = little_endian_bytes(data, xp)
    if s == 8:
        return data
    if s > 8:
        raise ValueError(f"slots of {s} bits need whole words, got bytes")
    shifts = xp.arange(0, 8, s, dtype=xp.uint8)
    return ((data[:, None] >> shifts) & xp.uint8((1 << s) - 1)).reshape(-1)


def keep_from_slots(slots: Any, threshold: int, xp: Any = np) -> Any:
    """Dropout keep bits: ``slot >= threshold`` (a threshold past the slot's range keeps nothing)."""
    if threshold > np.iinfo(slots.dtype).max:
        return xp.zeros(slots.shape, dtype=bool)
    return slots >= xp.asarray(threshold, dtype=slots.dtype)


def keep_mask(seed: int, counter: int, n: int, rate: float) -> np.ndarray:
    """The ``n`` keep bits of dropout draw ``counter`` under ``seed`` (the reference definition)."""
    s, threshold = dropout_slot(rate)
    slots = dropout_slots(philox_words(seed, counter, dropout_words(n, s)), s)[:n]
    return keep_from_slots(slots, threshold)


def host_uniform(seed: int, counter: int, shape: tuple[int, ...], dtype: str = "float32",
                 minval: float = 0.0, maxval: float = 1.0) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    u = uniform_from_words(philox_words(seed, counter, n), dtype).reshape(shape)
    if minval == 0.0 and maxval == 1.0:
        return u
    return (np.asarray(minval, dtype) + np.asarray(maxval - minval, dtype) * u).astype(dtype, copy=False)


def host_normal(seed: int, counter: int, shape: tuple[int, ...], dtype: str = "float32",
                mean: float = 0.0, stddev: float = 1.0) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    z = normal_from_words(philox_words(seed, counter, n), "float64").reshape(shape)
    return (mean + stddev * z).astype(dtype, copy=False)


def host_permutation(seed: int, counter: int, n: int) -> np.ndarray:
    """A permutation of ``range(n)``: the stable argsort of the draw's words."""
    return np.argsort(philox_words(seed, counter, n), kind="stable")
