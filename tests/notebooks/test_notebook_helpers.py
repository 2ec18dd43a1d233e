"""cucmkit.notebook outside a kernel: run options, banner, and the approval interlock."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from cucmkit.errors import WaitingError
from cucmkit.evidence.journal import Journal, read_journal
from cucmkit.notebook import RunOptions, Runbook, impact_banner, is_interactive


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


def _book(tmp_path: Path, **options: object) -> tuple[Runbook, Path]:
    journal = tmp_path / "journal.jsonl"
    params = SimpleNamespace(cluster="c1", ca=SimpleNamespace(backend="lab"))
    run = RunOptions(purpose="tomcat", ticket="CHG-1", **options)  # type: ignore[arg-type]
    return Runbook(params=params, options=run, journal=Journal(journal)), journal


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
    box = book._approval_widget()
    button = box.children[0]
    with pytest.raises(WaitingError):
        book._require_approval()
    button.click()
    book._require_approval()                 # now allowed
    assert button.disabled is True
    (event,) = read_journal(journal)
    assert (event["approved"], event["how"]) == (True, "button")


def test_uploaded_ca_files_land_in_the_inbox(tmp_path: Path) -> None:
    from cucmkit.notebook import _save_uploads

    value = ({"name": "../leaf.pem", "content": memoryview(b"-----BEGIN CERTIFICATE-----\n")},
             {"name": "chain.p7b", "content": memoryview(b"\x30\x82")})
    _save_uploads(tmp_path / "inbox" / "req-1", value)
    assert sorted(p.name for p in (tmp_path / "inbox" / "req-1").iterdir()) == ["chain.p7b", "leaf.pem"]
    assert not (tmp_path / "inbox" / "leaf.pem").exists()     # no path escape
