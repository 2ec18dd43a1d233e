"""The validator's warnings (CUCM accepts the files) are kept: in the step's record, the summary and the evidence page.

The lab CA issues tomcat without Data Encipherment (catalogue.RECOMMENDED_KEY_USAGES: CUCM accepts the certificate,
Cisco's guide recommends the usage), as a CA template that drops it would.
"""

from __future__ import annotations

from cucmkit import catalogue
from cucmkit.evidence.board import first_screen
from cucmkit.evidence.record import PapermillOutcome, build_record
from cucmkit.renewal.steps.material import step_warnings

from .conftest import CaPlayer, Env

DE = "data_encipherment"


def test_a_dropped_recommended_key_usage_is_warned_in_the_record_the_summary_and_the_evidence(env: Env) -> None:
    usages = catalogue.get("tomcat").key_usage
    assert DE in usages and DE in catalogue.RECOMMENDED_KEY_USAGES
    ca = env.manual_ca()
    with env.open("tomcat", ca=ca) as renewal:
        assert renewal.run().status == "waiting"
        player = CaPlayer(ca, env.lab, "tomcat", key_usage=usages - {DE}).answer_all(timeout=30)
        result = renewal.run()
    assert result.status == "done", str(result)
    collected = [s for s in result.steps if s.name == "ca-collect" and s.outcome == "done"]
    assert collected and player.answered
    for step in collected:
        warnings = step_warnings(step.detail)
        assert len(warnings) == 1 and warnings[0].startswith("key_usage: Key Usage lacks Data Encipherment"), step
        assert "(remedy: " in warnings[0]
    persisted = [s for s in env.ledger("tomcat").state.steps.values() if s.name == "ca-collect"]
    assert all(step_warnings(s.detail) for s in persisted)                     # the step's record keeps them
    assert "[WARNING] key_usage: Key Usage lacks Data Encipherment" in str(result)   # the summary
    events = [{"event": "open", "cluster": "lab"}, {"event": "phase-start", "phase": "ca", "time": "t0"},
              {"event": "phase-end", "phase": "ca", "time": "t1", "status": "done",
               "steps": [s.to_json() for s in collected]}]
    record = build_record(events=events, outcome=PapermillOutcome(exit_code=0), cells=[], purpose="tomcat",
                          ticket="CHG0001", ca="manual", approve=True, dry_run=False, run_by="op@host",
                          started="2026-11-27T22:00:00+00:00", ended="2026-11-27T22:30:00+00:00",
                          parameters_files=(), notebook="tomcat.ipynb")
    screen = first_screen(record)
    assert "<h2>Warnings</h2>" in screen and "Key Usage lacks Data Encipherment" in screen and "remedy: " in screen


def test_no_warnings_section_when_the_ca_kept_every_usage(env: Env) -> None:
    record = build_record(events=[{"event": "open", "cluster": "lab"}], outcome=PapermillOutcome(exit_code=0),
                          cells=[], purpose="tomcat", ticket="CHG0001", ca="manual", approve=True, dry_run=False,
                          run_by="op@host", started="2026-11-27T22:00:00+00:00", ended="2026-11-27T22:30:00+00:00",
                          parameters_files=(), notebook="tomcat.ipynb")
    assert "<h2>Warnings</h2>" not in first_screen(record)
