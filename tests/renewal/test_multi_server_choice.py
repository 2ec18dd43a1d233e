"""Multi-server as a parameter-file choice: the ``multi_server`` key, the explicit conversion (both directions) and the
resume guard. Each refusal names what the cluster has, what was asked, and the way to confirm or undo."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cucmkit.errors import ParameterError
from cucmkit.params import load_parameters
from cucmkit.renewal import Renewal, RenewalOptions
from cucmkit.renewal.command import main
from cucmkit.runner import RunSpec

from .conftest import FAST

CUCM = ("cucm-pub", "cucm-sub1", "cucm-sub2")
REASON = "CAB-14: one multi-server tomcat"


def _params(env, **extra):
    data = yaml.safe_load(Path(env.params_file).read_text()) | extra
    return load_parameters(data, root=env.params.root)


def _open(env, params, purpose="tomcat", *, ca=None, **kw) -> Renewal:
    options = RenewalOptions.from_parameters(params, purpose, **{**FAST, **kw})
    return Renewal.open(env.cluster, purpose, state_dir=env.state_dir, ticket="CHG-MS",
                        ca=ca if ca is not None else env.lab_ca(), options=options)


def test_the_key_lists_multi_server_purposes_only(env) -> None:
    params = _params(env, multi_server=["tomcat", "CUP-XMPP", "tomcat"])
    assert params.multi_server == ("tomcat", "cup-xmpp")
    assert RenewalOptions.from_parameters(params, "tomcat").multi_server is True
    assert RenewalOptions.from_parameters(params, "tomcat-ECDSA").multi_server is False   # each purpose by name
    assert RenewalOptions.from_parameters(params, "tomcat", multi_server=None).multi_server is True
    assert RenewalOptions.from_parameters(params, "tomcat", multi_server=False).multi_server is False   # --per-node
    assert RenewalOptions.from_parameters(params).multi_server is False
    with pytest.raises(ParameterError) as bad:
        _params(env, multi_server=["tomcat", "ipsec"])
    assert "multi_server[1]: 'ipsec' has no multi-server certificate" in str(bad.value)
    assert "CallManager" in str(bad.value.remedy) and "cup-xmpp-s2s" in str(bad.value.remedy)
    with pytest.raises(ParameterError, match="must be a list of certificate purposes"):
        _params(env, multi_server={"tomcat": True})


def test_multi_server_asked_on_a_per_node_cluster_is_blocked_until_confirmed(env) -> None:
    params = _params(env, multi_server=["tomcat"])
    before = {n: env.lab.state.node(n).pending_csr("tomcat") for n in CUCM}
    with _open(env, params, nodes=("cucm-sub1",)) as renewal:
        assert renewal.plan().distribution == "multi-server"
        result = renewal.run()
    assert result.status == "blocked", result
    for node in (*CUCM, "imp-pub"):
        assert f"{node}.lab.example has per-node" in result.message
    assert "asks for multi-server" in result.message
    check = result.phases[0].checks.get("distribution")
    assert check is not None and '--override convert_multi_server="<reason>"' in check.remedy
    assert "remove tomcat from the parameter file's multi_server list" in check.remedy
    assert {n: env.lab.state.node(n).pending_csr("tomcat") for n in CUCM} == before      # nothing changed
    with _open(env, params, nodes=("cucm-sub1",), overrides={"convert_multi_server": REASON}) as renewal:
        assert renewal.csr().status == "done"
    state = env.ledger("tomcat").state
    assert [(o.check, o.reason) for o in state.overrides] == [("distribution", REASON)]
    assert list(state.csrs) == ["cucm-pub.lab.example"]                                 # one CSR, on the publisher


def test_a_multi_server_run_is_never_resumed_per_node(env) -> None:
    params = _params(env, multi_server=["tomcat"])
    with _open(env, params, ca=env.manual_ca(), nodes=("cucm-sub1",),
               overrides={"convert_multi_server": REASON}) as renewal:
        assert renewal.run().status == "waiting"                                       # the CSR is at the CA
    with _open(env, params, ca=env.manual_ca(), multi_server=False) as renewal:      # --per-node
        result = renewal.run()
    assert result.status == "blocked", result
    ledger = env.ledger("tomcat")
    assert str(ledger.path) in result.message and "was started multi-server" in result.message
    assert "cannot be resumed per-node" in result.message
    remedy = result.phases[0].remedy
    assert "--multi-server" in remedy and "history" in remedy
    assert ledger.state.status == "waiting" and list(ledger.state.csrs) == ["cucm-pub.lab.example"]


def test_a_per_node_run_is_never_resumed_multi_server(env) -> None:
    params = _params(env)
    with _open(env, params, ca=env.manual_ca(), nodes=("cucm-sub1",)) as renewal:
        assert renewal.run().status == "waiting"
    with _open(env, params, ca=env.manual_ca(), multi_server=True,
               overrides={"convert_multi_server": REASON}) as renewal:                 # an override does not help
        result = renewal.run()
    assert result.status == "blocked" and "was started per-node and cannot be resumed multi-server" in result.message
    assert "--per-node" in result.phases[0].remedy


def test_override_of_an_unknown_check_is_a_usage_error(env, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["renew", "tomcat", "-f", str(env.params_file), "--ticket", "T", "--override", "sso_disabled=please"])
    assert exit_.value.code == 2
    assert "the check 'sso_disabled' cannot be overridden" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["renew", "tomcat", "-f", str(env.params_file), "--ticket", "T", "--override", "convert_multi_server="])
    assert "needs a reason" in capsys.readouterr().err


def test_the_resume_command_keeps_the_choice_and_the_confirmation(tmp_path: Path) -> None:
    spec = RunSpec(purpose="tomcat", parameters_file=tmp_path / "lab.yaml", ticket="T", multi_server=True,
                   overrides=(("convert_multi_server", REASON),))
    assert "--multi-server" in spec.resume_command()
    assert "--override 'convert_multi_server=CAB-14: one multi-server tomcat'" in spec.resume_command()
    assert spec.all_overrides() == {"convert_multi_server": REASON}
    assert "--per-node" in RunSpec(purpose="tomcat", parameters_file=tmp_path / "lab.yaml", ticket="T",
                                   multi_server=False).resume_command()


def test_cluster_wide_sso_blocks_a_per_node_tomcat_plan(env) -> None:
    env.lab.state.set_sso(True)                                   # every node: web API, CLI and tkssomode say SAML
    before = {n: env.lab.state.node(n).pending_csr("tomcat") for n in CUCM}
    with _open(env, _params(env), nodes=("cucm-sub1",)) as renewal:
        result = renewal.run()
    assert result.status == "blocked"
    assert "SAML SSO is enabled cluster-wide" in result.message
    assert "cluster-wide SSO needs a multi-server tomcat certificate (TAC 217268)" in result.message
    assert "add it to the parameter file's multi_server list" in result.phases[0].remedy
    assert {n: env.lab.state.node(n).pending_csr("tomcat") for n in CUCM} == before


def test_cluster_wide_sso_lets_a_multi_server_tomcat_through_on_14(env) -> None:
    """The lab runs 14SU3: a multi-server tomcat is renewed with SSO on (SSO guide 15; TAC 225746)."""
    env.lab.state.set_sso(True)
    params = _params(env, multi_server=["tomcat"])
    with _open(env, params, nodes=("cucm-sub1",), overrides={"convert_multi_server": REASON}) as renewal:
        report = renewal.prechecks("csr")
        assert renewal.csr().status == "done"
    sso = report.get("sso_disabled")
    assert sso is not None and sso.status == "passed"
    assert "re-export the SP metadata to the IdP and run the SSO test" in sso.reason


def test_sso_on_some_nodes_only_still_blocks_a_multi_server_tomcat(env) -> None:
    env.lab.state.set_sso_node("cucm-sub2", 2)                     # the GUI says disabled, one CLI says SAML
    with _open(env, _params(env, multi_server=["tomcat"]), overrides={"convert_multi_server": REASON}) as renewal:
        result = renewal.run()
    assert result.status == "blocked" and "SAML SSO is enabled (" in result.message
    assert "cucm-sub2.lab.example: API disabled, CLI enabled" in result.message


def test_per_node_asked_on_a_multi_server_cluster_is_blocked(env, capsys) -> None:
    """Last in this module: it leaves the module's lab with a multi-server tomcat."""
    params = _params(env, multi_server=["tomcat"])
    with _open(env, params, nodes=("cucm-sub1",), overrides={"convert_multi_server": REASON}) as renewal:
        assert renewal.run().status == "done"
    code = main(["renew", "tomcat", "-f", str(env.params_file), "--ticket", "CHG-BACK", "--approve", "--ca", "lab",
                 "--nodes", "cucm-sub2", "--state-dir", str(env.tmp / "state-back"), "--json"])
    out = capsys.readouterr()
    assert code == 1, out.out + out.err
    assert "asks for per-node" in out.out and "cucm-sub2.lab.example has multi-server" in out.out
    assert "add tomcat to the parameter file's multi_server list" in out.out
    assert "resume: cucmkit renew tomcat" in out.err
    uploads = env.lab.state.events(env.since, kind="identity_uploaded")
    assert [e.node for e in uploads] == ["cucm-pub.lab.example"]                  # only the confirmed conversion
