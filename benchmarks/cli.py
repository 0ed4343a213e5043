"""``python -m benchmarks``: Lamina vs its peers vs the GEMM floor, in interleaved rounds.

Every (library, backend) runs in its own subprocess (benchmarks.child), once per round and per
BLAS setting; the order of the processes rotates from round to round so that a slow spell on a
shared machine does not always hit the same library. Each workload is reported as seconds per
epoch (median, min, max over rounds), samples/s, and as a multiple of the GEMM floor measured in
the same run and BLAS setting (benchmarks.floor).

Examples::

    python -m benchmarks                       # W1 + W1-infer, 3 rounds, all installed peers
    python -m benchmarks --quick               # 1 round of 1/5 epochs: a smoke test (~1-2 min)
    python -m benchmarks --sweep --peers numpy-hand,torch
    python -m benchmarks --blas-env both --json /tmp/run.json --png /tmp/run.png
    python -m benchmarks --workloads conv,lstm --rounds 3   # the layer workloads alone (lamina, torch)
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import report
from .sysinfo import BLAS_VARS, CpuMeter, blas_summary, cpu_name
from .layers import LAYER_WORKLOADS
from .workloads import TRAIN_N, VAL_N, sweep_points

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "latest.json"
ALL_PEERS = ("numpy-hand", "torch", "keras")
KERAS_BACKENDS = ("jax", "torch")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _nvidia_present() -> bool:
    return os.path.exists("/dev/nvidiactl") or shutil.which("nvidia-smi") is not None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("Examples::")[1])
    p.add_argument("--rounds", type=int, default=None, help="rounds of every process (default 3; 1 with --quick)")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs per process and round (default 1)")
    p.add_argument("--workloads", default="w1,w1-infer",
                   help="comma list of w1, w1-infer, conv, lstm (default w1,w1-infer; conv and lstm -- a Conv2D "
                        "forward+backward and one LSTM training step, lamina and torch only -- run only when "
                        "named; --sweep adds the sweep; 'none' with --sweep: the sweep alone)")
    p.add_argument("--sweep", action="store_true",
                   help="also run the batch-size (32..1024) and width (256..4096) sweep of W1, a few steps per point")
    p.add_argument("--peers", default="all",
                   help="comma list of numpy-hand, torch, keras; 'all' (default: those installed) or 'none'")
    p.add_argument("--backends", default="all",
                   help="Lamina backends, comma list (default: every one in lamina.backends.available_backends())")
    p.add_argument("--blas-env", choices=("both", "as-set", "unset"), default="both",
                   help="run with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE as in the environment, with both unset "
                        "(children only), or both (default; one run when the environment sets neither)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 round, 1/5 of an epoch (times extrapolated), shorter sweep")
    p.add_argument("--json", type=Path, default=None, help=f"where to write the JSON (default {DEFAULT_JSON})")
    p.add_argument("--png", type=Path, default=None, help="write a plot there (needs matplotlib: the bench extra)")
    p.add_argument("--report", type=Path, default=None, metavar="JSON",
                   help="print the table of a saved run (and --png) instead of measuring")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--synthetic", action="store_true", help="random data of MNIST's shapes instead of MNIST")
    p.add_argument("--child-timeout", type=float, default=900, help="seconds before one process is killed")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each process, wait up to this long for the machine to be idle (other work "
                        "using under --idle-threshold of the cores); default 0 = do not wait")
    p.add_argument("--retry-busy", type=int, default=1, metavar="N",
                   help="measure a process again (up to N times) when other processes used more than "
                        "--busy-limit of the CPU while it ran; the least disturbed attempt counts (default 1)")
    p.add_argument("--busy-limit", type=float, default=0.10, help="see --retry-busy (default 0.10 = 10%%)")
    p.add_argument("--idle-threshold", type=float, default=0.15, help="busy fraction counted as idle (0.15)")
    p.add_argument("--python", default=sys.executable, help="interpreter for the child processes")
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.rounds < 1 or args.epochs < 1:
        p.error("--rounds and --epochs must be at least 1")
    args.workload_list = [w.strip() for w in args.workloads.split(",") if w.strip() and w.strip() != "none"]
    if not args.workload_list and not args.sweep:
        p.error("--workloads none leaves nothing to run; add --sweep")
    bad = set(args.workload_list) - {"w1", "w1-infer", *LAYER_WORKLOADS}
    if bad:
        p.error(f"unknown workload(s) {', '.join(sorted(bad))}; choose from w1, w1-infer, conv, lstm (and --sweep)")
    return args


def blas_configs(mode: str) -> list[dict]:
    """The environments the children run under: label + the variables to set/unset."""
    as_set = {k: os.environ.get(k) for k in BLAS_VARS}
    desc = ", ".join(f"{k.replace('OPENBLAS_', '')}={v}" for k, v in as_set.items() if v is not None)
    unset = {"label": "unset", "env": {k: None for k in BLAS_VARS},
             "description": "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (OpenBLAS detects the CPU)"}
    if not desc:
        unset["label"] = "unset"
        unset["description"] += "; the environment sets neither, so as-set is the same"
        return [unset]
    as_cfg = {"label": "as-set", "env": dict(as_set), "description": f"as in the environment: {desc}"}
    return {"both": [as_cfg, unset], "as-set": [as_cfg], "unset": [unset]}[mode]


def plan_jobs(args) -> tuple[list[dict], list[dict]]:
    """(jobs to run, rows known to be unavailable without starting a process)."""
    w1_like = args.sweep or any(w in ("w1", "w1-infer") for w in args.workload_list)
    # The GEMM floor, the hand-written NumPy MLP and Keras only do W1: not started for conv/lstm alone.
    jobs: list[dict] = [{"impl": "floor", "backend": "numpy"}] if w1_like else []
    skipped: list[dict] = []
    if args.backends == "all":
        sys.path.insert(0, str(REPO / "frontend"))
        try:
            from lamina.backends import available_backends
            names = available_backends()
        except Exception as exc:  # Lamina not importable: say so, keep the peers
            names = []
            skipped.append({"impl": "lamina", "backend": "?", "reason": f"lamina not importable: {exc}"})
    else:
        names = [b.strip() for b in args.backends.split(",") if b.strip()]
    jobs += [{"impl": "lamina", "backend": n} for n in names]
    peers = ALL_PEERS if args.peers == "all" else () if args.peers == "none" else \
        tuple(p.strip() for p in args.peers.split(",") if p.strip())
    explicit = args.peers not in ("all", "none")
    for peer in peers:
        if not w1_like and peer in ("numpy-hand", "keras"):
            continue
        if peer == "numpy-hand":
            jobs.append({"impl": "numpy-hand", "backend": "numpy"})
        elif peer == "torch":
            if not _installed("torch"):
                if explicit:
                    skipped.append({"impl": "torch", "backend": "cpu", "reason": "torch is not installed"})
                continue
            jobs.append({"impl": "torch", "backend": "cpu"})
            if _nvidia_present():
                jobs.append({"impl": "torch", "backend": "cuda"})
            else:
                skipped.append({"impl": "torch", "backend": "cuda",
                                "reason": "no NVIDIA device here (no /dev/nvidiactl, no nvidia-smi)"})
        elif peer == "keras":
            if not _installed("keras"):
                if explicit:
                    skipped.append({"impl": "keras", "backend": "-", "reason": "keras is not installed"})
                continue
            for kb in KERAS_BACKENDS:
                if _installed(kb):
                    jobs.append({"impl": "keras", "backend": kb})
                else:
                    skipped.append({"impl": "keras", "backend": kb, "reason": f"{kb} is not installed"})
        else:
            raise SystemExit(f"unknown peer {peer!r}; choose from {', '.join(ALL_PEERS)}, all, none")
    return jobs, skipped


def run_child(args, job: dict, cfg: dict, workdir: Path, tag: str) -> dict:
    spec = {**job, "workloads": args.workload_list, "epochs": args.epochs, "quick": args.quick,
            "sweep": args.sweep, "seed": args.seed, "synthetic": args.synthetic}
    env = dict(os.environ)
    for k, v in cfg["env"].items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    result_path = workdir / f"{tag}.json"
    log_path = workdir / f"{tag}.log"
    meter = CpuMeter()
    waited = 0.0
    busy = meter.busy_now(0.5)
    while args.wait_idle and busy is not None and busy > args.idle_threshold and waited < args.wait_idle:
        time.sleep(2.0)  # someone else is using the cores: wait (bounded) so our timings are not theirs
        waited += 2.5
        busy = meter.busy_now(0.5)
    meter.start()
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        try:
            proc = subprocess.run([args.python, "-m", "benchmarks.child", json.dumps(spec), str(result_path)],
                                  cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=args.child_timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    wall = time.perf_counter() - t0
    load = meter.stop()
    if result_path.is_file():
        result = json.loads(result_path.read_text())
    else:
        tail = log_path.read_text()[-600:] if log_path.is_file() else ""
        result = {"spec": spec, "status": "error", "peak_rss_mib": None,
                  "reason": f"process ended ({rc}) without a result; log {log_path}: {tail.strip()[-300:]}"}
    result["config"] = cfg["label"]
    result["wall_s"] = wall
    result["busy_before"] = busy
    result["waited_s"] = waited
    result["foreign_cpu"] = load.get("foreign_cpu")
    result["log"] = str(log_path)
    return result


def _too_busy(args, result: dict) -> bool:
    return result["status"] == "ok" and (result.get("foreign_cpu") or 0.0) > args.busy_limit


def _progress(result: dict) -> str:
    spec = result["spec"]
    name = "floor" if spec["impl"] == "floor" else f"{spec['impl']}/{spec['backend']}"
    if result["status"] != "ok":
        return f"{name}: {result['status']}: {result.get('reason', '')[:160]}"
    if spec["impl"] == "floor":
        f = result["floor"]
        other = result.get("foreign_cpu")
        return f"{name}: W1 {f['w1']:.3f} s/epoch, W1-infer {f['w1-infer']:.3f} s" + \
            ("" if other is None else f" (other load {100 * other:.0f}%)")
    parts = [f"{wl} {statistics.fmean(result[wl]['seconds']):.3f} s" for wl in ("w1", "w1-infer") if wl in result]
    parts += [f"{wl} {statistics.median(result[wl]['seconds']):.4f} s/call" for wl in LAYER_WORKLOADS if wl in result]
    if "sweep" in result:
        parts.append(f"sweep {len(result['sweep'])} points")
    other = result.get("foreign_cpu")
    load = "" if other is None else f", other load {100 * other:.0f}%"
    return f"{name}: " + ", ".join(parts) + f" (peak RSS {result['peak_rss_mib']:.0f} MiB, {result['wall_s']:.0f} s wall{load})"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return report_only(args.report, args.png)
    configs = blas_configs(args.blas_env)
    jobs, skipped = plan_jobs(args)
    workloads = list(args.workload_list)
    if args.sweep:
        workloads += [p.name for p in sweep_points(args.quick)]
    started = _dt.datetime.now()
    commit = _git_commit()  # at the start: other work may land while this runs
    print(f"Lamina benchmarks: {len(jobs)} processes x {len(configs)} BLAS setting(s) x {args.rounds} round(s); "
          f"workloads {', '.join(args.workload_list)}{' + sweep' if args.sweep else ''}"
          f"{' (quick: 1/5 epoch, extrapolated)' if args.quick else ''}", file=sys.stderr, flush=True)
    results: list[dict] = []
    dropped: set = set()
    workdir = Path(tempfile.mkdtemp(prefix="lamina-bench-"))
    for rnd in range(args.rounds):
        for ci, cfg in enumerate(configs):
            todo = [j for j in jobs if (j["impl"], j["backend"]) not in dropped]
            shift = (rnd * len(configs) + ci) % max(len(todo), 1)
            todo = todo[shift:] + todo[:shift]  # rotate the order every round
            for job in todo:
                tag = f"r{rnd}-c{ci}-{job['impl']}-{job['backend']}"
                result = run_child(args, job, cfg, workdir, tag)
                discarded = []
                while _too_busy(args, result) and len(discarded) < args.retry_busy:
                    print(f"[round {rnd + 1}/{args.rounds}, BLAS {cfg['label']}] {_progress(result)} -- other "
                          f"processes used more than {100 * args.busy_limit:.0f}% of the CPU: measuring again",
                          file=sys.stderr, flush=True)
                    discarded.append(result)
                    result = run_child(args, job, cfg, workdir, f"{tag}-retry{len(discarded)}")
                if discarded:  # keep the attempt disturbed least
                    attempts = discarded + [result]
                    result = min(attempts, key=lambda r: r.get("foreign_cpu") or 0.0)
                    result["discarded_attempts"] = [{"foreign_cpu": r.get("foreign_cpu"), "summary": _progress(r)}
                                                    for r in attempts if r is not result]
                result["round"] = rnd
                results.append(result)
                print(f"[round {rnd + 1}/{args.rounds}, BLAS {cfg['label']}] {_progress(result)}",
                      file=sys.stderr, flush=True)
                if result["status"] != "ok":
                    dropped.add((job["impl"], job["backend"]))  # unusable here: do not retry every round
    floor_results = [r for r in results if r["spec"]["impl"] == "floor" and r["status"] == "ok"]
    blas_by_cfg = {}
    for cfg in configs:
        fr = [r for r in floor_results if r["config"] == cfg["label"]]
        blas_by_cfg[cfg["label"]] = fr[0]["blas"] if fr else []
    meta = {
        "date": started.strftime("%Y-%m-%d %H:%M"), "host_cpu": cpu_name(), "cpu_count": os.cpu_count(),
        "platform": platform.platform(), "python": platform.python_version(),
        "numpy": _version("numpy"), "git_commit": commit, "args": {k: (str(v) if isinstance(v, Path) else v)
                                                                        for k, v in vars(args).items()},
        "blas": {k: {"summary": blas_summary(v), "threadpools": v} for k, v in blas_by_cfg.items()},
        "blas_configs": [{"label": c["label"], "description": c["description"]} for c in configs],
        "data": next((r.get("data") for r in results if r.get("data")), "n/a"),
        "epoch": {"train_samples": TRAIN_N, "val_samples": VAL_N},
        "workloads": workloads, "skipped": skipped,
        "duration_s": (_dt.datetime.now() - started).total_seconds(),
    }
    rows = render(meta, results)
    json_path = args.json or DEFAULT_JSON
    report.write_json(json_path, {"meta": meta, "rows": rows, "results": results})
    print(f"JSON written to {json_path}")
    if args.png:
        print(report.write_png(args.png, rows))
    shutil.rmtree(workdir, ignore_errors=True) if all(r["status"] != "error" for r in results) else \
        print(f"child logs kept in {workdir}")
    return 0


def render(meta: dict, results: list[dict]) -> list[dict]:
    """Print the header and the table for one run; return the rows."""
    configs = meta["blas_configs"]
    labels = [c["label"] for c in configs]
    workloads = meta["workloads"]
    rows = report.build_rows(results, configs, workloads)
    ok = [r for r in rows if r["status"] == "ok"]
    seen, not_ok = set(), []
    for r in [r for r in rows if r["status"] != "ok"] + \
            [{"workload": "-", "library": s["impl"], "backend": s["backend"], "blas_env": labels[0],
              "status": "skipped", "reason": s["reason"]} for s in meta.get("skipped", [])]:
        if (r["library"], r["backend"]) not in seen:  # one line per unusable library/backend
            seen.add((r["library"], r["backend"]))
            not_ok.append({**r, "workload": "-", "blas_env": "-"})
    ok.sort(key=lambda r: (workloads.index(r["workload"]) if r["workload"] in workloads else 99,
                           labels.index(r["blas_env"]) if r["blas_env"] in labels else 99))
    rows = ok + not_ok
    args = meta.get("args", {})
    print()
    print(f"Date {meta['date']}; CPU {meta['host_cpu']} ({meta['cpu_count']} cores); Python {meta['python']}; "
          f"NumPy {meta['numpy']}; commit {meta.get('git_commit')}; data {meta['data']}")
    for cfg in configs:
        print(f"OPENBLAS env [{cfg['label']}]: {cfg['description']}; NumPy's BLAS: "
              f"{meta['blas'].get(cfg['label'], {}).get('summary', '?')}")
    if any(not w.startswith(LAYER_WORKLOADS) for w in workloads):
        print(f"{args.get('rounds')} round(s) x {args.get('epochs')} epoch(s) per process; epoch = {TRAIN_N:,} training + "
              f"{VAL_N:,} validation samples, batch 200{'; --quick: 1/5 epoch measured, x5' if args.get('quick') else ''}")
    else:
        print(f"{args.get('rounds')} round(s) per process{'; --quick: fewer timed calls' if args.get('quick') else ''}")
    print()
    print(report.format_table(rows, show_config=True))
    print()
    steadiness = report.floor_spread(rows)
    if steadiness:
        print(steadiness)
    print("s/epoch: W1 = one training epoch with its validation pass; W1-infer = one evaluate() of 18,000 samples; "
          "sweep = seconds for the point's training steps. samples/s counts every sample processed "
          "(W1: 60,000). x floor = median / median of the GEMM floor in the same OPENBLAS setting. x own floor = "
          "the median over rounds of each process's time over the floor it measured itself right after (CPU "
          "runs; steadier when the machine's speed moves between processes). GEMM kernel = "
          "what did the matrix products (NumPy's OpenBLAS core type; PyTorch and JAX bring their own). peak RSS = "
          "the process's high-water mark (includes the data set and the library import). other load = CPU "
          "used by other processes while this one ran, as a share of all cores (median over rounds): above ~10% "
          "the timing is inflated by a busy machine.")
    if any(w in LAYER_WORKLOADS for w in workloads):
        print("CONV / LSTM rows: seconds per call (not per epoch), median/min/max over every timed call of every "
              "round after warm-up; samples/s counts the batch of 128; no GEMM floor (x floor '-'). CONV = "
              "Conv2D 32->64 3x3 valid on (128, 26, 26, 32), forward + input and kernel gradients; LSTM = one "
              "train step of LSTM(128) on (128, 28, 28) -> Dense(10), categorical cross-entropy, Adam.")
    return rows


def report_only(path: Path, png: Path | None) -> int:
    payload = json.loads(Path(path).read_text())
    rows = render(payload["meta"], payload["results"])
    if png:
        print(report.write_png(png, rows))
    return 0


def _version(module: str) -> str:
    try:
        from importlib.metadata import version
        return version(module)
    except Exception:
        return "?"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if out.returncode == 0 else None
    except Exception:
        return None
