"""Profile one W1 epoch on Lamina with cProfile and print the top functions.

    python -m benchmarks.profile_w1 [--backend numpy] [--top 10] [--sort tottime] [--out w1.prof]
    python -m benchmarks.profile_w1 --calls

``--calls`` instead times every backend call of a real epoch where it runs (no cProfile) and prints
one training step's calls in order, each with its median time over the epoch's steps and, for the
cheap ones, the median time of an immediate second identical call. The two differ by the cost of
code and data that the step's products evicted from the caches: on the 2-core development machine a
reshape or broadcast that takes 1-3 us when repeated takes 10-30 us as the first of its kind in a
step, which is why the number of distinct Python-level operations per step matters more than
their isolated cost (docs/performance.md).

The model, data and optimizer are exactly those of the benchmark (benchmarks.impl_lamina); a short
warm-up fit runs first so that one-time costs (building, first calls) are not in the profile.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_w1", description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="numpy")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--sort", default="tottime", choices=("tottime", "cumulative", "ncalls"))
    p.add_argument("--out", default=None, help="also save the raw profile (for snakeviz, pstats)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--calls", action="store_true", help="time each backend call of a step in place instead")
    args = p.parse_args(argv)

    from .impl_lamina import warm_w1_trainer

    t, d = warm_w1_trainer(args.backend, args.seed)
    if args.calls:
        print(step_calls(t))
        return 0
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    times, _ = t.fit_epochs(1)
    prof.disable()
    wall = time.perf_counter() - t0
    if args.out:
        prof.dump_stats(args.out)
    s = io.StringIO()
    stats = pstats.Stats(prof, stream=s).strip_dirs().sort_stats(args.sort)
    stats.print_stats(args.top)
    print(f"W1 epoch on lamina/{args.backend} under cProfile: {wall:.2f} s wall "
          f"(epoch {times[0]:.2f} s; data {d['source']})")
    print(s.getvalue())
    return 0


# Calls repeated at once by --calls to show their warm cost: cheap, with no side effect on their inputs.
_REPEATABLE = ("reshape", "broadcast_to", "ones", "zeros", "transpose", "asarray", "softmax", "max", "sum",
               "argmax", "equal", "cast", "clip", "where", "divide", "log", "categorical_crossentropy")


def step_calls(trainer, **fit_kwargs) -> str:
    """One epoch (``fit_epochs(1, **fit_kwargs)``) with every backend method timed where it runs;
    the table of one training step."""
    import statistics

    be = trainer.be
    seq: list[tuple[str, float, float | None, str]] = []
    depth = [0]

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            depth[0] += 1
            t0 = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
                first = time.perf_counter() - t0
                again = None
                if depth[0] == 1 and name in _REPEATABLE:
                    t1 = time.perf_counter()
                    fn(*args, **kwargs)
                    again = time.perf_counter() - t1
                return result
            finally:
                depth[0] -= 1
                if depth[0] == 0:  # calls the backend makes to itself are inside their caller's time
                    shapes = ", ".join(str(tuple(a.shape)) if hasattr(a, "shape") else type(a).__name__ for a in args[:3])
                    seq.append((name, first, again, shapes))
        return wrapper

    names = [n for n in dir(type(be)) if not n.startswith("_") and callable(getattr(be, n, None))]
    for n in names:
        setattr(be, n, timed(n, getattr(be, n)))
    try:
        trainer.fit_epochs(1, **fit_kwargs)
    finally:
        for n in names:
            delattr(be, n)
    ends = [i for i, (name, *_) in enumerate(seq) if name.endswith("_update_many")]
    steps = [seq[a + 1:b + 1] for a, b in zip(ends, ends[1:])]
    steps = [s for s in steps if [c[0] for c in s] == [c[0] for c in steps[len(steps) // 2]]]
    lines = [f"{'#':>3} {'backend call':32} {'median us':>9} {'again us':>8}  arguments",]
    total = 0.0
    for k, calls in enumerate(zip(*steps)):
        med = statistics.median(c[1] for c in calls) * 1e6
        again = [c[2] for c in calls if c[2] is not None]
        total += med
        lines.append(f"{k:3d} {calls[0][0]:32} {med:9.1f} {statistics.median(again) * 1e6 if again else float('nan'):8.1f}  "
                     f"{calls[0][3]}")
    lines.append(f"{len(steps)} steps of the same calls; backend time per step {total:.0f} us (each call timed alone, "
                 "so wrappers add ~1 us each)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
