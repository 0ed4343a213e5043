"""Tests for lamina.utils.progbar (deterministic: fake clock, in-memory streams)."""
from __future__ import annotations

import importlib.util
import io
import pathlib
import sys

import pytest

_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load_module():
    # Prefer the package import; fall back to loading the file directly so these
    # tests do not depend on the rest of the package importing cleanly.
    try:
        from lamina.utils import progbar as mod  # type: ignore

        return mod
    except Exception:
        path = _ROOT / "frontend" / "lamina" / "utils" / "progbar.py"
        spec = importlib.util.spec_from_file_location("_lamina_progbar_under_test", path)
        mod = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        spec.loader.exec_module(mod)
        return mod


pb = _load_module()
Progbar = pb.Progbar


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def make(target, stream=None, **kw):
    clock = FakeClock()
    stream = io.StringIO() if stream is None else stream
    bar = Progbar(target, stream=stream, clock=clock, **kw)
    return bar, clock, stream


def render_tty(raw: str) -> list[str]:
    """Very small terminal emulator: applies '\\r', '\\b' and '\\n'."""
    lines: list[str] = []
    buf: list[str] = []
    col = 0
    for ch in raw:
        if ch == "\n":
            lines.append("".join(buf).rstrip())
            buf, col = [], 0
        elif ch == "\r":
            col = 0
        elif ch == "\b":
            col = max(col - 1, 0)
        else:
            if col < len(buf):
                buf[col] = ch
            else:
                buf.append(ch)
            col += 1
    if buf:
        lines.append("".join(buf).rstrip())
    return lines


# ---------------------------------------------------------------- formatting
def test_module_has_no_numpy_import():
    src = (_ROOT / "frontend" / "lamina" / "utils" / "progbar.py").read_text()
    assert "numpy" not in src.replace("must not import numpy", "")


def test_eta_formats():
    assert pb._format_eta(3723) == "1:02:03"
    assert pb._format_eta(123) == "2:03"
    assert pb._format_eta(4.7) == "4s"
    assert pb._format_eta(60) == "60s"
    assert pb._format_eta(-3) == "0s"


def test_per_unit_formats():
    assert pb._format_per_unit(2.4, "step") == "2s/step"
    assert pb._format_per_unit(0.014, "step") == "14ms/step"
    assert pb._format_per_unit(0.000025, "sample") == "25us/sample"
    assert pb._format_per_unit(0.0, "step") == "0s/step"


def test_value_formats():
    assert pb._format_value(0.31244) == "0.3124"
    assert pb._format_value(-2.5) == "-2.5000"
    assert pb._format_value(0.0005) == "5.0000e-04"
    assert pb._format_value(0.0) == "0.0000e+00"
    assert pb._format_value("n/a") == "n/a"


# ------------------------------------------------------------ metric values
def test_weighted_average_of_non_stateful_metrics():
    bar, clock, out = make(2, verbose=2)
    bar.update(1, [("loss", 1.0)])
    clock.advance(1.0)
    bar.update(2, [("loss", 3.0)])
    assert "loss: 2.0000" in out.getvalue()


def test_average_weighted_by_step_delta():
    bar, clock, out = make(4, verbose=2)
    bar.update(1, [("loss", 1.0)])
    bar.update(4, [("loss", 3.0)])  # weight 3
    assert "loss: 2.5000" in out.getvalue()  # (1*1 + 3*3) / 4


def test_stateful_metric_shows_last_value():
    bar, clock, out = make(3, verbose=2, stateful_metrics=["acc"])
    bar.update(1, [("loss", 1.0), ("acc", 0.5)])
    bar.update(2, [("loss", 2.0), ("acc", 0.7)])
    bar.update(3, [("loss", 3.0), ("acc", 0.9)])
    line = out.getvalue()
    assert "acc: 0.9000" in line
    assert "loss: 2.0000" in line
    assert line.index("loss") < line.index("acc")  # order of first appearance


def test_small_values_use_exponent():
    bar, clock, out = make(1, verbose=2)
    bar.update(1, [("lr", 1e-4)])
    assert "lr: 1.0000e-04" in out.getvalue()


# ---------------------------------------------------------------- verbose=2
def test_verbose2_exactly_one_line():
    bar, clock, out = make(210, verbose=2)
    for step in range(1, 211):
        clock.advance(3.0 / 210)
        bar.update(step, [("loss", 0.2), ("accuracy", 0.9)])
    text = out.getvalue()
    assert text == "210/210 - 3s - loss: 0.2000 - accuracy: 0.9000 - 14ms/step\n"


def test_verbose2_wants_update_only_at_end():
    bar, clock, out = make(5, verbose=2)
    clock.advance(100)
    assert not bar.wants_update(4)
    assert bar.wants_update(5)
    assert bar.wants_update(3, finalize=True)


def test_verbose2_unknown_target_only_on_explicit_finalize():
    bar, clock, out = make(None, verbose=2)
    clock.advance(3)
    assert not bar.wants_update(10**6)
    bar.update(6, [("loss", 0.5)])
    assert out.getvalue() == ""
    bar.update(6, finalize=True)
    assert out.getvalue() == "6/Unknown - 3s - loss: 0.5000 - 500ms/step\n"


# ---------------------------------------------------------------- verbose=0
def test_verbose0_writes_nothing():
    bar, clock, out = make(10, verbose=0)
    for step in range(1, 11):
        clock.advance(10)
        assert not bar.wants_update(step)
        bar.update(step, [("loss", 1.0)])
    bar.update(10, finalize=True)
    assert out.getvalue() == ""


# ------------------------------------------------------------ verbose=1 tty
def test_tty_final_line():
    out = FakeTTY()
    bar, clock, _ = make(210, stream=out, verbose=1)
    for step in range(1, 211):
        clock.advance(3.0 / 210)
        bar.update(step, [("loss", 0.2), ("accuracy", 0.9)])
    raw = out.getvalue()
    assert "\r" in raw
    assert raw.endswith("\n")
    assert render_tty(raw) == [
        "210/210 [==============================] - 3s 14ms/step - loss: 0.2000 - accuracy: 0.9000"
    ]


def test_tty_intermediate_bar_and_eta():
    out = FakeTTY()
    bar, clock, _ = make(210, stream=out, verbose=1)
    clock.advance(0.5)
    bar.update(1, [("loss", 0.3124)])  # first step: 0.5 s incl. start-up
    clock.advance(36 * 0.02)
    bar.update(37, [("loss", 0.3124), ("accuracy", 0.9012)])  # 20 ms/step since step 1
    screen = render_tty(out.getvalue())
    assert screen == [
        " 37/210 [====>.........................] - ETA: 3s - loss: 0.3124 - accuracy: 0.9012"
    ]


def test_tty_long_eta_formats_in_bar():
    out = FakeTTY()
    bar, clock, _ = make(10000, stream=out, verbose=1)
    bar.update(1)
    clock.advance(1.0)
    bar.update(2)  # 1 s/step, 9998 steps left
    assert render_tty(out.getvalue())[-1].endswith("ETA: 2:46:38")


def test_tty_redraw_clears_leftover_characters():
    out = FakeTTY()
    bar, clock, _ = make(10, stream=out, verbose=1, stateful_metrics=["m"])
    bar.update(1, [("m", "a-very-long-value")])
    clock.advance(1)
    bar.update(2, [("m", "x")])
    raw = out.getvalue()
    assert "\b" in raw
    screen = render_tty(raw)
    assert len(screen) == 1
    assert screen[0].endswith("- m: x")


def test_tty_throttled_by_interval():
    out = FakeTTY()
    bar, clock, _ = make(1000, stream=out, verbose=1, interval=0.05)
    assert bar.wants_update(1)  # first draw is immediate
    bar.update(1)
    n = out.getvalue().count("\r")
    clock.advance(0.01)
    assert not bar.wants_update(2)
    bar.update(2)
    assert out.getvalue().count("\r") == n  # nothing drawn
    clock.advance(0.04)
    assert bar.wants_update(3)
    bar.update(3)
    assert out.getvalue().count("\r") == n + 1
    assert bar.wants_update(1000)  # the end is always drawn


def test_tty_redraw_count_bounded_by_interval():
    out = FakeTTY()
    bar, clock, _ = make(1000, stream=out, verbose=1, interval=0.05)
    for step in range(1, 1001):
        clock.advance(0.001)  # 1 s in total -> about 20 redraws
        bar.update(step, [("loss", 1.0)])
    assert out.getvalue().count("\r") <= 22
    assert out.getvalue().count("\n") == 1


def test_unknown_target_tty():
    out = FakeTTY()
    bar, clock, _ = make(None, stream=out, verbose=1)
    bar.update(1)
    clock.advance(36 * 0.014)
    bar.update(37, [("loss", 0.5)])
    assert render_tty(out.getvalue())[-1] == "     37/Unknown - 1s 14ms/step - loss: 0.5000"
    bar.update(37, finalize=True)
    assert out.getvalue().endswith("\n")


def test_current_beyond_target():
    out = FakeTTY()
    bar, clock, _ = make(5, stream=out, verbose=1)
    bar.update(1)
    clock.advance(4)
    bar.update(9, [("loss", 1.0)])
    screen = render_tty(out.getvalue())
    assert screen[-1].startswith("9/5 [==============================] - 4s 500ms/step")
    assert out.getvalue().endswith("\n")


def test_zero_target_does_not_crash():
    bar, clock, out = make(0, verbose=1)
    bar.update(0)
    assert out.getvalue() == "0/0 [==============================] - 0s 0s/step\n"


def test_explicit_finalize_before_target():
    bar, clock, out = make(10, verbose=1)
    clock.advance(2)
    bar.update(4, [("loss", 1.0)], finalize=True)
    assert out.getvalue() == " 4/10 [===========>..................] - 2s 500ms/step - loss: 1.0000\n"


def test_explicit_finalize_false_at_target():
    bar, clock, out = make(10, verbose=2)
    bar.update(10, finalize=False)
    assert out.getvalue() == ""


def test_add():
    bar, clock, out = make(4, verbose=2)
    bar.add(1, [("loss", 1.0)])
    bar.add(1, [("loss", 3.0)])
    assert out.getvalue() == ""
    bar.add(2, [("loss", 2.0)])
    assert out.getvalue().startswith("4/4 - 0s - loss: 2.0000")


# -------------------------------------------------------- verbose=1 non-tty
def test_non_tty_lines_bounded_and_plain():
    bar, clock, out = make(1000, verbose=1)
    for step in range(1, 1001):
        clock.advance(1.0)  # 1000 s: the 10%-progress rule dominates
        bar.update(step, [("loss", 1.0)])
    text = out.getvalue()
    assert "\r" not in text and "\b" not in text
    lines = text.splitlines()
    assert 2 <= len(lines) <= 12
    assert text.endswith("\n")
    assert lines[-1] == "1000/1000 [==============================] - 1000s 1s/step - loss: 1.0000"
    assert lines[0].startswith(" 100/1000 [==>...........................] - ETA: 15:00")


def test_non_tty_time_rule_dominates_for_fast_runs():
    bar, clock, out = make(1000, verbose=1)
    for step in range(1, 1001):
        clock.advance(0.01)  # 10 s in total < NON_TTY_MIN_INTERVAL
        bar.update(step, [("loss", 1.0)])
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("1000/1000 [====")


def test_non_tty_wants_update():
    bar, clock, out = make(100, verbose=1)
    clock.advance(pb.NON_TTY_MIN_INTERVAL + 1)
    assert not bar.wants_update(5)  # time passed, progress too small
    assert bar.wants_update(10)
    bar.update(10)
    assert out.getvalue().count("\n") == 1
    assert not bar.wants_update(30)  # progress enough, time too short
    clock.advance(pb.NON_TTY_MIN_INTERVAL)
    assert bar.wants_update(30)
    assert bar.wants_update(100)


def test_non_tty_unknown_target_uses_time_only():
    bar, clock, out = make(None, verbose=1)
    for step in range(1, 121):
        clock.advance(1.0)
        bar.update(step)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4  # at 30, 60, 90, 120 s
    assert lines[0] == "     30/Unknown - 30s 1s/step"


def test_stream_defaults_to_stdout_at_construction(monkeypatch):
    fake = io.StringIO()
    monkeypatch.setattr(sys, "stdout", fake)
    bar = Progbar(2, verbose=2, clock=FakeClock())
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    bar.update(2)
    assert fake.getvalue() == "2/2 - 0s - 0s/step\n"


def test_default_clock_is_monotonic():
    import time

    assert Progbar(1, verbose=0)._clock is time.monotonic


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
