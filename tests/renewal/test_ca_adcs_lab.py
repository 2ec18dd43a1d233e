"""The AD CS back-end against the lab CA's /certsrv: issued at once, pending for approval, denied."""

from __future__ import annotations

import pytest
from cryptography import x509

from cucmkit.ca import make_backend
from cucmkit.ca.adcs import AdcsCa
from cucmkit.errors import CertificateError, HttpStatusError


def _csr(env, node="cucm-sub1", purpose="ipsec"):
    return env.lab.state.node(node).generate_csr(purpose)


def test_adcs_issues_chain_leaf_first(env):
    ca = make_backend(env.params, "adcs")
    assert isinstance(ca, AdcsCa) and "password" not in repr(ca).lower()
    csr = _csr(env)
    request_id = ca.submit("cucm-sub1.lab.example", "ipsec", csr)
    files = ca.collect(request_id)
    certs = [x509.load_pem_x509_certificate(f) for f in files]
    assert len(certs) == 3
    leaf = next(c for c in certs if not c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    assert leaf.public_key() == x509.load_pem_x509_csr(csr.encode()).public_key()


def test_adcs_pending_then_approved_or_denied(env):
    ca = AdcsCa.from_parameters(env.params, template_suffix="-Pending")
    first = ca.submit("cucm-sub1.lab.example", "ipsec", _csr(env))
    second = ca.submit("cucm-sub2.lab.example", "ipsec", _csr(env, "cucm-sub2"))
    assert ca.collect(first) is None and ca.collect(second) is None
    env.lab.ca.approve(int(first))
    env.lab.ca.deny(int(second))
    assert len(ca.collect(first)) == 3
    with pytest.raises(CertificateError, match="denied"):
        ca.collect(second)


def test_adcs_wrong_password_is_a_clear_error(env):
    from cucmkit.secrets import Secret

    ca = AdcsCa.from_parameters(env.params, password=Secret("not-the-password"))
    with pytest.raises(HttpStatusError) as info:
        ca.submit("cucm-sub1.lab.example", "ipsec", _csr(env))
    assert info.value.status == 401 and "not-the-password" not in str(info.value)
