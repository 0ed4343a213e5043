"""Turning child results into rows, the printed table, the JSON file and the optional plot."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from .layers import LAYER_WORKLOADS
from .layers import SAMPLES as LAYER_SAMPLES
from .layers import TITLES as LAYER_TITLES
from .workloads import TRAIN_N, VAL_N

# Samples processed in one timed unit of each workload (the "epoch" of the table; for the layer
# workloads conv and lstm, one call).
SAMPLES = {"w1": TRAIN_N + VAL_N, "w1-infer": VAL_N, **LAYER_SAMPLES}
WORKLOAD_TITLES = {"w1": "W1 train epoch", "w1-infer": "W1-infer", **LAYER_TITLES}


def _round_values(result: dict, workload: str) -> tuple[float | None, dict | None]:
    """(mean seconds over the epochs of this round, the workload dict) for one child result."""
    if workload.startswith("sweep"):
        point = (result.get("sweep") or {}).get(workload)
        if not point or "seconds" not in point:
            return None, point
        return point["seconds"], point
    w = result.get(workload)
    if not w:
        return None, None
    return statistics.fmean(w["seconds"]), w


def build_rows(results: list[dict], configs: list[dict], workloads: list[str]) -> list[dict]:
    """One row per (workload, implementation, BLAS config), floors first within each workload."""
    rows: list[dict] = []
    for cfg in configs:
        cfg_results = [r for r in results if r["config"] == cfg["label"]]
        floors = [r for r in cfg_results if r["spec"]["impl"] == "floor" and r["status"] == "ok"]
        impl_keys = []
        for r in cfg_results:
            if r["spec"]["impl"] == "floor":
                continue
            key = (r["spec"]["impl"], r["spec"]["backend"])
            if key not in impl_keys:
                impl_keys.append(key)
        for wl in workloads:
            floor_vals = [_floor_value(f["floor"], wl) for f in floors]
            floor_vals = [v for v in floor_vals if v is not None]
            floor_med = statistics.median(floor_vals) if floor_vals else None
            samples = SAMPLES.get(wl)
            if wl.startswith("sweep") and floors:
                samples = floors[0]["floor"].get("sweep", {}).get(wl, {}).get("samples")
            if floor_vals:
                rows.append(_row(wl, "floor: GEMMs only", "numpy", cfg, floor_vals, samples, floor_med,
                                 max(f["peak_rss_mib"] for f in floors), None, floors))
            for impl, backend in impl_keys:
                rs = [r for r in cfg_results if (r["spec"]["impl"], r["spec"]["backend"]) == (impl, backend)]
                ok = [r for r in rs if r["status"] == "ok"]
                if not ok:
                    reason = next((r.get("reason") for r in rs if r.get("reason")), "no result")
                    rows.append({"workload": wl, "library": impl, "backend": backend, "blas_env": cfg["label"],
                                 "status": rs[0]["status"] if rs else "missing", "reason": reason})
                    continue
                vals, extra = [], None
                for r in ok:
                    if wl in LAYER_WORKLOADS:  # every timed call of every round counts
                        w = r.get(wl)
                        if w:
                            vals.extend(w["seconds"])
                            extra = w
                        continue
                    v, w = _round_values(r, wl)
                    if v is not None:
                        vals.append(v)
                        extra = w
                if not vals:
                    err = extra.get("error") if isinstance(extra, dict) else None
                    if err:
                        rows.append({"workload": wl, "library": impl, "backend": backend, "blas_env": cfg["label"],
                                     "status": "error", "reason": err})
                    continue
                acc = (extra or {}).get("val_accuracy") if isinstance(extra, dict) else None
                rows.append(_row(wl, impl, backend, cfg, vals, samples, floor_med,
                                 max(r["peak_rss_mib"] for r in ok), acc, ok))
    return rows


def _floor_value(floor: dict, wl: str) -> float | None:
    if wl.startswith("sweep"):
        p = floor.get("sweep", {}).get(wl)
        return None if p is None else p["seconds"]
    return floor.get(wl)


def _row(wl, library, backend, cfg, vals, samples, floor_med, rss, acc, results) -> dict:
    med = statistics.median(vals)
    kernel = ""
    for r in results:
        for b in r.get("blas", []):
            if b.get("internal_api") == "openblas" and "numpy" in (b.get("filepath") or ""):
                kernel = f"OpenBLAS {b.get('architecture') or '?'}"
        own = (r.get("library") or {}).get("gemm")
        if own:  # the library multiplies with its own GEMM (MKL in torch, XLA in JAX), not NumPy's
            kernel = own
    loads = [r["foreign_cpu"] for r in results if r.get("foreign_cpu") is not None]
    return {"workload": wl, "library": library, "backend": backend, "blas_env": cfg["label"],
            "blas_kernel": kernel, "status": "ok", "rounds": vals, "median_s": med, "min_s": min(vals),
            "max_s": max(vals), "samples": samples,
            "samples_per_s": (samples / med) if samples and med else None,
            "us_per_sample": (1e6 * med / samples) if samples else None,
            "x_floor": (med / floor_med) if floor_med else None, "x_own_floor": _own_ratio(wl, results),
            "peak_rss_mib": rss, "val_accuracy": acc, "other_load": statistics.median(loads) if loads else None}


def _own_ratio(wl: str, results: list[dict]) -> float | None:
    """The median over rounds of each process's seconds divided by the floor it measured itself
    right after (``own_floor``), or None where no process did (the floor's rows, GPU backends, the
    layer workloads and the sweep)."""
    ratios = []
    for r in results:
        own = (r.get("own_floor") or {}).get(wl)
        value = _round_values(r, wl)[0] if own else None
        if value is not None:
            ratios.append(value / own)
    return statistics.median(ratios) if ratios else None


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def format_table(rows: list[dict], show_config: bool) -> str:
    head = ["workload", "library/backend"] + (["OPENBLAS env", "GEMM kernel"] if show_config else []) + [
        "s/epoch med", "min", "max", "samples/s", "us/sample", "x floor", "x own floor", "peak RSS MiB", "val acc",
        "other load"]
    lines = []
    for r in rows:
        title = WORKLOAD_TITLES.get(r["workload"], r["workload"])
        lib = r["library"] if r["library"].startswith("floor") else f"{r['library']}/{r['backend']}"
        cfg = [r["blas_env"], r.get("blas_kernel") or "-"] if show_config else []
        if r["status"] != "ok":
            reason = (r.get("reason") or "").replace("\n", " ")
            if len(reason) > 150:
                reason = reason[:147] + "..."
            lines.append([title, lib] + cfg + [f"{r['status']}: {reason}"])
            continue
        lines.append([title, lib] + cfg + [
            _fmt(r["median_s"], ".3f"), _fmt(r["min_s"], ".3f"), _fmt(r["max_s"], ".3f"),
            _fmt(r["samples_per_s"], ",.0f"), _fmt(r["us_per_sample"], ".1f"), _fmt(r["x_floor"], ".2f"),
            _fmt(r.get("x_own_floor"), ".2f"), _fmt(r["peak_rss_mib"], ".0f"), _fmt(r["val_accuracy"], ".4f"),
            "-" if r.get("other_load") is None else f"{100 * r['other_load']:.0f}%"])
    widths = [len(h) for h in head]
    for ln in lines:
        if len(ln) == len(head):
            widths = [max(w, len(c)) for w, c in zip(widths, ln)]
    fixed = 2 + (2 if show_config else 0)
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |",
           "|" + "|".join("-" * (w + 2) if i < fixed else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"]
    for ln in lines:
        if len(ln) == len(head):
            cells = [c.ljust(w) if i < fixed else c.rjust(w) for i, (c, w) in enumerate(zip(ln, widths))]
        else:  # a skipped/failed row: the reason spans the numeric columns
            cells = [c.ljust(w) for c, w in zip(ln[:fixed], widths)] + [ln[fixed]] + [""] * (len(head) - fixed - 1)
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def floor_spread(rows: list[dict]) -> str | None:
    """One sentence on how steady the machine was: the GEMM floor repeats the same products every
    round, so its max/min over rounds is the machine's own drift (a hypervisor's neighbours do not
    show up as other processes' load). None with fewer than two rounds of the floor."""
    parts = []
    for r in rows:
        if r["status"] == "ok" and r["library"].startswith("floor") and r["workload"] == "w1" \
                and len(r["rounds"]) > 1 and r["min_s"]:
            parts.append(f"{r['blas_env']} {r['max_s'] / r['min_s']:.2f}x")
    if not parts:
        return None
    return ("Machine steadiness: the W1 floor's slowest round over its fastest was " + ", ".join(parts)
            + "; above ~1.1x the machine's speed moved during the run, and the medians and ratios of "
              "the rows carry that much noise (compare runs by interleaved pairs instead).")


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")


def write_png(path: Path, rows: list[dict]) -> str:
    """Bar chart of x floor for W1/W1-infer, and the sweep's us/sample curves. Returns a note."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]'); no plot written"
    ok = [r for r in rows if r["status"] == "ok"]
    main = [r for r in ok if r["workload"] in ("w1", "w1-infer") and not r["library"].startswith("floor")]
    sweep = [r for r in ok if r["workload"].startswith("sweep")]
    fig, axes = plt.subplots(1, 3 if sweep else 1, figsize=(16 if sweep else 8, 5), squeeze=False)
    ax = axes[0][0]
    labels = [f"{r['workload']} {r['library']}/{r['backend']}\n{r['blas_env']}" for r in main]
    ax.barh(range(len(main)), [r["x_floor"] or 0 for r in main])
    ax.set_yticks(range(len(main)), labels, fontsize=7)
    ax.axvline(1.0, color="k", lw=1)
    ax.set_xlabel("time / GEMM floor (lower is better; 1 = the floor)")
    ax.invert_yaxis()
    if sweep:
        for k, (axis_name, idx) in enumerate((("batch size (width 500)", "b"), ("hidden width (batch 200)", "h"))):
            a = axes[0][k + 1]
            series: dict = {}
            for r in sweep:
                parts = dict(p.split("=") for p in r["workload"].split()[1:])
                if (idx == "b" and parts["h"] != "500") or (idx == "h" and parts["b"] != "200"):
                    continue
                key = f"{r['library']}/{r['backend']} {r['blas_env']}"
                series.setdefault(key, []).append((int(parts[idx]), r["us_per_sample"]))
            for key, pts in series.items():
                pts.sort()
                a.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=key)
            a.set_xscale("log", base=2)
            a.set_yscale("log")
            a.set_xlabel(axis_name)
            a.set_ylabel("us per training sample")
            a.legend(fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return f"plot written to {path}"
