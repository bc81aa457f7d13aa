"""The progress bar of an epoch: rich if installed, else tqdm, else plain text.

A bar is shown only when standard output is a terminal, so logs, pipes and
``--json`` output stay clean. Updates are throttled (at most ten a second):
the bar costs nothing measurable per step.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

REFRESH_SECONDS = 0.1


def backend() -> str:
    """``"rich"``, ``"tqdm"`` or ``"plain"``: the best progress library installed."""
    for name in ("rich", "tqdm"):
        try:
            __import__(name)
            return name
        except ImportError:
            continue
    return "plain"


class EpochBar:
    """``bar.update(steps_done, loss)`` during an epoch, ``bar.close()`` at its end."""

    def __init__(self, total: int, description: str, enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.total, self.description = total, description
        self.stream = stream or sys.stdout
        self.enabled = enabled and _is_terminal(self.stream)
        self._last = 0.0
        self._impl: Any = None
        self._kind = backend() if self.enabled else "off"
        if self._kind == "rich":
            self._start_rich()
        elif self._kind == "tqdm":
            from tqdm import tqdm
            self._impl = tqdm(total=total, desc=description, leave=False, file=self.stream,
                              dynamic_ncols=True, unit="batch")

    def _start_rich(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )
        self._impl = Progress(TextColumn("{task.description}"), BarColumn(),
                              MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                              TimeRemainingColumn(), transient=True,
                              console=Console(file=self.stream))
        self._impl.start()
        self._task = self._impl.add_task(self.description, total=self.total, loss="-")

    def update(self, done: int, loss: float) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < REFRESH_SECONDS and done < self.total:
            return
        self._last = now
        if self._kind == "rich":
            self._impl.update(self._task, completed=done, loss=f"{loss:.4f}")
        elif self._kind == "tqdm":
            self._impl.update(done - self._impl.n)
            self._impl.set_postfix(loss=f"{loss:.4f}", refresh=False)
        else:
            width = 30
            filled = int(width * done / max(self.total, 1))
            self.stream.write(f"\r{self.description} [{'=' * filled:<{width}}] "
                              f"{done}/{self.total} loss {loss:.4f}")
            self.stream.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self._kind in ("rich", "tqdm"):
            self._impl.stop() if self._kind == "rich" else self._impl.close()
        else:
            self.stream.write("\r" + " " * (len(self.description) + 60) + "\r")
            self.stream.flush()
        self.enabled = False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def format_logs(epoch: int, epochs: int, logs: dict, seconds: float) -> str:
    """``Epoch 3/40 - 0.21s - loss: 0.1234 - accuracy: 0.9650 - val_loss: ...``."""
    parts = [f"Epoch {epoch + 1}/{epochs}", f"{seconds:.2f}s"]
    for key, value in logs.items():
        parts.append(f"{key}: {value:.4g}" if key == "lr" else f"{key}: {value:.4f}")
    return " - ".join(parts)
