"""Extra SAN entries and the CA's -ms rule: the CSR request is shaped by the parameter file, the names the CA
must return are recorded with the CSR, and the validator names what the CA dropped or added."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from cucmkit.certs import validate
from cucmkit.errors import ParameterError
from cucmkit.lab import pki
from cucmkit.params import load_parameters
from cucmkit.sans import ExpectedNames, ExtraSans, NamePolicy, PurposeSans, csr_names

from .conftest import Env

REPO = Path(__file__).resolve().parents[2]
PORTAL, ADDRESS = "portal.lab.example", "192.0.2.10"      # a documentation address (RFC 5737): never contacted


def _example(**extra_sans: Any) -> dict[str, Any]:
    data = yaml.safe_load((REPO / "parameters" / "example-cluster.yaml").read_text())
    data["extra_sans"] = extra_sans
    return data


def _load(**extra_sans: Any) -> Any:
    return load_parameters(_example(**extra_sans), root=REPO, check_secrets=False)


# ---------------------------------------------------------------- the parameter file refuses what CUCM refuses


@pytest.mark.parametrize(("section", "where", "words"), [
    ({"tomcat": {"multi_server": ["uc.acme.example", "10.1.2.3"]}}, "extra_sans.tomcat.multi_server[1]",
     "multi-server certificate's SAN takes FQDNs only"),
    ({"tomcat": {"nodes": {"cucm-pub": ["*.acme.example"]}}}, "extra_sans.tomcat.nodes.cucm-pub[0]",
     "CUCM refuses wildcard names for tomcat"),
    ({"CallManager": {"multi_server": ["*.acme.example"]}}, "extra_sans.CallManager.multi_server[0]", "wildcard"),
    ({"tomcat": {"nodes": {"cucm-pub": ["bad_name.acme.example"]}}}, "extra_sans.tomcat.nodes.cucm-pub[0]",
     "is not a valid DNS name"),
    ({"tomcat": {"nodes": {"cucm-pub": ["portal"]}}}, "extra_sans.tomcat.nodes.cucm-pub[0]", "not a valid DNS name"),
    ({"tomcat": {"nodes": {"cucm-nope": ["portal.acme.example"]}}}, "extra_sans.tomcat.nodes.cucm-nope",
     "is not a node of this file"),
    ({"ipsec": {"multi_server": ["a.acme.example"]}}, "extra_sans.ipsec.multi_server",
     "ipsec has no multi-server certificate"),
    ({"tomcatt": {"multi_server": ["a.acme.example"]}}, "extra_sans.tomcatt", "is not a certificate purpose"),
    ({"ITLRecovery": {"nodes": {"cucm-pub": ["a.acme.example"]}}}, "extra_sans.ITLRecovery", "never CA-signed"),
])
def test_bad_extra_sans_are_refused_at_load_with_the_path_and_a_remedy(section: dict[str, Any], where: str,
                                                                      words: str) -> None:
    with pytest.raises(ParameterError) as caught:
        _load(**section)
    assert str(caught.value.message).startswith(where + ":"), caught.value.message
    assert words in caught.value.message and caught.value.remedy


def test_good_extra_sans_load_keyed_by_fqdn() -> None:
    params = _load(tomcat={"nodes": {"cucm-pub": ["Portal.Acme.Example.", "192.0.2.10", "portal.acme.example"]},
                           "multi_server": ["uc.acme.example"]},
                   **{"cup-xmpp-s2s": {"multi_server": ["*.chat.acme.example"]}})
    pub = params.publisher.fqdn
    assert params.extra_sans.for_node("tomcat", pub) == ("DNS:portal.acme.example", "IP:192.0.2.10")
    assert params.extra_sans.for_multi_server("tomcat") == ("DNS:uc.acme.example",)
    assert params.extra_sans.for_multi_server("cup-xmpp-s2s") == ("DNS:*.chat.acme.example",)   # s2s only


def test_the_ca_rule_is_a_flag_of_the_ca_section() -> None:
    data = _example()
    data["ca"]["refuses_ms_common_name"] = "yes"
    with pytest.raises(ParameterError, match=r"ca.refuses_ms_common_name: must be true or false"):
        load_parameters(data, root=REPO, check_secrets=False)
    data["ca"]["refuses_ms_common_name"] = True
    assert load_parameters(data, root=REPO, check_secrets=False).ca.refuses_ms_common_name is True


def test_a_hand_built_policy_is_checked_again_before_the_node() -> None:
    bad = NamePolicy(ExtraSans({"tomcat": PurposeSans(multi_server=("IP:10.1.2.3",))}))
    from cucmkit.errors import CertificateError

    with pytest.raises(CertificateError, match="FQDNs only"):
        csr_names(purpose="tomcat", node="pub.x.example", nodes=("pub.x.example",), multi_server=True, policy=bad)


def test_the_request_drops_ms_only_for_a_multi_server_csr_when_the_ca_refuses_it() -> None:
    policy = NamePolicy(refuses_ms_common_name=True)
    multi = csr_names(purpose="tomcat", node="pub.x.example", nodes=("pub.x.example", "sub.x.example"),
                      multi_server=True, policy=policy)
    single = csr_names(purpose="tomcat", node="pub.x.example", nodes=(), multi_server=False, policy=policy)
    assert multi.common_name == "pub.x.example" and single.common_name is None
    assert multi.required == {"DNS:pub.x.example", "DNS:sub.x.example"}


def test_a_csr_without_the_requested_names_is_refused_before_the_ca() -> None:
    from cucmkit.errors import CertificateError

    policy = NamePolicy(ExtraSans({"tomcat": PurposeSans(nodes={"cucm-pub.lab.example": (f"DNS:{PORTAL}",)})}))
    names = csr_names(purpose="tomcat", node="cucm-pub.lab.example", nodes=(), multi_server=False, policy=policy)
    assert names.alt_names == (PORTAL,) and names.common_name is None
    with pytest.raises(CertificateError, match=f"lacks SAN entries the kit asked for: DNS:{PORTAL}"):
        names.expected(_csr(("DNS:cucm-pub.lab.example",)))
    got = names.expected(_csr(("DNS:cucm-pub.lab.example", f"DNS:{PORTAL}")))
    assert got.sans == {"DNS:cucm-pub.lab.example", f"DNS:{PORTAL}"} and got.extras == {f"DNS:{PORTAL}"}


# ---------------------------------------------------------------- the validator against the recorded names


@pytest.fixture(scope="module")
def lab_ca(tmp_path_factory: pytest.TempPathFactory) -> pki.LabCA:
    folder = tmp_path_factory.mktemp("ca")
    from cucmkit.lab.starting import ensure_cas

    old, current = ensure_cas(folder)
    return pki.LabCA(pair=current, old=old, directory=folder / "ca")


def _csr(sans: tuple[str, ...]) -> str:
    return pki.make_csr(key=pki.new_key("rsa", 2048), cn="cucm-pub.lab.example", sans=sans, ou="UC", o="Lab",
                        l="Tokyo", st="Tokyo", c="JP")


WANTED = ("DNS:cucm-pub.lab.example", f"DNS:{PORTAL}", f"IP:{ADDRESS}")


def _report(lab_ca: pki.LabCA, csr: str, **issue: Any) -> Any:
    leaf, chain = lab_ca.issue(csr, "tomcat", **issue)
    expected = ExpectedNames(sans=frozenset(WANTED), common_name="cucm-pub.lab.example",
                             extras=frozenset({f"DNS:{PORTAL}", f"IP:{ADDRESS}"}))
    return validate("".join([leaf, *chain]), purpose="tomcat", now=datetime.now(UTC), csr=csr, expected=expected)


def test_the_certificate_carries_exactly_the_expected_names(lab_ca: pki.LabCA) -> None:
    report = _report(lab_ca, _csr(WANTED))
    assert report.ok, [c for c in report.failed]
    assert {c.name: c.status for c in report.checks if c.name in ("san_missing", "san_added", "expected_cn")} == \
        {"san_missing": "pass", "san_added": "pass", "expected_cn": "pass"}


def test_an_extra_san_the_ca_dropped_is_a_named_failure(lab_ca: pki.LabCA) -> None:
    csr = _csr(WANTED)
    report = _report(lab_ca, csr, sans=["DNS:cucm-pub.lab.example"])
    failed = {c.name: c for c in report.failed}
    assert "san_added" not in failed
    missing = failed["san_missing"]
    assert f"DNS:{PORTAL}" in missing.message and f"IP:{ADDRESS}" in missing.message
    assert "extra_sans" in missing.message and "drop -ms" in missing.remedy
    assert missing.cucm_message == "CSR SAN and Certificate SAN does not match"


def test_a_san_the_ca_added_is_a_named_failure(lab_ca: pki.LabCA) -> None:
    report = _report(lab_ca, _csr(WANTED), extra_sans=["IP:198.51.100.7"])
    failed = {c.name: c for c in report.failed}
    assert "san_missing" not in failed
    assert "IP:198.51.100.7" in failed["san_added"].message and failed["san_added"].remedy


def test_a_rewritten_common_name_is_said(lab_ca: pki.LabCA) -> None:
    report = _report(lab_ca, _csr(WANTED), common_name="cucm-pub-ms.lab.example")
    check = next(c for c in report.checks if c.name == "expected_cn")
    assert check.status == "warn" and "refuses_ms_common_name" in check.remedy


# ---------------------------------------------------------------- on the lab, end to end


def _with_extra_sans(env: Env, section: dict[str, Any], ca: dict[str, Any] | None = None) -> Path:
    data = yaml.safe_load(env.params_file.read_text())
    data["extra_sans"] = section
    if ca:
        data["ca"] = {**data["ca"], **ca}
    env.params_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return env.params_file


def _renew(env: Env, purpose: str, *extra: str) -> tuple[int, dict[str, Any]]:
    from cucmkit.renewal.command import main

    code = main(["renew", purpose, "-f", str(env.params_file), "--ticket", "CHG-SAN", "--ca", "lab", "--approve",
                 "--json", "--state-dir", str(env.state_dir), *extra])
    return code, {}


def test_tomcat_with_an_extra_san_and_an_ip_renews_end_to_end(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    _with_extra_sans(env, {"tomcat": {"nodes": {"cucm-sub1": [PORTAL, ADDRESS]}}})
    code, _ = _renew(env, "tomcat", "--nodes", "cucm-sub1")
    out = capsys.readouterr().out
    assert code == 0, out
    assert json.loads(out)["status"] == "done"
    sub1 = env.lab.state.node("cucm-sub1")
    leaf = pki.load_cert(sub1.own()["tomcat"].pem)
    assert {f"DNS:{PORTAL}", f"IP:{ADDRESS}", "DNS:cucm-sub1.lab.example"} <= set(pki.san_strings(leaf))
    entry = env.ledger("tomcat").state.csrs["cucm-sub1.lab.example"]
    assert set(entry.expected_sans) == set(pki.san_strings(leaf))       # known before the CA signed, and kept
    assert set(entry.extra_sans) == {f"DNS:{PORTAL}", f"IP:{ADDRESS}"}
    assert entry.expected_cn == "cucm-sub1.lab.example"
    detail = env.ledger("tomcat").state.steps["csr:cucm-sub1.lab.example"].detail
    assert f"extra SAN DNS:{PORTAL}, IP:{ADDRESS}" in detail and "exactly these SANs" in detail


def test_a_ca_that_adds_a_san_is_caught_before_the_upload(env: Env) -> None:
    ca = env.manual_ca()
    _with_extra_sans(env, {"tomcat": {"nodes": {"cucm-sub1": [PORTAL]}}})
    env.params = load_parameters(env.params_file)
    with env.open("tomcat", ca=ca, nodes=("cucm-sub1",)) as renewal:
        assert renewal.run().status == "waiting"
        name = next(n for n in ca.pending() if "cucm-sub1" in n)     # other nodes may be due too (test order)
        leaf, chain = env.lab.ca.issue(ca.csr_path(name).read_text(), "tomcat", extra_sans=[f"IP:{ADDRESS}"])
        (ca.inbox_for(name) / "cert.pem").write_text(leaf + "".join(chain))
        result = renewal.run()
    assert result.status == "failed"
    assert "san_added" in result.message and f"IP:{ADDRESS}" in result.message
    assert not env.lab.state.events(env.since, kind="identity_uploaded")


CONVERT = {"convert_multi_server": "the lab starts per node"}          # renewal/distribution.py


def test_a_ca_that_refuses_ms_is_recognised_then_the_csr_is_shaped_for_it(env: Env) -> None:
    env.lab.state.knobs.set("ca_refuses_ms_cn", True)
    try:
        with env.open("tomcat", nodes=("cucm-sub1",), multi_server=True, overrides=CONVERT) as renewal:
            first = renewal.run()
        assert first.status == "failed"
        assert "CERTSRV_E_BAD_REQUESTSUBJECT" in first.message and "-ms" in first.message
        step = env.ledger("tomcat").state.steps["ca-submit:cucm-pub.lab.example"]
        assert "refuses_ms_common_name: true" in step.detail and "--force-csr" in step.detail
        policy = NamePolicy(refuses_ms_common_name=True)
        with env.open("tomcat", nodes=("cucm-sub1",), multi_server=True, overrides=CONVERT, names=policy) as renewal:
            blocked = renewal.run()                     # the recorded CSR still has -ms: not sent again
            assert blocked.status == "failed" and "force_csr" in json.dumps(blocked.to_dict())
        with env.open("tomcat", nodes=("cucm-sub1",), multi_server=True, overrides=CONVERT, names=policy,
                      force_csr=True) as renewal:
            result = renewal.run()
        assert result.status == "done", result
    finally:
        env.lab.state.knobs.set("ca_refuses_ms_cn", False)
    pub = env.lab.state.node("cucm-pub")
    leaf = pki.load_cert(pub.own()["tomcat"].pem)
    assert pki.common_name(leaf) == "cucm-pub.lab.example"              # -ms dropped, as the seed says
    assert {f"DNS:{n.fqdn}" for n in env.lab.state.nodes.values()} <= set(pki.san_strings(leaf))
    assert env.ledger("tomcat").state.csrs[pub.fqdn].expected_cn == "cucm-pub.lab.example"
