"""Each purpose renewed end to end on the lab with the lab CA (AD CS web enrolment), non-secure mode."""

from __future__ import annotations

import pytest

from cucmkit.fingerprints import cert_sha256

from .labcheck import assert_renewed, engine_events, served_fingerprint


def _same(a: str, b: str) -> bool:
    return cert_sha256(a) == cert_sha256(b)

CASES = [
    ("tomcat", (), ()),
    ("ipsec", ("cucm-pub", "imp-pub"), ()),
    ("CAPF", ("cucm-pub",), ("cucm-sub1", "cucm-sub2")),
    ("CallManager", (), ()),
    ("TVS", ("cucm-pub",), ()),
]


@pytest.mark.parametrize(("purpose", "explicit", "self_signed"), CASES, ids=[c[0] for c in CASES])
def test_purpose_end_to_end_with_lab_ca(env, purpose, explicit, self_signed):
    with env.open(purpose, nodes=explicit) as renewal:
        plan = renewal.plan()
        assert plan.due
        assert [n.short for n in plan.self_signed] == list(self_signed)
        result = renewal.run()
        ledger = assert_renewed(env, purpose, result, self_signed=self_signed)
        assert "ctl-update" not in ledger["order"]                      # non-secure: no CTL step
        if purpose == "tomcat":
            for node in ledger["nodes"]:
                assert served_fingerprint(env, node) == ledger["certificates"][node]["after"]
            assert result.reminders and "SAML SSO" in result.reminders[0]
        if purpose == "ipsec":       # SG14: IPsec reloads by `utils ipsec restart` on every node
            reloaded = {e.node for e in engine_events(env, "ipsec_restarted")}
            assert reloaded == {n.fqdn for n in env.lab.state.nodes.values()}
        if purpose == "CAPF":        # SG14: the CA-signed CAPF's root also goes into CallManager-trust
            issued = ledger["issued"]["cucm-pub.lab.example"]["pems"]
            stored = env.lab.state.node("cucm-pub").trust("CallManager-trust").values()
            assert any(_same(ca, pem) for ca in issued for pem in stored)
        if env.lab.state.node("cucm-pub").own().get(purpose) and plan.purpose.resets_phones:
            assert ledger["baseline"]["registered"] == env.lab.state.phone_summary()["total"]
        again = renewal.run()
        assert again.status == "skipped" and "nothing due" in again.message
