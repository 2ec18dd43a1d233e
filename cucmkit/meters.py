"""Progress that measures progress, for the notebooks: restarts done of planned, phones back of expected.

A ``Meter`` counts units of work (not seconds against a deadline); the notebook's step observers feed
it (a restart ends, a registration poll answers). ``MeterDisplay`` shows it as ONE display output that
is updated in place (an IPython display handle), so a saved notebook keeps a single line per phase,
not one per refresh; without IPython it prints a line only when the text changes.
A finished phase shows green and complete; a failed one red, at the count it reached.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

__all__ = ["Meter", "MeterDisplay", "meter_text", "meter_html", "COLOURS"]

COLOURS = {"running": "#1f6feb", "done": "#2da44e", "skipped": "#2da44e", "failed": "#cf222e",
           "blocked": "#cf222e", "waiting": "#bf8700", "stopped": "#8250df"}


@dataclass
class Meter:
    """``done`` of ``total`` ``unit`` (restarts, phones); ``now``: what is in flight (the node restarting now)."""

    label: str
    unit: str
    total: int
    done: int = 0
    now: str = ""
    status: str = "running"
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def set(self, **changes: Any) -> None:
        with self.lock:
            for key, value in changes.items():
                setattr(self, key, value)

    def finish(self, status: str) -> None:
        """The phase ended: complete when done (green), else where it stopped."""
        with self.lock:
            self.status = status
            self.now = ""
            if status in ("done", "skipped"):
                self.done = max(self.done, self.total)


def meter_text(meter: Meter) -> str:
    with meter.lock:
        total, done, now, status = meter.total, meter.done, meter.now, meter.status
    tail = f"; now: {now}" if now and status == "running" else ""
    state = "" if status == "running" else f" [{status.upper()}]"
    return f"{meter.label}: {done} of {total} {meter.unit}{tail}{state}"


def meter_html(meter: Meter) -> str:
    with meter.lock:
        total, done, status = max(meter.total, 0), meter.done, meter.status
    share = 100.0 if total == 0 and status in ("done", "skipped") else (100.0 * min(done, total) / total if total
                                                                          else 0.0)
    colour = COLOURS.get(status, COLOURS["running"])
    return (f'<div class="cucmkit-meter" data-status="{escape(status)}" style="font-family:monospace">'
            f'<div style="width:420px;background:#eaeef2;border-radius:3px">'
            f'<div style="width:{share:.0f}%;height:10px;background:{colour};border-radius:3px"></div></div>'
            f"{escape(meter_text(meter))}</div>")


class MeterDisplay:
    """One display output per meter, updated in place while ``work`` runs (a ticker thread polls ``feed``)."""

    def __init__(self, meter: Meter, *, every: float, feed: Callable[[Meter], None] | None = None) -> None:
        self.meter = meter
        self.every = every
        self.feed = feed
        self._shown = ""
        self._handle = self._open()

    def _open(self) -> Any:
        try:
            from IPython.display import HTML, display
        except ImportError:
            return None
        self._shown = meter_html(self.meter)
        return display(HTML(self._shown), display_id=True)  # type: ignore[no-untyped-call]

    def refresh(self) -> None:
        if self.feed is not None:
            self.feed(self.meter)
        if self._handle is None:
            text = meter_text(self.meter)
            if text != self._shown:
                print(text, flush=True)
                self._shown = text
            return
        html = meter_html(self.meter)
        if html != self._shown:
            from IPython.display import HTML

            self._handle.update(HTML(html))  # type: ignore[no-untyped-call]
            self._shown = html

    def run(self, work: Callable[[], Any]) -> Any:
        """``work()`` here (an interrupt stops it) while a thread refreshes; the final state is shown at the end."""
        done = threading.Event()

        def tick() -> None:
            while not done.wait(self.every):
                self.refresh()

        ticker = threading.Thread(target=tick, name=f"cucmkit-{self.meter.label}-meter", daemon=True)
        ticker.start()
        status = "failed"
        try:
            result = work()
            status = str(getattr(result, "status", "done"))
            return result
        finally:
            done.set()
            ticker.join(timeout=2.0)
            self.meter.finish(status)
            self.refresh()
