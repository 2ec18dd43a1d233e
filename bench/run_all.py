"""Run every benchmark, each in its own process (so peak RSS is its own), and rewrite bench/RESULTS.md
and the README's benchmark table (between its ``bench:targets`` markers), both from bench/results.json.

    python -m bench.run_all [--small] [--only window fleet_inventory ...] [--out bench/RESULTS.md]
    python -m bench.run_all --render-only        # rewrite both from results.json, run nothing

``fleet_run`` (fleet renewal) is run when ``bench/fleet_run.py`` exists. The
store is read again just before it is written, so two ``--only`` runs at the
same time keep each other's results.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import BenchResult, Row, machine, table

__all__ = ["main", "BENCHMARKS", "ALL_BENCHMARKS", "render", "shortfall", "targets_table", "update_readme"]

ALL_BENCHMARKS = ("window", "fleet_inventory", "fleet_run", "registration_watch", "notebook_overhead")
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
README = ROOT / "README.md"
STORE = "results.json"   # next to the Markdown: every benchmark's last result, so --only keeps the others
README_START, README_END = "<!-- bench:targets:start (python -m bench.run_all) -->", "<!-- bench:targets:end -->"
NOT_A_TARGET = "not a target"      # a row whose metric says so is listed in the targets table without a verdict


def _available(name: str) -> bool:
    """True when ``bench.<name>`` exists in this checkout (fleet_run is written in another branch)."""
    return importlib.util.find_spec(f"bench.{name}") is not None


BENCHMARKS = tuple(name for name in ALL_BENCHMARKS if _available(name))


def run_one(name: str, *, small: bool, folder: Path) -> tuple[BenchResult, float, str]:
    """Run ``bench.<name>`` in its own process: (result, seconds, load averages before -> after)."""
    out = folder / f"{name}.json"
    args = [sys.executable, "-m", f"bench.{name}", "--json", str(out)] + (["--small"] if small else [])
    before = _load_average()
    began = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, check=False)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"bench.{name} failed (exit {done.returncode})")
    seconds = time.perf_counter() - began
    return BenchResult.from_json(json.loads(out.read_text())), seconds, f"{before} -> {_load_average()}"


def _load_average() -> str:
    """1-minute load average now (other work on the machine skews timings)."""
    return f"{os.getloadavg()[0]:.1f}"


def shortfall(row: Row) -> str:
    """By how much a missed target was missed ('' when met or not a target row)."""
    if row.met != "no":
        return ""
    if row.target.isdigit():
        return f"{row.value} instead of {row.target}"
    try:
        if row.target.startswith(">=") and "x" in row.target:
            return _speedup_shortfall(row)
        if row.target.startswith("< "):
            limit, unit = row.target[2:].split()
            got = float(row.value.split()[0])
            return f"{got - float(limit):+.1f} {unit} ({(got / float(limit) - 1) * 100:.0f}% over)"
        limit_s = float(row.target.removeprefix("<=").strip().removesuffix(" s"))
        if row.ratio:
            got = float(row.ratio)
            return f"{got - limit_s:+.3f} ({(got / limit_s - 1) * 100:.0f}% over)"
        got = float(row.value.split()[0])
        return f"{got - limit_s:+.2f} s"
    except (ValueError, IndexError):
        return "see notes"


def _speedup_shortfall(row: Row) -> str:
    need_x = float(row.target.split()[1].rstrip("x"))
    need_s = float(row.target.split("<")[1].split()[0])
    got_x = float(row.ratio.split("x")[0])
    got_s = float(row.value.split()[0])
    parts = [f"speed-up {got_x:.1f}x of {need_x:g}x ({need_x - got_x:.1f}x short)"] if got_x < need_x else []
    parts += [f"{got_s - need_s:.2f} s over {need_s:g} s"] if got_s >= need_s else []
    return "; ".join(parts)


def targets_table(results: list[BenchResult], loads: dict[str, str] | None = None) -> str:
    """Every target row (and every row reported as not a target), with the load it ran under."""
    lines = ["| benchmark | measured | result | target | met | missed by | load (1 min) |",
             "|---|---|---|---|---|---|---|"]
    for result in results:
        load = (loads or {}).get(result.name, "")
        for row in result.rows:
            if row.target:
                shown = row.value if row.target.startswith("< ") else row.ratio or row.value   # "< 30 s": seconds
                lines.append(f"| {result.name} | {row.metric} | {shown} | {row.target} | {row.met} "
                             f"| {shortfall(row)} | {load} |")
            elif NOT_A_TARGET in row.metric:
                lines.append(f"| {result.name} | {row.metric} | {row.value} | none | - |  | {load} |")
    return "\n".join(lines)


def _targets(results: list[BenchResult], loads: dict[str, str] | None = None) -> str:
    return (targets_table(results, loads) + "\n\nWhere a target is missed, the notes under that benchmark say "
            "why. The load column is the 1-minute load average before -> after the benchmark ran.")


def render(results: list[BenchResult], durations: dict[str, float], *, small: bool,
           loads: dict[str, str] | None = None) -> str:
    info = machine()
    parts = [
        "# Benchmark results",
        "",
        "Written by `python -m bench.run_all`" + (" --small (smoke sizes: not figures to quote)" if small else "")
        + ". Each benchmark runs on its own with `python -m bench.<name>`; the methods, floors and formulas are "
        "in each script's docstring.",
        "",
        f"- date: {info['date']} (when this file was written; the benchmarks ran in the hour before)",
        f"- machine: {info['nproc']} CPUs (`nproc`), {info['memory']} (`free -g`), CPU {info['cpu']}",
        f"- python {info['python']} on {info['platform']}",
        "- the machine is shared: other test suites may run at the same time. Each benchmark's 1-minute load "
        "average before and after it ran is shown with it; on 2 CPUs a load above 2 means the benchmark "
        "competed for CPU and its timings (the kit's overhead above all) are inflated. Repeated full runs on "
        "2026-11-26 spread by about +-0.05 in the window and registration-watch ratios and by up to 30-40% in "
        "the fleet and notebook seconds (e.g. fleet concurrent at 0 ms: 4.6, 5.4, 7.2 s; notebook overhead: "
        "2.0, 2.4 s with the machine quiet, 6.7 s under load); read single figures with that in mind.",
        "",
        "## Targets",
        "",
        _targets(results, loads),
    ]
    for result in results:
        load = (loads or {}).get(result.name, "not recorded")
        parts += ["", f"## {result.title}", "", f"`python -m bench.{result.name}` "
                  f"(took {durations.get(result.name, 0):.0f} s including set-up; 1-min load average "
                  f"{load})", "", table(result.rows), ""]
        parts += [f"- {note}" for note in result.notes]
        parts += [f"- peak RSS: {result.peak_rss_mb:.1f} MiB (benchmark process), "
                  f"{result.peak_rss_children_mb:.1f} MiB (largest child: lab fleet / papermill kernel)"]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="smoke sizes (seconds each)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the results (Markdown)")
    parser.add_argument("--render-only", action="store_true", help=f"rewrite the Markdown from {STORE}, run nothing")
    args = parser.parse_args(argv)
    store = args.out.parent / STORE
    fresh: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-all-") as tmp:
        for name in [] if args.render_only else args.only:
            result, seconds, load = run_one(name, small=args.small, folder=Path(tmp))
            fresh[name] = {"result": result.to_json(), "seconds": seconds, "load": load}
    kept = {**(_load(store) if not args.small else {}), **fresh}     # read again now: a parallel run's results stay
    results = [BenchResult.from_json(kept[n]["result"]) for n in ALL_BENCHMARKS if n in kept]
    durations = {n: float(kept[n]["seconds"]) for n in kept}
    loads = {n: str(kept[n]["load"]) for n in kept if kept[n].get("load")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, durations, small=args.small, loads=loads))
    store.write_text(json.dumps(kept, indent=1))
    print(f"\nwrote {args.out} and {store}")
    if not args.small and args.out == RESULTS and update_readme(README, results, loads):
        print(f"updated the benchmark table in {README}")
    return args.out


def update_readme(readme: Path, results: list[BenchResult], loads: dict[str, str]) -> bool:
    """Rewrite the README's table between the ``bench:targets`` markers (False when it has no markers)."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    info = machine()
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    block = (f"{README_START}\nWritten by `python -m bench.run_all` on {info['date']}: {info['nproc']} CPUs "
             f"({info['cpu']}), {info['memory'].split(' (')[0]}, Python {info['python']}; the machine is shared, "
             f"so the load column matters (above 2 on 2 CPUs, the benchmark competed for CPU).\n\n"
             f"{targets_table(results, loads)}\n{README_END}")
    readme.write_text(head + block + tail)
    return True


def _load(store: Path) -> dict:
    try:
        return dict(json.loads(store.read_text()))
    except (OSError, ValueError):
        return {}


if __name__ == "__main__":
    main()
