"""benchmarks.ab: the interleaved A/B tool's summary and its argument checks (the end-to-end run
needs a second checkout and minutes of machine time; docs/benchmarks.md shows one)."""
from __future__ import annotations

import shutil
import tempfile

import pytest

from benchmarks import ab

ROOT = ab.ROOT


def test_summary_takes_medians_and_counts_wins():
    s = ab.summarize([(1.74, 1.60), (1.82, 1.67), (1.80, 1.60), (1.57, 1.58), (1.74, 1.58)])
    assert s["old_median"] == pytest.approx(1.74) and s["new_median"] == pytest.approx(1.60)
    changes = sorted([1.60 / 1.74, 1.67 / 1.82, 1.60 / 1.80, 1.58 / 1.57, 1.58 / 1.74])
    assert s["change"] == pytest.approx(changes[2] - 1)  # the median pair's change
    assert s["new_faster_in"] == 4 and s["pairs"] == 5


def test_summary_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        ab.summarize([])


def test_bad_counts_are_refused(capsys):
    with pytest.raises(SystemExit):
        ab.main(["HEAD", "--pairs", "0"])
    assert "--pairs and --epochs must be at least 1" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs git and a git checkout")
def test_unknown_revision_is_refused_before_anything_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # whatever the tool makes, it must also remove
    tempfile.tempdir = None
    with pytest.raises(SystemExit):
        ab.main(["no-such-revision-0123456789", "--pairs", "1"])
    assert "git worktree add no-such-revision-0123456789 failed" in capsys.readouterr().err
    tempfile.tempdir = None
    assert list(tmp_path.iterdir()) == []
