"""Progress that measures progress. Findings: bars measured time against the deadline ("3% 18/600.0"), successful
phases ended as a red bar at 2-20%, the label showed the last finished step instead of the node restarting now,
the phones bar counted seconds, and saved notebooks kept hundreds of bar lines."""

from __future__ import annotations

import io
import time
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest

from cucmkit.lab import LabCluster
from cucmkit.meters import COLOURS, Meter, MeterDisplay, meter_html, meter_text
from tests.notebooks.conftest import run_purpose


def test_restart_meter_counts_restarts_and_names_the_node_restarting_now() -> None:
    meter = Meter(label="restarts", unit="restarts done", total=12, done=5, now="Cisco TFTP on cucm-sub2")
    assert meter_text(meter) == "restarts: 5 of 12 restarts done; now: Cisco TFTP on cucm-sub2"
    assert 'width:42%' in meter_html(meter) and COLOURS["running"] in meter_html(meter)


def test_a_finished_phase_is_green_and_complete_a_failed_one_red_where_it_stopped() -> None:
    ok = Meter(label="phones", unit="phones back", total=200, done=197)
    ok.finish("done")
    assert meter_text(ok) == "phones: 200 of 200 phones back [DONE]"
    assert "width:100%" in meter_html(ok) and COLOURS["done"] in meter_html(ok)
    bad = Meter(label="restarts", unit="restarts done", total=4, done=1)
    bad.finish("failed")
    assert "width:25%" in meter_html(bad) and COLOURS["failed"] in meter_html(bad)


def test_without_ipython_a_line_only_when_the_count_changes() -> None:
    meter = Meter(label="restarts", unit="restarts done", total=3)
    out = io.StringIO()
    with redirect_stdout(out):
        display = MeterDisplay(meter, every=0.01)
        display._handle = None                      # plain Python: print on change

        def work() -> object:
            for _ in range(3):
                time.sleep(0.1)
                meter.set(done=meter.done + 1)
            return type("R", (), {"status": "done"})()

        display.run(work)
    lines = out.getvalue().splitlines()
    assert len(lines) <= 5 and lines[-1] == "restarts: 3 of 3 restarts done [DONE]", lines


@pytest.mark.notebook
def test_saved_notebook_keeps_one_meter_output_per_phase(nb_lab: LabCluster, tmp_path: Path) -> None:
    folder, run = run_purpose(nb_lab, tmp_path, "ipsec", "--ca", "lab", "--approve", "--nodes", "cucm-pub")
    assert run.returncode == 0, run.stdout + run.stderr
    nb = nbformat.read(folder / "ipsec.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "step-activate" in c.metadata.get("tags", []))
    meters = [o for o in cell.outputs if "cucmkit-meter" in str(o.get("data", {}).get("text/html", ""))]
    assert len(meters) == 1, cell.outputs
    html = meters[0]["data"]["text/html"]
    assert 'data-status="done"' in html and "width:100%" in html and "restarts done [DONE]" in html
    assert not [o for o in cell.outputs if o.get("output_type") == "stream" and "elapsed" in o.get("text", "")]
