"""A Keras-style text progress bar (``lamina.utils.progbar.Progbar``).

Standard library only: this module is imported by the model/training ring,
which must not import numpy.

Output modes (chosen by ``verbose`` and by whether the stream is a terminal):

* ``verbose=1`` on an interactive terminal (``stream.isatty()``, or a Jupyter
  kernel writing to ``sys.stdout``/``sys.stderr``): one bar redrawn in place
  with ``'\\b'``/``'\\r'`` at most once per ``interval`` seconds, then a final
  line ending with a newline::

      37/210 [=====>........................] - ETA: 4s - loss: 0.3124
     210/210 [==============================] - 3s 14ms/step - loss: 0.2000

* ``verbose=1`` on a file or pipe (CI logs, ``nohup``): plain lines only, no
  ``'\\r'`` or ``'\\b'``. A new intermediate line is written only when *both*
  ``NON_TTY_MIN_INTERVAL`` seconds have passed *and* ``NON_TTY_MIN_PROGRESS``
  of the target has been completed since the previous line (whichever of the
  two is rarer wins; with an unknown target only the time rule applies). So a
  run with a known target writes at most 9 intermediate lines plus the final
  line, however many updates it gets.
* ``verbose=2``: only the final line (``210/210 - 3s - loss: ... - 14ms/step``).
* ``verbose=0``: nothing.
"""
from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO
import time

__all__ = ["Progbar", "NON_TTY_MIN_INTERVAL", "NON_TTY_MIN_PROGRESS"]

#: Non-terminal streams: minimum seconds between two intermediate lines.
NON_TTY_MIN_INTERVAL: float = 30.0
#: Non-terminal streams: minimum fraction of ``target`` completed between two
#: intermediate lines (ignored when the target is unknown).
NON_TTY_MIN_PROGRESS: float = 0.1


def _format_eta(seconds: float) -> str:
    """``1:02:03`` above an hour, ``2:03`` above a minute, else ``4s``."""
    eta = int(max(seconds, 0.0))
    if eta > 3600:
        return "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
    if eta > 60:
        return "%d:%02d" % (eta // 60, eta % 60)
    return "%ds" % eta


def _format_per_unit(seconds: float, unit_name: str) -> str:
    """Time per unit in whole s, ms or us, e.g. ``14ms/step``."""
    if seconds >= 1 or seconds <= 0:
        return "%.0fs/%s" % (max(seconds, 0.0), unit_name)
    if seconds >= 1e-3:
        return "%.0fms/%s" % (seconds * 1e3, unit_name)
    return "%.0fus/%s" % (seconds * 1e6, unit_name)


def _format_value(value: Any) -> str:
    """``%.4f`` when ``abs(value) > 1e-3``, else ``%.4e``; non-numbers via ``str``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if abs(v) > 1e-3:
        return "%.4f" % v
    return "%.4e" % v


def _is_dynamic(stream: Any) -> bool:
    """Whether in-place redrawing (``'\\r'``) is safe on ``stream``."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError, OSError):
        pass
    # Jupyter renders '\r' properly although its streams are not ttys.
    return "ipykernel" in sys.modules and stream in (sys.stdout, sys.stderr)


class Progbar:
    """Displays a progress bar with running metric values.

    Args:
        target: Total number of steps expected, or ``None`` if unknown.
        width: Width of the bar in characters (between the brackets).
        verbose: 0 (silent), 1 (progress bar / periodic lines) or 2 (one line
            at the end).
        interval: Minimum seconds between two redraws on a terminal.
        stateful_metrics: Names of metrics shown as their last reported value
            instead of being averaged over steps.
        unit_name: Name of a step, used in ``14ms/step``.
        stream: Where to write; defaults to ``sys.stdout`` as it is when the
            bar is constructed.
        clock: Zero-argument function returning seconds (default
            ``time.monotonic``); inject a fake one for deterministic tests.
            Stored as ``self._clock``.

    Non-stateful values are averaged Keras-style: each value reported at
    ``current`` is weighted by ``current - previous_current`` (at least 1), so
    skipped update calls give the last reported value the weight of the
    skipped steps.

    Example:
        >>> bar = Progbar(3, verbose=2)
        >>> for step in range(1, 4):
        ...     bar.update(step, [("loss", 1.0 / step)])  # doctest: +SKIP
        3/3 - 0s - loss: 0.6111 - 0us/step
    """

    def __init__(
        self,
        target: int | None,
        width: int = 30,
        verbose: int = 1,
        interval: float = 0.05,
        stateful_metrics: Iterable[str] | None = None,
        unit_name: str = "step",
        stream: TextIO | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.target = target
        self.width = int(width)
        self.verbose = int(verbose)
        self.interval = float(interval)
        self.stateful_metrics = set(stateful_metrics) if stateful_metrics else set()
        self.unit_name = unit_name
        self.stream = sys.stdout if stream is None else stream
        self._clock: Callable[[], float] = clock if clock is not None else time.monotonic
        self._dynamic_display = _is_dynamic(self.stream)

        self._values: dict[str, list[float] | Any] = {}
        self._values_order: list[str] = []
        self._seen_so_far = 0
        self._start = self._clock()
        self._last_draw = -math.inf
        # Width of what is currently on the terminal line (dynamic mode).
        self._total_width = 0
        # Non-tty throttling state: time and step of the last line written.
        self._last_line_time = self._start
        self._last_line_current = 0
        # Time and step of the first update call; per-step time is measured
        # from there so one-off start-up costs (compilation) do not skew it.
        self._first_update: tuple[float, int] | None = None

    # ------------------------------------------------------------------ API
    def wants_update(self, current: int, finalize: bool | None = None) -> bool:
        """True when ``update(current)`` called now would draw something.

        Lets a training loop skip fetching (and synchronising on) metric
        values that would not be displayed anyway.
        """
        return self._should_draw(current, self._resolve_finalize(current, finalize), self._clock())

    def update(
        self,
        current: int,
        values: Sequence[tuple[str, Any]] | None = None,
        finalize: bool | None = None,
    ) -> None:
        """Records progress ``current`` and metric ``values``; redraws if due.

        Args:
            current: Index of the current step (number of steps done).
            values: ``(name, value)`` pairs. Names in ``stateful_metrics`` are
                shown as given; others are averaged over steps.
            finalize: Whether this is the last update. Defaults to
                ``current >= target`` (never true when ``target`` is None).
        """
        finalize = self._resolve_finalize(current, finalize)
        delta = max(current - self._seen_so_far, 1)
        for name, value in values or ():
            if name not in self._values:
                self._values_order.append(name)
            if name in self.stateful_metrics:
                self._values[name] = value
            else:
                acc = self._values.get(name)
                if acc is None:
                    self._values[name] = [value * delta, delta]
                else:
                    acc[0] += value * delta
                    acc[1] += delta
        self._seen_so_far = current

        now = self._clock()
        if self._first_update is None and current > 0:
            self._first_update = (now, current)
        if not self._should_draw(current, finalize, now):
            return

        if self.verbose == 1:
            self._draw_verbose1(current, finalize, now)
        else:  # verbose == 2, finalize
            self._write(self._final_line_v2(current, now) + "\n")
        self._last_draw = now

    def add(self, n: int, values: Sequence[tuple[str, Any]] | None = None) -> None:
        """Advances by ``n`` steps: ``update(seen_so_far + n, values)``."""
        self.update(self._seen_so_far + n, values)

    # ------------------------------------------------------------ internals
    def _resolve_finalize(self, current: int, finalize: bool | None) -> bool:
        if finalize is not None:
            return bool(finalize)
        return self.target is not None and current >= self.target

    def _should_draw(self, current: int, finalize: bool, now: float) -> bool:
        if self.verbose == 1:
            if finalize:
                return True
            if self._dynamic_display:
                return now - self._last_draw >= self.interval
            if now - self._last_line_time < NON_TTY_MIN_INTERVAL:
                return False
            if self.target is None:
                return True
            return current - self._last_line_current >= NON_TTY_MIN_PROGRESS * self.target
        if self.verbose == 2:
            return finalize
        return False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        flush = getattr(self.stream, "flush", None)
        if flush is not None:
            flush()

    def _count(self, current: int) -> str:
        if self.target is None:
            return "%7d/Unknown" % current
        digits = len(str(self.target))
        return "%*d/%d" % (digits, current, self.target)

    def _bar(self, current: int) -> str:
        text = self._count(current)
        if self.target is None:
            return text
        frac = 1.0 if self.target <= 0 else min(max(current / self.target, 0.0), 1.0)
        filled = int(self.width * frac)
        bar = ""
        if filled > 0:
            bar = "=" * (filled - 1) + (">" if current < self.target else "=")
        bar += "." * (self.width - filled)
        return text + " [" + bar + "]"

    def _time_per_step(self, current: int, now: float) -> float:
        if current <= 0:
            return 0.0
        if self._first_update is not None:
            t0, c0 = self._first_update
            if current > c0:
                return (now - t0) / (current - c0)
        return (now - self._start) / current

    def _metrics_text(self) -> str:
        parts = []
        for name in self._values_order:
            value = self._values[name]
            if name not in self.stateful_metrics:
                total, count = value
                value = total / max(count, 1)
            parts.append(" - %s: %s" % (name, _format_value(value)))
        return "".join(parts)

    def _draw_verbose1(self, current: int, finalize: bool, now: float) -> None:
        line = self._bar(current)
        per_step = self._time_per_step(current, now)
        if finalize or self.target is None:
            info = " - %.0fs %s" % (now - self._start, _format_per_unit(per_step, self.unit_name))
        else:
            info = " - ETA: " + _format_eta(per_step * max(self.target - current, 0))
        line += info + self._metrics_text()

        if self._dynamic_display:
            prev = self._total_width
            msg = "\b" * prev + "\r" + line
            if len(line) < prev:
                msg += " " * (prev - len(line))
            if finalize:
                msg += "\n"
                self._total_width = 0
            else:
                self._total_width = max(len(line), prev)
            self._write(msg)
        else:
            self._write(line + "\n")
            self._last_line_time = now
            self._last_line_current = current

    def _final_line_v2(self, current: int, now: float) -> str:
        count = ("%d/Unknown" % current) if self.target is None else self._count(current)
        per_step = self._time_per_step(current, now)
        return "%s - %.0fs%s - %s" % (
            count,
            now - self._start,
            self._metrics_text(),
            _format_per_unit(per_step, self.unit_name),
        )
