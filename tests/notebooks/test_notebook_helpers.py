"""cucmkit.notebook outside a kernel: run options, banner, and the approval interlock."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from types import SimpleNamespace

import pytest

from cucmkit.approval import ApprovalScope, RestartLine
from cucmkit.errors import WaitingError
from cucmkit.evidence.journal import Journal, read_journal
from cucmkit.notebook import Runbook, RunOptions, impact_banner, is_interactive


def test_run_options_from_namespace() -> None:
    options = RunOptions.from_namespace({"purpose": "capf", "ticket": "CHG-1", "ca": {"backend": "adcs"},
                                         "approve": True, "journal_file": None})
    assert (options.purpose, options.ticket, options.ca, options.approve) == ("CAPF", "CHG-1", None, True)
    assert RunOptions.from_namespace({"purpose": "tomcat", "ca": "manual"}).ca == "manual"


def test_banner_shows_risk_impact_and_notes() -> None:
    text = impact_banner("CallManager")
    assert "risk **HIGH**" in text and "after hours" in text
    assert "Never regenerate CallManager and TVS" in text and "Phones reset: yes" in text


def test_not_interactive_outside_a_front_end() -> None:
    assert is_interactive() is False


# what the approval restates (the plan needs a cluster; these tests have none)
SCOPE = ApprovalScope(purpose="tomcat", risk="medium", cluster="c1", renewed=("pub",), self_signed=(),
                      restarts=(RestartLine("pub", ("Cisco Tomcat",), True),), phone_reset=False, phones=None,
                      max_seconds=600.0)


def _book(tmp_path: Path, **options: object) -> tuple[Runbook, Path]:
    journal = tmp_path / "journal.jsonl"
    params = SimpleNamespace(cluster="c1", ca=SimpleNamespace(backend="lab"))
    run = RunOptions(purpose="tomcat", ticket="CHG-1", **options)  # type: ignore[arg-type]
    book = Runbook(params=params, options=run, journal=Journal(journal))
    book.scope = lambda: SCOPE  # type: ignore[method-assign]
    return book, journal


def test_no_approval_stops_before_any_change(tmp_path: Path) -> None:
    book, journal = _book(tmp_path)
    with pytest.raises(WaitingError, match="approval required") as caught:
        book.approval()
    assert "--approve" in str(caught.value)
    with pytest.raises(WaitingError, match="not approved"):
        book.csr()          # refuses before touching the cluster (there is none here)
    events = [e["event"] for e in read_journal(journal)]
    assert events == ["approval"] and "phase-start" not in events


def test_approval_by_parameter_is_journaled(tmp_path: Path) -> None:
    book, journal = _book(tmp_path, approve=True)
    book.approval()
    (event,) = read_journal(journal)
    assert event["approved"] is True and "@" in event["by"]
    assert json.dumps(event)  # serialisable


def test_dry_run_needs_no_approval(tmp_path: Path) -> None:
    book, journal = _book(tmp_path, dry_run=True)
    book.approval()
    book._require_approval()
    assert read_journal(journal) == []


def test_approval_button_approves_and_journals(tmp_path: Path) -> None:
    book, journal = _book(tmp_path)
    box = book._approval_widget(SCOPE)
    name, button = box.children[0], box.children[1]
    assert button.description == "Approve the tomcat renewal on c1"
    name.value = "J. Smith"
    with pytest.raises(WaitingError):
        book._require_approval()
    button.click()
    book._require_approval()                 # now allowed
    assert button.disabled is True
    (event,) = read_journal(journal)
    assert (event["approved"], event["how"], event["approver"]) == (True, "button", "J. Smith")


def test_uploaded_ca_files_land_in_the_inbox(tmp_path: Path) -> None:
    from cucmkit.notebook import _save_uploads

    value = ({"name": "../leaf.pem", "content": memoryview(b"-----BEGIN CERTIFICATE-----\n")},
             {"name": "chain.p7b", "content": memoryview(b"\x30\x82")})
    _save_uploads(tmp_path / "inbox" / "req-1", value)
    assert sorted(p.name for p in (tmp_path / "inbox" / "req-1").iterdir()) == ["chain.p7b", "leaf.pem"]
    assert not (tmp_path / "inbox" / "leaf.pem").exists()     # no path escape


def _cert(name: str, days: float, issuer: str = "CN=<Lab CA>") -> SimpleNamespace:
    from datetime import datetime, timedelta

    now = datetime(2026, 11, 26, tzinfo=UTC)
    return SimpleNamespace(node=f"{name}.lab", purpose="tomcat", store="own", common_name=name, issuer=issuer,
                           not_after=now + timedelta(days=days), self_signed=False, fingerprint_sha256="ab" * 32,
                           days_left=lambda when, d=days: d)


def test_cert_frame_has_dates_whole_days_and_soonest_first() -> None:
    from cucmkit.notebook import cert_frame

    frame = cert_frame([_cert("b", 90.0), _cert("a", 10.6), _cert("c", 10.2), _cert("x", -0.5)])
    assert list(frame["common name"]) == ["x", "a", "c", "b"]
    assert list(frame["days left"]) == [-1, 10, 10, 90] and str(frame["days left"].dtype) == "Int64"
    assert str(frame["expires"].dtype).startswith("datetime64") and frame["expires"].dt.tz is not None
    assert list(frame.index) == [0, 1, 2, 3]


def test_cert_table_is_a_styler_without_index_escaped_and_due_rows_highlighted() -> None:
    from cucmkit.notebook import cert_frame, cert_table
    from cucmkit.tables import DUE_STYLE, EXPIRED_STYLE

    records = [_cert("b", 90.0), _cert("a", 10.0), _cert("c", -3.0)]
    table = cert_table(records, threshold_days=30)
    assert table.data.equals(cert_frame(records))
    html = table.to_html()
    assert html.count("<tr>") == 4 and "&lt;Lab CA&gt;" in html and "<Lab CA>" not in html
    assert "row_heading" not in html                                  # no index column
    assert "2026-12-06" in html and "2026-12-06 00:00" not in html    # expiry shown as a date
    styles = table._compute().ctx                                     # (row, col) -> [(property, value)]
    colour = {row: dict(props).get("background-color") for (row, _), props in styles.items()}
    assert colour == {0: EXPIRED_STYLE.split(": ")[1], 1: DUE_STYLE.split(": ")[1]}   # b (90 days) plain
    empty = cert_table([])
    assert empty.data.empty and "no certificates" in empty.to_html()


def test_plan_tables_are_styled_without_index() -> None:
    from cucmkit import catalogue
    from cucmkit.renewal.plan import NodeFacts, build_plan

    node = NodeFacts("cucm-pub.lab.example", "cucm-pub", "publisher", "CUCM", frozenset({"Cisco DRF Local"}))
    plan = build_plan(cluster="lab", purpose=catalogue.get("ipsec"), nodes=[node], certificates={},
                      now=_cert("a", 0).not_after, threshold_days=60)
    html = plan._repr_html_()
    assert html.count("<table") == 2 and "row_heading" not in html and "no certificate found" in html


def test_timeline_png_is_a_png_with_a_row_per_certificate() -> None:
    from datetime import datetime, timedelta
    from io import BytesIO

    from PIL import Image

    from cucmkit.notebook import timeline_png

    now = datetime(2026, 11, 26, tzinfo=UTC)
    points = [(f"tomcat @ node{i}", now + timedelta(days=30 * i), i < 2) for i in range(6)]
    data = timeline_png(points, now=now, title="expiry")
    image = Image.open(BytesIO(data))
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and image.size[0] == 900
    taller = Image.open(BytesIO(timeline_png(points * 2, now=now, title="expiry")))
    assert taller.size[1] > image.size[1]
    colours = {pixel for pixel in image.convert("RGB").getdata()}
    assert (0xD6, 0x27, 0x28) in colours and (0x2C, 0xA0, 0x2C) in colours   # due red, fine green


def test_recovery_plot_is_a_matplotlib_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from io import BytesIO

    from PIL import Image

    import cucmkit.notebook as helpers

    shown: list[bytes] = []
    monkeypatch.setattr(helpers, "_display_png_bytes", shown.append)    # the IPython output door only
    book, _ = _book(tmp_path)
    book.registrations.points = [(100.0, 10, 20), (105.0, 15, 20), (109.0, 20, 20)]
    book.recovery_plot()
    (png,) = shown
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and Image.open(BytesIO(png)).size == (700, 300)


def test_the_inventory_renew_hint_always_names_a_command_that_works() -> None:
    import shlex

    from cucmkit import catalogue, runner
    from cucmkit.notebook import renew_hint

    notebooks = Path(__file__).resolve().parents[2] / "notebooks"
    for name in catalogue.names():
        hint = renew_hint(name)
        command = shlex.split(hint.split("`")[1])
        assert command[:2] in (["cucmkit", "run"], ["cucmkit", "plan"]) and command[2] == name, hint
        if command[1] == "run":      # the runner finds a committed notebook for it
            assert runner.notebook_for(name, notebooks).is_file(), hint
        else:
            assert catalogue.get(name).runbook is None
    assert renew_hint("cup-xmpp") == "cup-xmpp: `cucmkit run cup-xmpp -f <parameters> --ticket <change>`"


def test_approval_lists_the_restarts_of_the_plan_it_approves(tmp_path: Path, monkeypatch) -> None:
    from datetime import datetime

    from cucmkit import catalogue, notebook
    from cucmkit.renewal.plan import NodeFacts, build_plan

    shown: list[str] = []
    monkeypatch.setattr(notebook, "_markdown", shown.append)
    book, _ = _book(tmp_path, approve=True)
    node = NodeFacts("p.lab", "p", "publisher", "CUCM", frozenset({"Cisco HAProxy", "Cisco CallManager"}))
    book.results["plan"] = build_plan(cluster="c1", purpose=catalogue.get("CallManager"), nodes=[node],
                                      certificates={}, now=datetime.now(UTC), threshold_days=30,
                                      version="14.0.1.13900-155")
    book.approval()
    text = "\n".join(shown)
    assert "Services this approval restarts, and why** (CUCM 14.0.1.13900-155)" in text
    assert "Cisco HAProxy: HAProxy serves SIP OAuth TLS" in text
