"""Lamina benchmarks.

Two entry points:

* ``python -m benchmarks`` — the CLI: the classic MNIST MLP (W1) and its inference pass
  (W1-infer) on every usable Lamina backend and on peers (a hand-written NumPy loop, PyTorch,
  Keras 3 on JAX/PyTorch), each in its own subprocess, in interleaved rounds, reported as a
  multiple of the GEMM floor (the matrix products alone, timed with NumPy in the same run).
  ``python -m benchmarks --help`` lists the options; docs/benchmarks.md shows a run.
* ``pytest benchmarks`` — pytest-benchmark suites of the protocol's hot ops and one training
  step, for ``--benchmark-autosave`` / ``--benchmark-compare`` diffs. They are not part of the
  normal test command (pytest's testpaths are ``tests`` and ``conformance``).

``benchmarks/gpu_check.sh`` is the one GPU check (conformance on CuPy, CuPy vs NumPy training
agreement, PyTorch CUDA timing).

The modules import only the standard library and NumPy at import time; Lamina, PyTorch, Keras
and JAX are imported inside the child process that measures them.
"""
