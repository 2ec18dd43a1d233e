"""Smoke tests: every benchmark runs at a tiny size and prints the table it should (no timing asserts).

The four benchmarks of SMOKED run as ``python -m bench.<name> --small --json ...``, all at
once in child processes (they are mostly waiting on labs), then each test
reads what one of them produced.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench._common import BenchResult
from bench.registration_watch import rate_floor
from bench.run_all import BENCHMARKS, render
from cucmkit import catalogue

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240
SMOKED = ("window", "fleet_inventory", "registration_watch", "notebook_overhead")   # fleet_run: tests/fleet


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[BenchResult, str]]:
    folder = tmp_path_factory.mktemp("bench")
    procs = {}
    for name in SMOKED:
        args = [sys.executable, "-m", f"bench.{name}", "--small", "--json", str(folder / f"{name}.json")]
        procs[name] = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = {}
    for name, proc in procs.items():
        stdout, _ = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, f"bench.{name} failed:\n{stdout[-3000:]}"
        out[name] = (BenchResult.from_json(json.loads((folder / f"{name}.json").read_text())), stdout)
    return out


def _metrics(result: BenchResult) -> list[str]:
    return [row.metric for row in result.rows]


def test_window_rows(outputs):
    result, stdout = outputs["window"]
    scaled = [m.removeprefix("[scale 0.005] ") for m in _metrics(result) if m.startswith("[scale 0.005] ")]
    jobs = [*catalogue.RUNBOOK_ORDER, "tomcat/multi-server"]   # the CUCM five, the IM&P three, a multi-server tomcat
    count = len(jobs)
    assert "cup-xmpp" in catalogue.RUNBOOK_ORDER
    assert [m.split(" (")[0] for m in scaled[:count]] == jobs
    assert scaled[count:] == [f"all {count} purposes, end to end", "kit overhead beyond the floor"]
    assert result.rows[count].target == "<= 1.05" and result.rows[count].met in ("yes", "no")
    assert all(float(r.floor.removesuffix(" s")) > 0 for r in result.rows[:count])
    by_job = {m["purpose"]: m for m in result.params["results"][0]["results"]}
    assert by_job["tomcat/multi-server"]["restarts"] == by_job["tomcat"]["restarts"]     # restarts on every node
    assert by_job["tomcat/multi-server"]["floor"] == pytest.approx(by_job["tomcat"]["floor"])
    alone = [r for r in result.rows if r.metric.startswith("[scale 0.01] ")]     # --small's stand-in for speed 1
    assert [r.metric.split(" (")[0] for r in alone] == ["[scale 0.01] tomcat alone",
                                                        "[scale 0.01] kit overhead beyond the floor"]
    assert alone[0].target == "<= 1.05" and float(alone[0].floor.removesuffix(" s")) > 0
    assert f"| [scale 0.005] all {count} purposes, end to end" in stdout and "peak RSS:" in stdout


def test_window_refuses_an_unknown_purpose():
    from bench.window import split_job

    assert split_job("tomcat/multi-server") == ("tomcat", True) and split_job("cup-xmpp") == ("cup-xmpp", False)
    with pytest.raises(SystemExit, match="unknown purpose 'tomcatt'"):
        split_job("tomcatt")


def test_fleet_inventory_rows(outputs):
    result, stdout = outputs["fleet_inventory"]
    rows = [r for r in result.rows if r.metric.startswith("latency ")]
    assert [r.metric.split(":")[0] for r in rows] == ["latency 0 ms", "latency 20 ms"]
    for row in rows:
        assert row.floor.startswith("serial ") and row.ratio.endswith("x faster")
        assert row.met in ("yes", "no")
    counts = {r["records"] for r in result.params["results"]}
    assert len(counts) == 1 and counts.pop() > 0          # every run read the same certificates
    assert result.peak_rss_children_mb > 0                # the lab fleet ran in its own process
    big = [r for r in result.rows if r.metric.startswith("provider size 3x2 nodes at 20 ms")]
    assert [r.target for r in big] == ["< 30 s", "", "< 1024 MiB"]
    assert big[0].floor.startswith("CPU floor ") and big[0].met in ("yes", "no") and big[2].met in ("yes", "no")
    provider = result.params["provider"]
    assert provider["kit_cpu"] > 0 and provider["records"] > 0 and provider["clusters"] == 3
    # one kit process per core read the files (inventory_files), and each was seen by the RSS sampler
    assert provider["workers"] == (provider["processes"] if provider["processes"] > 1 else 0)
    assert "peak RSS:" in stdout


def test_registration_watch_rows(outputs):
    result, stdout = outputs["registration_watch"]
    rows = {r.metric: r for r in result.rows}
    assert rows["[2 s window] phones confirmed registered"].value == "400 of 400"
    assert rows["[2 s window] RisPort requests (cap 25)"].value == "16"
    assert rows["[2 s window] throttle faults met"].value == "0"
    timed = next(r for r in result.rows if r.metric.startswith("[2 s window] time to confirm all"))
    assert timed.floor == "2.00 s" and timed.target == "<= 1.05"
    assert "peak RSS:" in stdout


def test_notebook_overhead_rows(outputs):
    result, stdout = outputs["notebook_overhead"]
    metrics = _metrics(result)
    assert metrics[0].startswith("in-process, warm") and metrics[2].startswith("papermill run")
    overhead = next(r for r in result.rows if r.metric.startswith("papermill overhead"))
    assert overhead.target == "" and overhead.met == "" and "not a target" in overhead.metric   # issue 18
    assert any(m.startswith("cucmkit run inventory") for m in metrics)
    assert "peak RSS:" in stdout


def test_results_markdown_has_every_benchmark_and_the_machine(outputs, tmp_path):
    from bench.run_all import README_END, README_START, update_readme

    results = [outputs[name][0] for name in BENCHMARKS if name in outputs]
    loads = {name: "1.0 -> 2.0" for name in BENCHMARKS}
    text = render(results, {}, small=True, loads=loads)
    for name in outputs:
        assert f"`python -m bench.{name}`" in text
    assert "nproc" in text and "python " in text and "## Targets" in text and "| 1.0 -> 2.0 |" in text
    assert "| notebook_overhead | papermill overhead per run (papermill - warm; reported, not a target)" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{README_START}\nold table\n{README_END}\nafter\n")
    assert update_readme(readme, results, loads)
    written = readme.read_text()
    assert "old table" not in written and written.startswith("# x\n\nbefore\n") and written.endswith("after\n")
    assert "| window | [scale 0.005] all " in written and "CPUs" in written
    readme.write_text("no markers")
    assert not update_readme(readme, results, loads)


def test_rate_floor_formula():
    assert rate_floor(20, rate=15, window=60) == 60          # 15 at once, the last 5 one window later
    assert rate_floor(15, rate=15, window=60) == 0
    assert rate_floor(31, rate=15, window=6) == 12


def test_shortfall_says_by_how_much():
    from bench._common import Row
    from bench.run_all import shortfall

    assert shortfall(Row("w", "189.8 s", "165.0 s", "1.150", "<= 1.05", "no")) == "+0.100 (10% over)"
    assert shortfall(Row("n", "4.33 s", "", "", "<= 1.5 s", "no")) == "+2.83 s"
    assert shortfall(Row("f", "5.50 s", "serial 40 s", "7.3x faster", ">= 10x and < 5 s", "no")) == \
        "speed-up 7.3x of 10x (2.7x short); 0.50 s over 5 s"
    assert shortfall(Row("t", "3", "0", "", "0", "no")) == "3 instead of 0"
    assert shortfall(Row("ok", "1 s", "", "1.01", "<= 1.05", "yes")) == ""
    assert shortfall(Row("p", "45.0 s", "CPU floor 20.0 s", "2.25x floor", "< 30 s", "no")) == "+15.0 s (50% over)"
    assert shortfall(Row("m", "1536 MiB", "", "", "< 1024 MiB", "no")) == "+512.0 MiB (50% over)"


def test_risport_window_is_a_lab_knob():
    from cucmkit.lab.state import Knobs

    knobs = Knobs()
    assert knobs.risport_window == 60.0 and knobs.http_latency == 0.0
    assert knobs.set("risport_window", "3") == 3.0 and knobs.risport_window == 3.0
    assert knobs.set("http_latency", 0.1) == 0.1


def test_fleet_topology_shape():
    from cucmkit.lab.fleet import fleet_topology

    topo = fleet_topology(7, nodes=6)
    assert [n.name for n in topo.nodes] == ["cucm-pub", "cucm-sub1", "cucm-sub2", "cucm-sub3", "cucm-sub4", "imp-pub"]
    assert topo.cluster == "fleet007" and topo.publisher.name == "cucm-pub" and topo.phones == 0
    with pytest.raises(ValueError):
        fleet_topology(0, nodes=1)


def test_fleet_raises_the_open_file_limit_or_names_the_remedy():
    import resource

    from cucmkit.lab.fleet import raise_nofile

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_nofile(min(soft, 64)) >= min(soft, 64)          # never lowers it
    if hard != resource.RLIM_INFINITY:
        with pytest.raises(ValueError, match="hard limit"):
            raise_nofile(hard + 1)


def test_an_idle_lab_listener_stops_at_once_whatever_its_poll(monkeypatch):
    import time

    from cucmkit.lab.http import LabHttpServer

    monkeypatch.setattr(LabHttpServer, "idle_poll", 30.0)
    server = LabHttpServer(host="127.0.0.1", port=0, tls=lambda: ("", "", []), router=lambda request: None).start()
    time.sleep(0.2)                                  # serve_forever is now in a 30 s select
    began = time.monotonic()
    server.close()
    assert time.monotonic() - began < 10             # woken by a connection, not waiting out the poll


def test_window_results_of_separate_runs_merge_into_one(outputs, tmp_path):
    from bench.window import main as window_main

    result, _ = outputs["window"]
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(result.to_json()))
    second.write_text(json.dumps(result.to_json()))
    merged = window_main(["--merge", str(first), str(second), "--json", str(tmp_path / "m.json")])
    assert merged.rows == result.rows + result.rows and merged.notes == result.notes
    assert len(merged.params["results"]) == 2 * len(result.params["results"]) and merged.name == "window"
