"""SSO status over HTTPS (no auth) against the lab, and the XML parser."""

from __future__ import annotations

import pytest

from cucmkit.cucm._http import HttpTransport
from cucmkit.cucm.sso import SsoClient, parse_sso_status
from cucmkit.lab import LabCluster


@pytest.mark.parametrize(("xml", "expected"), [
    (b'<Response><SingleSignOn version="1.0"><Status enabled="true"/></SingleSignOn></Response>', True),
    (b'<Response><SingleSignOn version="1.0"><Status enabled="FALSE"/></SingleSignOn></Response>', False),
    (b'<Response><SingleSignOn version="1.0"/></Response>', None),
    (b"not xml", None),
    (b'<!DOCTYPE x [<!ENTITY e "true">]><Response><Status enabled="&e;"/></Response>', None),
])
def test_parse(xml: bytes, expected: bool | None) -> None:
    assert parse_sso_status(xml) is expected


def test_lab_sso_status_follows_state(lab: LabCluster) -> None:
    ep = lab.endpoint("cucm-sub1")
    transport = HttpTransport(node=ep.fqdn, address=ep.address, port=ep.https_port, interface="sso",
                              ca_bundle=(lab.ca_bundle,), connect_timeout=2, read_timeout=5)
    with SsoClient(transport=transport) as client:
        assert client.enabled() is bool(lab.state.sso_enabled)
