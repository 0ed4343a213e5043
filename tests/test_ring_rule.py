"""The ring rule: model-ring and ops modules import neither numpy nor cupy; only backend_cupy imports cupy."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAMINA = REPO / "frontend" / "lamina"
# Host-side modules allowed to use NumPy (DESIGN.md: data preparation, shuffling, saving, backends).
HOST_SIDE = {"backends", "datasets", "utils", "initializers.py", "saving"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_model_ring_and_ops_do_not_import_numpy_or_cupy():
    offenders = []
    for path in LAMINA.rglob("*.py"):
        top = path.relative_to(LAMINA).parts[0]
        if top in HOST_SIDE:
            continue
        bad = imported_roots(path) & {"numpy", "cupy", "cupyx"}
        if bad:
            offenders.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not offenders, "ring rule broken:\n" + "\n".join(offenders)


def test_only_backend_cupy_imports_cupy():
    offenders = []
    for folder in ("frontend", "backend_numpy", "examples"):
        for path in (REPO / folder).rglob("*.py"):
            if imported_roots(path) & {"cupy", "cupyx"}:
                offenders.append(str(path.relative_to(REPO)))
    assert not offenders, f"only backend_cupy may import cupy: {offenders}"


def test_checker_detects_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nfrom cupy import ndarray\n")
    assert imported_roots(bad) == {"numpy", "cupy"}


def test_layers_and_models_are_checked():
    checked = [p for p in LAMINA.rglob("*.py") if p.relative_to(LAMINA).parts[0] not in HOST_SIDE]
    names = {p.relative_to(LAMINA).parts[0] for p in checked}
    assert {"layers", "models", "ops", "optimizers", "losses.py", "metrics.py", "callbacks.py"} <= names
