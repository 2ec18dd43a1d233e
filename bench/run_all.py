"""Run every benchmark, each in its own process (so peak RSS is its own), and rewrite bench/RESULTS.md.

    python -m bench.run_all [--small] [--only window fleet_inventory ...] [--out bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import BenchResult, machine, table

__all__ = ["main", "BENCHMARKS", "render"]

BENCHMARKS = ("window", "fleet_inventory", "registration_watch", "notebook_overhead")
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"


def run_one(name: str, *, small: bool, folder: Path) -> tuple[BenchResult, float]:
    out = folder / f"{name}.json"
    args = [sys.executable, "-m", f"bench.{name}", "--json", str(out)] + (["--small"] if small else [])
    began = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, check=False)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"bench.{name} failed (exit {done.returncode})")
    return BenchResult.from_json(json.loads(out.read_text())), time.perf_counter() - began


def _targets(results: list[BenchResult]) -> str:
    lines = ["| benchmark | measured | result | target | met |", "|---|---|---|---|---|"]
    for result in results:
        for row in result.rows:
            if row.target:
                shown = row.ratio or row.value
                lines.append(f"| {result.name} | {row.metric} | {shown} | {row.target} | {row.met} |")
    return "\n".join(lines)


def render(results: list[BenchResult], durations: dict[str, float], *, small: bool) -> str:
    info = machine()
    parts = [
        "# Benchmark results",
        "",
        "Written by `python -m bench.run_all`" + (" --small (smoke sizes: not figures to quote)" if small else "")
        + ". Each benchmark runs on its own with `python -m bench.<name>`; the methods, floors and formulas are "
        "in each script's docstring.",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['nproc']} CPUs (`nproc`), {info['memory']} (`free -g`), CPU {info['cpu']}",
        f"- python {info['python']} on {info['platform']}",
        "",
        "## Targets",
        "",
        _targets(results),
    ]
    for result in results:
        parts += ["", f"## {result.title}", "", f"`python -m bench.{result.name}` "
                  f"(took {durations.get(result.name, 0):.0f} s including set-up)", "", table(result.rows), ""]
        parts += [f"- {note}" for note in result.notes]
        parts += [f"- peak RSS: {result.peak_rss_mb:.1f} MiB (benchmark process), "
                  f"{result.peak_rss_children_mb:.1f} MiB (largest child: lab fleet / papermill kernel)"]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="smoke sizes (seconds each)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the results (Markdown)")
    args = parser.parse_args(argv)
    results, durations = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-all-") as tmp:
        for name in args.only:
            result, seconds = run_one(name, small=args.small, folder=Path(tmp))
            results.append(result)
            durations[name] = seconds
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, durations, small=args.small))
    print(f"\nwrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
