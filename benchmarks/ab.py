"""Interleaved A/B: Lamina at another git revision against this working tree, on a noisy machine.

    python -m benchmarks.ab REV [--pairs 5] [--workload w1|w1-infer|lstm] [--blas-env unset|as-set]

A shared machine's speed drifts by 10-100 % within minutes (docs/benchmarks.md), which hides a
change of a few percent in any single run. This tool checks REV out into a temporary git worktree,
builds its compiled helpers there, and runs pairs of child processes, one per tree, alternating
which goes first. Each child imports Lamina from its tree (``PYTHONPATH``) and the measuring code
from this tree, so both are timed the same way:

* ``w1``: the min over ``--epochs`` W1 epochs, divided by the GEMM floor measured right after in
  the same process, so each process is normalised by its own share of the machine;
* ``w1-infer``: the min over 5 times ``--epochs`` W1-infer passes (``evaluate`` of 18,000 samples),
  divided by the validation products' floor measured right after;
* ``lstm``: the min over 40 ``train_on_batch`` steps of the LSTM workload (no floor).

It prints each pair and the median of each side. Needs git and a C++ compiler, like a
development checkout does.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD_TIMEOUT_S = 900


def child(workload: str, epochs: int, seed: int) -> dict:
    """Measure one workload in this process (whatever Lamina the path gives); a JSON-able dict."""
    import lamina
    import lamina_numpy
    compiled = lamina_numpy.compiled_kernels()
    if workload == "lstm":
        from .layers import _time, lamina_lstm_model, lstm_batch
        model = lamina_lstm_model(seed)
        xs, ys, _ = lstm_batch(seed)
        times = _time(lambda: model.train_on_batch(xs, ys), lambda: None, warmup=5, repeats=40)
        return {"lamina": lamina.__file__, "compiled": compiled, "value": min(times), "unit": "s per step"}
    from .floor import w1_floor
    from .impl_lamina import warm_w1_trainer
    from .workloads import W1
    trainer, _ = warm_w1_trainer("numpy", seed)
    if workload == "w1-infer":
        best = min(trainer.evaluate()[0] for _ in range(5 * epochs))
        floor = min(w1_floor(W1, 1, 90)["val"] for _ in range(3))
        return {"lamina": lamina.__file__, "compiled": compiled, "value": best / floor, "unit": "x floor",
                "epoch_s": best, "floor_s": floor}
    times, _ = trainer.fit_epochs(epochs)
    floor = min(w1_floor(W1, 210, 90)["epoch"] for _ in range(2))
    return {"lamina": lamina.__file__, "compiled": compiled, "value": min(times) / floor, "unit": "x floor",
            "epoch_s": min(times), "floor_s": floor}


def summarize(pairs: list[tuple[float, float]]) -> dict:
    """Medians of each side over the pairs, and the median of the per-pair changes (new / old - 1):
    the two halves of a pair ran back to back, so their ratio is the least disturbed by drift."""
    if not pairs:
        raise ValueError("summarize needs at least one (old, new) pair of measurements.")
    old = statistics.median(p[0] for p in pairs)
    new = statistics.median(p[1] for p in pairs)
    wins = sum(1 for o, n in pairs if n < o)
    return {"old_median": old, "new_median": new, "change": statistics.median(n / o - 1.0 for o, n in pairs),
            "new_faster_in": wins, "pairs": len(pairs)}


def _env(tree: Path, blas_env: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree / "frontend"), str(tree / "backend_numpy"), str(ROOT)])
    if blas_env == "unset":
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    return env


def _run_child(tree: Path, args: argparse.Namespace) -> dict:
    code = (f"import json, sys; from benchmarks.ab import child; "
            f"print(json.dumps(child({args.workload!r}, {args.epochs}, {args.seed})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tempfile.gettempdir(), env=_env(tree, args.blas_env),
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"the child for {tree} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["lamina"].startswith(str(tree)):  # the tree's Lamina, not an installed one
        raise RuntimeError(f"the child for {tree} imported Lamina from {result['lamina']}")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__.splitlines()[0])
    p.add_argument("rev", help="the git revision to compare this working tree with (e.g. HEAD~3)")
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--workload", choices=("w1", "w1-infer", "lstm"), default="w1")
    p.add_argument("--epochs", type=int, default=4, help="W1 epochs per process (the min counts)")
    p.add_argument("--blas-env", choices=("unset", "as-set"), default="unset")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.pairs < 1 or args.epochs < 1:
        p.error(f"--pairs and --epochs must be at least 1, got {args.pairs} and {args.epochs}")
    if shutil.which("git") is None:
        p.error("git is not on PATH; the A/B tool checks the other revision out with git worktree")
    old_tree = Path(tempfile.mkdtemp(prefix="lamina-ab-")) / "tree"
    added = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old_tree), args.rev],
                           capture_output=True, text=True)
    if added.returncode != 0:
        shutil.rmtree(old_tree.parent, ignore_errors=True)
        p.error(f"git worktree add {args.rev} failed: {added.stderr.strip()}")
    try:
        built = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=old_tree,
                               capture_output=True, text=True)
        if built.returncode != 0:
            print(f"warning: building {args.rev}'s compiled helpers failed; it runs on its NumPy code\n"
                  f"{built.stderr[-1000:]}", file=sys.stderr)
        pairs = []
        for i in range(args.pairs):
            order = [("old", old_tree), ("new", ROOT)] if i % 2 == 0 else [("new", ROOT), ("old", old_tree)]
            got = {name: _run_child(tree, args) for name, tree in order}
            if got["old"]["compiled"] != got["new"]["compiled"]:
                print(f"warning: the compiled helper is {'on' if got['new']['compiled'] else 'off'} in the working "
                      f"tree but not in {args.rev}: the comparison includes that difference", file=sys.stderr)
            pairs.append((got["old"]["value"], got["new"]["value"]))
            print(f"pair {i + 1}: {args.rev} {got['old']['value']:.4f}  working tree {got['new']['value']:.4f} "
                  f"({got['new']['unit']})", flush=True)
        s = summarize(pairs)
        print(f"median over {s['pairs']} pairs: {args.rev} {s['old_median']:.4f}, working tree {s['new_median']:.4f}; "
              f"median change within a pair {100 * s['change']:+.1f} %; the working tree was faster in "
              f"{s['new_faster_in']} of {s['pairs']}")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)],
                       capture_output=True, text=True)
        shutil.rmtree(old_tree.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
