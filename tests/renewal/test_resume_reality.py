"""Resume consults reality, not only the ledger; dry run and force_csr; the command line."""

from __future__ import annotations

import json

from cucmkit.renewal.command import main
from cucmkit.renewal.state import StepRecord

from .labcheck import assert_renewed, rewrite_ledger

SUB1 = "cucm-sub1.lab.example"


def test_dry_run_changes_nothing(env):
    with env.open("ipsec", nodes=("cucm-sub1",), dry_run=True) as renewal:
        plan = renewal.plan()
        assert plan.due and [n.short for n in plan.renew] == ["cucm-sub1"]
        result = renewal.run()
    assert result.status == "skipped" and all("dry run" in p.message for p in result.phases)
    assert env.lab.state.node("cucm-sub1").pending_csr("ipsec") is None
    assert not (env.state_dir / env.params.cluster / "ipsec.json").exists()


def test_identity_already_on_node_is_not_uploaded_again(env):
    """A crash between the upload and the ledger write: the node already holds the certificate."""
    with env.open("ipsec", nodes=("cucm-sub1",)) as renewal:
        for phase in ("csr", "ca", "install"):
            assert getattr(renewal, phase)().status == "done"
        ledger = renewal.ledger
        done = ledger.step(f"identity:{SUB1}")
        ledger.record(StepRecord(done.key, done.name, done.node, done.phase, "running", done.started))
        trust = ledger.step(f"trust:{SUB1}")
        ledger.record(StepRecord(trust.key, trust.name, trust.node, trust.phase, "running", trust.started))
        result = renewal.install()
        assert result.status == "done"
        details = {s.key: s.detail for s in result.steps}
        assert "not uploaded again" in details[f"identity:{SUB1}"]
        assert details[f"trust:{SUB1}"].startswith("0 CA certificate(s) uploaded")
        assert_renewed(env, "ipsec", renewal.run())


def test_csr_regenerated_elsewhere_is_caught_and_force_csr_recovers(env):
    with env.open("ipsec", nodes=("cucm-sub1",)) as renewal:
        assert renewal.csr().status == "done"
        assert renewal.ca().status == "done"
        old = renewal.ledger.state.csrs[SUB1].fingerprint
        rewrite_ledger(renewal, lambda raw: raw["steps"].pop(f"csr:{SUB1}"))  # the CSR step must be looked at again
        env.lab.state.node("cucm-sub1").generate_csr("ipsec")  # someone regenerates on the node
        result = renewal.csr()
        assert result.status == "failed" and "force_csr" in result.steps[0].detail
    with env.open("ipsec", nodes=("cucm-sub1",), force_csr=True) as renewal:
        result = renewal.run()
        assert renewal.ledger.state.csrs[SUB1].fingerprint != old
    assert_renewed(env, "ipsec", result, csrs=2)      # the first run's CSR and the forced one


def test_plan_and_renew_commands(env, capsys):
    assert main(["plan", "ipsec", "-f", str(env.params_file), "--nodes", "cucm-sub2", "--json",
                 "--state-dir", str(env.state_dir)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["renew"] == ["cucm-sub2.lab.example"] and plan["steps"][0] == "csr:cucm-sub2.lab.example"
    assert main(["renew", "ipsec", "-f", str(env.params_file), "--ticket", "CHG7", "--nodes", "cucm-sub2",
                 "--state-dir", str(env.state_dir)]) == 0
    assert "add --approve" in capsys.readouterr().err
    assert env.lab.state.node("cucm-sub2").pending_csr("ipsec") is None
    code = main(["renew", "ipsec", "-f", str(env.params_file), "--ticket", "CHG7", "--nodes", "cucm-sub2",
                 "--state-dir", str(env.state_dir), "--ca", "lab", "--approve", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["status"] == "done" and result["reminders"] == ["take a fresh DRS backup"]
    env.lab.state.set_backup(True)
    code = main(["renew", "ipsec", "-f", str(env.params_file), "--ticket", "CHG8", "--nodes", "cucm-sub1",
                 "--state-dir", str(env.state_dir), "--ca", "lab", "--approve", "--json"])
    assert code == 1 and json.loads(capsys.readouterr().out)["status"] == "blocked"   # refused: exit 1 (docs/check.md)


def test_csr_step_interrupted_after_generating_adopts_the_pending_csr(env):
    """A crash between 'generate' and the ledger write: the CSR on the node is adopted, not replaced."""
    with env.open("ipsec", nodes=("cucm-sub2",)) as renewal:
        assert renewal.csr().status == "done"
        ledger = renewal.ledger
        generated = ledger.state.csrs["cucm-sub2.lab.example"].pem
        ledger = rewrite_ledger(renewal, lambda raw: raw["csrs"].pop("cucm-sub2.lab.example"))
        step = ledger.step("csr:cucm-sub2.lab.example")
        ledger.record(StepRecord(step.key, step.name, step.node, step.phase, "running", step.started))
        result = renewal.csr()
        assert result.status == "done" and "adopted" in result.steps[0].detail
        assert ledger.state.csrs["cucm-sub2.lab.example"].pem == generated
        assert env.lab.state.node("cucm-sub2").pending_csr("ipsec").strip() == generated.strip()


def test_fresh_run_replaces_a_stray_pending_csr(env):
    stray = env.lab.state.node("cucm-sub2").generate_csr("ipsec")
    with env.open("ipsec", nodes=("cucm-sub2",)) as renewal:
        result = renewal.csr()
        assert result.status == "done" and "replaced a pending CSR this run did not create" in result.steps[0].detail
        assert renewal.ledger.state.csrs["cucm-sub2.lab.example"].pem.strip() != stray.strip()
