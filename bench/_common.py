"""What every benchmark shares: result values, the table, peak memory, the machine."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Row", "BenchResult", "peak_rss_mb", "machine", "table", "emit", "ratio_text", "load_average",
           "TreeSampler"]


@dataclass(frozen=True)
class Row:
    """One line of a benchmark table: what was measured, against what, and the verdict."""

    metric: str
    value: str
    floor: str = ""
    ratio: str = ""
    target: str = ""
    met: str = ""          # "yes" | "no" | "" (informational row)


@dataclass(frozen=True)
class BenchResult:
    name: str
    title: str
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()
    peak_rss_mb: float = 0.0            # this process
    peak_rss_children_mb: float = 0.0   # largest child process (lab fleet, papermill kernel)
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchResult:
        rows = tuple(Row(**r) for r in data["rows"])
        return cls(**{**data, "rows": rows, "notes": tuple(data.get("notes", ()))})


def peak_rss_mb() -> tuple[float, float]:
    """(peak RSS of this process, peak RSS of the largest waited-for child) in MiB (Linux: ru_maxrss is KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return round(own, 1), round(children, 1)


def machine() -> dict[str, str]:
    """nproc, memory (free -g), CPU model and Python version of the machine the figures come from."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    try:
        free = subprocess.run(["free", "-g"], capture_output=True, text=True, check=False).stdout.splitlines()
        mem = next((" ".join(line.split()[1:3]) for line in free if line.startswith("Mem:")), "")
        total, used = (mem.split() + ["?", "?"])[:2]
        memory = f"{total} GiB total ({used} GiB used at the time)"
    except OSError:
        memory = "unknown"
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "nproc": str(os.cpu_count()),
            "memory": memory, "cpu": cpu, "python": platform.python_version(), "platform": platform.platform()}


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages now (on 2 CPUs, above 2 means the figures competed for CPU)."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


class TreeSampler:
    """Samples the RSS of a process and all its descendants every ``every`` seconds, in a thread.

    ``peak_tree_mb``: the largest sum over the tree at one sample; ``peaks_mb(marker)``: the peak RSS of
    each process whose command line contains ``marker`` (e.g. ``ipykernel_launcher``), by pid.
    """

    def __init__(self, pid: int, *, every: float = 0.2) -> None:
        import threading

        self.pid = pid
        self.every = every
        self.peak_tree_mb = 0.0
        self._peaks: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"rss-{pid}", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0.0
        for proc in procs:
            try:
                rss = proc.memory_info().rss / (1024 * 1024)
                if proc.pid not in self._peaks:
                    self._peaks[proc.pid] = (" ".join(proc.cmdline()), 0.0)
            except psutil.Error:
                continue
            total += rss
            cmd, peak = self._peaks[proc.pid]
            self._peaks[proc.pid] = (cmd, max(peak, rss))
        self.peak_tree_mb = max(self.peak_tree_mb, total)

    def peaks_mb(self, marker: str) -> list[float]:
        return [peak for cmd, peak in self._peaks.values() if marker in cmd]


def ratio_text(value: float) -> str:
    return f"{value:.3f}"


def table(rows: tuple[Row, ...] | list[Row]) -> str:
    """A Markdown table of ``rows`` (readable as plain text too)."""
    head = ("metric", "value", "floor / baseline", "ratio", "target", "met")
    body = [(r.metric, r.value, r.floor, r.ratio, r.target, r.met) for r in rows]
    widths = [max(len(head[i]), *(len(b[i]) for b in body)) if body else len(head[i]) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)) + " |"
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, body)])


def emit(result: BenchResult, *, json_out: Path | None = None) -> BenchResult:
    """Print the table, notes and peak RSS; write the JSON form when asked."""
    print(f"\n## {result.title}\n")
    print(table(result.rows))
    for note in result.notes:
        print(f"\n- {note}")
    print(f"\npeak RSS: {result.peak_rss_mb:.1f} MiB (this process), "
          f"{result.peak_rss_children_mb:.1f} MiB (largest child process)")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.to_json(), indent=1))
    sys.stdout.flush()
    return result
