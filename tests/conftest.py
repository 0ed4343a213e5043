"""Shared fixtures for the frontend tests (they run on whichever backend is selected)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The offline MNIST copy: $LAMINA_DATASETS, else ../shared/data beside the checkout."""
    for candidate in (os.environ.get("LAMINA_DATASETS"), os.environ.get("LAMINA_TEST_DATA"),
                      str(REPO.parent / "shared" / "data")):
        if candidate and (Path(candidate) / "mnist" / "train-images-idx3-ubyte.gz").is_file():
            return Path(candidate)
    return None


@pytest.fixture
def mnist_dir(monkeypatch) -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("the offline MNIST copy (../shared/data) is not available")
    monkeypatch.setenv("LAMINA_DATASETS", str(path))
    return path


@pytest.fixture
def fresh_config(monkeypatch, tmp_path):
    """An empty LAMINA_HOME and no LAMINA_BACKEND; settings and backend choice re-read."""
    from lamina import _config, backends
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path))
    monkeypatch.delenv("LAMINA_BACKEND", raising=False)
    _config.reset()
    previous = backends._active
    backends._active = None
    yield tmp_path
    _config.reset()
    backends._active = previous


@pytest.fixture
def replays(monkeypatch):
    """Every StepReplay the models make, in order."""
    import lamina.models.model as model_module
    made: list = []

    class Spy(model_module.StepReplay):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(model_module, "StepReplay", Spy)
    return made
