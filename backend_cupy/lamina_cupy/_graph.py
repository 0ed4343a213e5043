"""A replayed training step as one CUDA graph: captured once, launched once per batch.

``fit`` replays its training step from a recording (lamina/ops/replay.py): the same backend calls
on the same weights, batch after batch. On an H200 a W1 step called that way took 0.85 ms of host
time for 0.23 ms of card time; launched as one graph it took 0.21 ms. :class:`GraphedStep` wraps
the replay's compiled function so that:

1. its first call runs the function on a side stream with a memory pool of its own, so that the
   pool holds every buffer the step asks for;
2. its second call captures the function on that stream (nothing runs while capturing) and
   launches the graph; later calls only launch it.

What a graph keeps from the capture, and how each step still gets its own:

- **the batch**: the graph reads fixed input buffers; each call copies its batch into them.
- **the dropout masks**: the Philox kernels of the capture are the ``_w`` twins in philox.cu,
  which read their key and counter words from a device buffer. Each call draws from the same
  generators as the replayed function (same order, same values) and writes the words there.
- **the products**: CuPy refuses its own cuBLAS calls during a capture, so ``matmul`` goes through
  libcublas directly (``_cublas.Gemm``), on CuPy's handle: the same products, bit for bit (H200).
- **the outputs**: the graph writes the same buffers each launch. Scalars (the loss) are copied
  out, because ``fit`` keeps each step's loss until its next progress read; the step's larger
  outputs (predictions, gradients) are read by the optimizer and the metrics before the next launch
  (``fit`` and ``evaluate`` ask for graphs only when every metric is Lamina's own).
- **the arrays it reads that others own**: the backend's cached scalars (``asarray`` of a Python
  number) are kept with the graph, so clearing the cache cannot free memory the graph reads; one
  not cached yet would be a host copy, which refuses the capture.

Anything the capture cannot hold raises :class:`GraphRefused` (or CUDA's own error) inside the
capture; the step then runs as the replayed function, with the draws already taken, and this
function is never captured again. Set ``LAMINA_CUDA_GRAPHS=0`` to use no graphs at all.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np

from lamina.backends import philox

logger = logging.getLogger("lamina.cupy")

WORDS = 5  # philox.kernel_args: k0, k1, d0, d1, d2
# philox.cu's graph twins, one per dropout kernel: the backend launches "<kernel>_w" in a capture
# (_dropout_launch's twin suffix); random_bits and random_uniform have none, so they refuse a capture.
TWIN_KERNELS = ("lamina_philox_dropout_w", "lamina_philox_keep_w", "lamina_philox_dropout_apply_w",
                "lamina_dense_forward_w")
MAX_SLOTS = 256  # Philox launches one captured step may make


class GraphRefused(RuntimeError):
    """Something in a step cannot be part of a CUDA graph (the step runs without one)."""


class Capture:
    """What the backend needs while a step is captured: the words buffer and its slots, and the products."""

    def __init__(self, words: Any, gemm: Any) -> None:
        self.words = words  # device uint64, MAX_SLOTS * WORDS
        self.gemm = gemm
        self.slot_draws: list[int] = []  # the draw each 5-word slot takes its words from
        self.keep: list[Any] = []  # arrays the graph reads that no one else keeps for it (cached scalars)

    def slot(self, seed: Any, counter: Any) -> Any:
        """The device slot a ``_w`` kernel reads this launch's Philox words from."""
        if not (type(seed) is philox.Draw and type(counter) is philox.Draw and seed.part == 0
                and counter.part == 1 and seed.index == counter.index):
            raise GraphRefused("a Philox launch whose seed and counter are not one of the step's draws")
        j = len(self.slot_draws)
        if j >= MAX_SLOTS:
            raise GraphRefused(f"more than {MAX_SLOTS} Philox launches in one step")
        self.slot_draws.append(seed.index)
        return self.words[j * WORDS:(j + 1) * WORDS]

    def matmul(self, a: Any, b: Any, out: Any, xp: Any) -> Any:
        if getattr(a, "ndim", 0) == 2 and getattr(b, "ndim", 0) == 2 and a.dtype == b.dtype:
            result = xp.empty((a.shape[0], b.shape[1]), dtype=a.dtype) if out is None else out
            if self.gemm.fits(a, b, result):
                return self.gemm(a, b, result)
        raise GraphRefused(f"a product of {getattr(a, 'shape', a)} and {getattr(b, 'shape', b)} that the "
                           "direct cuBLAS path does not take")


def _fresh(x: Any, xp: Any) -> Any:
    """``x`` with every one-element device array copied (a loss fit keeps past the next launch)."""
    t = type(x)
    if t is tuple or t is list:
        return t(_fresh(v, xp) for v in x)
    if isinstance(x, xp.ndarray):
        return x.copy() if x.size <= 1 else x
    value = getattr(x, "value", None)
    if value is not None and isinstance(value, xp.ndarray) and value.size <= 1 and hasattr(x, "_keras_mask"):
        copy = type(x)(value.copy())  # a Tensor: a new one, its mask kept
        copy._keras_mask = x._keras_mask
        return copy
    return x


class GraphedStep:
    """``function(inputs)`` of a replayed step, run as a CUDA graph from its second call on."""

    def __init__(self, be: Any, function: Callable) -> None:
        self.be, self.function = be, function
        self.next_draws: Callable[[], list] = function.next_draws
        cupy = be.xp
        self.pool = cupy.cuda.MemoryPool()  # the graph's buffers: used by no one else while it lives
        self.failed: str | None = None
        limit = be.memory_limit()
        if limit:  # LAMINA_GPU_MEMORY_LIMIT caps all pools together: this one gets what the others hold less
            # (the other live graphs: fit's training and validation steps)
            taken = cupy.get_default_memory_pool().total_bytes() + sum(s.pool.total_bytes() for s in be._graph_steps)
            if limit - taken > 0:
                self.pool.set_limit(size=limit - taken)
            else:  # no graph, rather than a warm-up that runs out part-way through the step
                self.failed = f"LAMINA_GPU_MEMORY_LIMIT ({limit} bytes) is all taken by the other memory pools"
        be._graph_steps.add(self)
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.words = cupy.zeros((MAX_SLOTS * WORDS,), dtype=np.uint64)
        self.graph: Any = None
        self.warmed = False
        self.launches = 0
        self._fixed: list[Any] = []
        self._slot_draws: list[int] = []
        self._keep: list[Any] = []
        self._host_words = np.empty((0, WORDS), dtype=np.uint64)
        self._outputs: Any = None

    def __call__(self, inputs: list) -> Any:
        if self.graph is not None:
            self._enqueue(inputs, self.next_draws())
            return _fresh(self._outputs, self.be.xp)
        if self.failed is not None:
            return self.function(inputs)
        draws = self.next_draws()
        try:
            if not self.warmed:  # the pool learns the step's buffers, on the stream the capture uses
                self.warmed = True
                return self._warm_up(inputs, draws)
            self._capture(inputs, draws)
            self._enqueue(inputs, draws)
        except Exception as exc:  # GraphRefused, CuPy's refusals, CUDA errors, the pool's memory running
            # out. A capture runs nothing, a failed launch queues nothing, and a failed warm-up has put
            # back what it wrote in place, so the step runs now, without a graph, with the same draws.
            self.failed = f"{type(exc).__name__}: {exc}"[:300]
            self.graph = None
            logger.info("lamina_cupy: a step is not run as a CUDA graph (%s); it runs as replayed calls.",
                        self.failed)
            return self.function(inputs, draws)
        return _fresh(self._outputs, self.be.xp)

    def _warm_up(self, inputs: list, draws: list) -> Any:
        """The step on the side stream from the graph's pool. Should it fail part-way (the pool out of
        memory), the arrays it writes in place that outlive it (BatchNormalization's moving
        statistics: the replay's ``writes``) are put back first, so the rerun counts the batch once."""
        saved = [(x, x.copy()) for x in getattr(self.function, "writes", ())]  # current stream, default pool
        try:
            return self._on_stream(lambda: self.function(inputs, draws))
        except Exception:
            for x, copy in saved:  # after the side stream's work (_on_stream's last wait)
                x[...] = copy
            raise

    def _on_stream(self, run: Callable[[], Any]) -> Any:
        """run() on the side stream, from the graph's pool, ordered after and before the current stream's work."""
        cupy = self.be.xp
        current = cupy.cuda.get_current_stream()
        self.stream.wait_event(current.record())
        try:
            with self.stream, cupy.cuda.using_allocator(self.pool.malloc):
                return run()
        finally:  # also after a failure: what was queued on the side stream comes first
            current.wait_event(self.stream.record())

    def _capture(self, inputs: list, draws: list) -> None:
        cupy, be = self.be.xp, self.be
        fixed = self._on_stream(lambda: [None if x is None else cupy.ascontiguousarray(x).copy() for x in inputs])
        capture = Capture(self.words, be.direct_gemm())
        marks = philox.tagged_draws(draws)  # a Philox launch learns which draw its words come from
        be._capture, be._kernels.strict = capture, True
        try:
            with self.stream, cupy.cuda.using_allocator(self.pool.malloc):
                graph, outputs = self._record(lambda: self.function(fixed, marks))
        finally:
            be._capture, be._kernels.strict = None, False
        self.graph, self._fixed, self._outputs, self._slot_draws = graph, fixed, outputs, capture.slot_draws
        self._keep = capture.keep
        self._host_words = np.empty((len(capture.slot_draws), WORDS), dtype=np.uint64)  # reused each step

    def _record(self, run: Callable[[], Any]) -> tuple[Any, Any]:
        """(graph, outputs) of ``run()`` captured on the side stream (which is current): nothing runs."""
        self.stream.begin_capture()
        try:
            outputs = run()
        finally:
            graph = self.stream.end_capture()
        return graph, outputs

    def _enqueue(self, inputs: list, draws: list) -> None:
        """The batch into the graph's inputs, the draws' Philox words into its buffer, one launch."""
        cupy = self.be.xp
        stream = cupy.cuda.get_current_stream()
        for buffer, x in zip(self._fixed, inputs):
            if buffer is not None:
                buffer[...] = x
        if self._slot_draws:
            words = self._host_words
            for j, k in enumerate(self._slot_draws):
                words[j] = philox.kernel_args(*draws[k])
            # with a stream: cudaMemcpyAsync stages pageable memory at once (so the buffer may be
            # refilled next step); without one CuPy's copy would wait for the card each step
            self.words[:words.size].set(words.ravel(), stream=stream)
        self.graph.launch(stream)
        self.launches += 1
