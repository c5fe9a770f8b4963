"""A progress line on standard error for long runs, with no dependency beyond the standard library.

:class:`StepProgress` counts steps of a known or unknown total. It writes nothing until the run
has lasted ``delay`` seconds (so short runs stay silent), then at most one update every
``interval`` seconds: on a terminal one line rewritten in place, elsewhere (a log file) a new line
each time. It reads only host integers and the clock, so it never waits for a device.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Seconds a run lasts before an automatic progress line appears.
AUTO_DELAY = 2.0


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


class StepProgress:
    """Progress of ``total`` steps (None when the number is not known in advance).

    Args:
        label: what is running (``"unmask.sample"``).
        total: the number of steps, or None.
        stream: where to write (standard error by default).
        delay: seconds before the first line.
        interval: the least seconds between two lines (five times longer off a terminal).
    """

    def __init__(
        self,
        label: str,
        total: int | None,
        stream: TextIO | None = None,
        delay: float = AUTO_DELAY,
        interval: float = 0.2,
    ):
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.delay = delay
        self.interval = interval if self.terminal else 5 * interval
        self.started = time.monotonic()
        self.last: float | None = None
        self.shown = False

    def line(self, step: int, now: float) -> str:
        """The text for ``step`` steps done at clock time ``now``."""
        elapsed = now - self.started
        if not self.total:
            return f"{self.label}: step {step:,}, {_clock(elapsed)}"
        text = f"{self.label}: step {step:,}/{self.total:,} ({step / self.total:.0%}), {_clock(elapsed)}"
        if step and step < self.total:
            text += f", about {_clock(elapsed / step * (self.total - step))} left"
        return text

    def update(self, step: int) -> None:
        """Record that ``step`` steps are done; write a line if it is time to."""
        now = time.monotonic()
        if now - self.started < self.delay or (self.last is not None and now - self.last < self.interval):
            return
        self.last = now
        self.shown = True
        end = "\r" if self.terminal else "\n"
        self.stream.write(self.line(step, now) + end)
        self.stream.flush()

    def close(self, step: int) -> None:
        """End the line (a final count, if anything was shown)."""
        if self.shown:
            self.stream.write(self.line(step, time.monotonic()) + "\n")
            self.stream.flush()
