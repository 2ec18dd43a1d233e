"""A stop request (signal, vanished runner) reaches the engine at a step boundary; a re-run resumes."""

from __future__ import annotations

import pytest

from cucmkit import stopping
from cucmkit.errors import StoppedError
from cucmkit.renewal import on_step_recorded

from .labcheck import assert_no_repeats, assert_renewed


def test_stop_between_steps_leaves_a_consistent_ledger_and_a_rerun_resumes(env):
    purpose, nodes = "ipsec", ("cucm-sub1",)
    seen: list[str] = []

    def stop_after_two(record):
        seen.append(record.key)
        if len(seen) == 2:
            stopping.request("test: stop after two steps")

    try:
        with env.open(purpose, nodes=nodes, observers=(stop_after_two,)) as renewal:
            with pytest.raises(StoppedError, match="stop after two steps"):
                renewal.run()
            state = renewal.ledger.state
            assert state.status == "stopped" and state.active
            assert all(r.outcome != "running" for r in state.steps.values())   # nothing half-done
            assert [r.key for r in state.records()] == seen == list(state.order[:2])
            assert "stopped" in state.events[-1].text
            status = renewal.status()
            assert status.status == "stopped" and "re-run" in status.message
            with pytest.raises(StoppedError):
                status.raise_for_status()
    finally:
        stopping.reset()
    with env.open(purpose, nodes=nodes) as renewal:
        result = renewal.run()
    assert_renewed(env, purpose, result)
    assert_no_repeats(env, purpose)             # the stop did not cause a second CSR or upload


def test_process_wide_observer_sees_every_outcome_once(env):
    recorded: list[tuple[str, str]] = []
    undo = on_step_recorded(lambda record: recorded.append((record.key, record.outcome)))
    try:
        with env.open("ipsec", nodes=("cucm-sub2",)) as renewal:
            result = renewal.run()
    finally:
        undo()
    assert result.status == "done"
    assert recorded == [(s.key, s.outcome) for s in result.steps]      # one call per step, after it ended
