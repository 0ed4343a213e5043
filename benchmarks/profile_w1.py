"""Profile one W1 epoch on Lamina with cProfile and print the top functions.

    python -m benchmarks.profile_w1 [--backend numpy] [--top 10] [--sort tottime] [--out w1.prof]

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
    args = p.parse_args(argv)

    from .impl_lamina import warm_w1_trainer

    t, d = warm_w1_trainer(args.backend, args.seed)
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


if __name__ == "__main__":
    sys.exit(main())
