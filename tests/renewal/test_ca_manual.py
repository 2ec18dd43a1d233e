from __future__ import annotations

import pytest

from cucmkit.ca import make_backend
from cucmkit.ca.adcs import parse_submit_page
from cucmkit.ca.manual import ManualCa
from cucmkit.errors import CertificateError


def test_manual_outbox_inbox(tmp_path):
    ca = ManualCa(folder=tmp_path)
    csr = "-----BEGIN CERTIFICATE REQUEST-----\nabc\n-----END CERTIFICATE REQUEST-----"
    rid = ca.submit("cucm-pub.lab.example", "tomcat", csr)
    assert rid == "cucm-pub.lab.example-tomcat"
    assert (tmp_path / "outbox" / f"{rid}.csr").read_text().startswith("-----BEGIN CERTIFICATE REQUEST")
    assert ca.collect(rid) is None and ca.pending() == [rid]
    (ca.inbox_for(rid) / "leaf.pem.part").write_bytes(b"partial")
    assert ca.collect(rid) is None
    (ca.inbox_for(rid) / "root.cer").write_bytes(b"root")
    (ca.inbox_for(rid) / "leaf.cer").write_bytes(b"leaf")
    assert ca.collect(rid) == [b"leaf", b"root"] and ca.pending() == []


def test_make_backend_kinds(tmp_path):
    class P:
        cluster = "lab"
        ca = None
    assert isinstance(make_backend(P(), "manual", folder=tmp_path), ManualCa)
    with pytest.raises(ValueError, match="valid"):
        make_backend(P(), "no-such-ca")   # (acme became a real back-end)


def test_parse_adcs_pages():
    assert parse_submit_page('<a href="certnew.cer?ReqID=12&amp;Enc=b64">') == ("12", "issued")
    assert parse_submit_page("Your certificate request has been received. Your Request Id is 7.") == ("7", "pending")
    with pytest.raises(CertificateError, match="denied"):
        parse_submit_page("The request was denied")
    with pytest.raises(CertificateError, match="no request id"):
        parse_submit_page("<html>oops</html>")
