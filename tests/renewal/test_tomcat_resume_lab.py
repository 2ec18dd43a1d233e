"""A run that died mid Tomcat restart resumes: it waits for the node's HTTPS, or (Tomcat left stopped)
says so and goes on to the restart step that starts it, instead of failing its pre-checks."""

from __future__ import annotations

from datetime import timedelta

from cucmkit.renewal.state import StepRecord, utcnow

from .labcheck import assert_renewed

PUB = "cucm-pub.lab.example"
RESTART = f"restart:{PUB}:Cisco Tomcat"


def _died_mid_restart(env, *, started_ago: float = 0.0) -> None:
    """Run tomcat up to its Tomcat restart, then leave the ledger as a process killed inside that step leaves it."""
    with env.open("tomcat", nodes=("cucm-pub",)) as first:
        for phase in ("csr", "ca", "install"):
            assert getattr(first, phase)().status == "done"
        assert first.ledger.state.plan.steps[[s.key for s in first.ledger.state.plan.steps].index(RESTART)]
        started = utcnow() - timedelta(seconds=started_ago)
        first.ledger.record(StepRecord(RESTART, "restart", PUB, "activate", "running", started))


def test_resume_waits_for_a_tomcat_restart_in_flight(env):
    env.lab.state.faults.set("cucm-pub", "slow_restart", 25)           # the restart takes ~5 s
    _died_mid_restart(env)
    env.lab.state.node("cucm-pub").restart("Cisco Tomcat")             # the restart the dead run had asked for
    env.lab.state.faults.clear("cucm-pub")
    said: list[str] = []
    with env.open("tomcat", nodes=("cucm-pub",), progress=said.append) as resumed:
        result = resumed.run()
    assert_renewed(env, "tomcat", result)
    assert any("Cisco Tomcat is restarting" in s and "waiting up to" in s for s in said), said


def test_resume_with_tomcat_left_stopped_goes_on_to_the_restart_step(env):
    _died_mid_restart(env, started_ago=60.0)                           # past its restart deadline (15 s)
    env.lab.state.node("cucm-pub").stop("Cisco Tomcat")
    said: list[str] = []
    with env.open("tomcat", nodes=("cucm-pub",), progress=said.append) as resumed:
        result = resumed.run()
    assert_renewed(env, "tomcat", result)
    assert any("left stopped" in s for s in said), said
    # The SSO pre-check does not fail on the stopped Tomcat: every node's CLI still answers (utils sso status),
    # or, where nothing answers, the result this run recorded earlier is used ("not re-read").
    # The SSO pre-check no longer needs the ledger's earlier answer here: every node's CLI (utils sso status)
    # still answers while Tomcat is stopped, so the check is read afresh and passes; the run goes on to the
    # restart step that starts Tomcat (asserted below).
    assert env.lab.state.node("cucm-pub").service("Cisco Tomcat").status == "Started"
