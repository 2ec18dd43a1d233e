"""The renewal engine on the lab with the ACME back-end passed directly: pebble issues, BIND serves DNS-01.

Pebble issues like a public ACME CA: Key Usage digitalSignature + keyEncipherment, EKU serverAuth +
clientAuth. That serves tomcat-ECDSA, tomcat and CallManager (Data Encipherment and Key Agreement are
recommended, not required: a validator warning; tomcat and CallManager through ``cucmkit run --ca acme``
are in tests/notebooks/test_run_acme.py). CAPF needs a CA certificate (CA:TRUE, pathlen 0) that pebble never
issues, so the validator refuses what pebble issues for it, with its reason, before anything is uploaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from cucmkit.ca.acme import AcmeCa
from cucmkit.cucm.node import Cluster
from cucmkit.lab import pki
from cucmkit.params import load_parameters
from cucmkit.renewal import Renewal

from . import acme_servers
from .acme_servers import Bind, ChallTestSrv, Pebble, acme_section, make_ca
from .conftest import Env
from .labcheck import assert_renewed, engine_events

bind, pebble, split, split_pebble = acme_servers.bind, acme_servers.pebble, acme_servers.split, acme_servers.split_pebble


@contextmanager
def trusting(env: Env, pebble: Pebble) -> Iterator[Env]:
    """``env`` whose parameter file also trusts pebble's root: the nodes will serve what pebble signed."""
    data = yaml.safe_load(env.params_file.read_text())
    data["tls"]["ca_bundle"] = [*data["tls"]["ca_bundle"], str(pebble.root)]
    env.params_file.write_text(yaml.safe_dump(data, sort_keys=False))
    params = load_parameters(env.params_file)
    cluster = Cluster.from_parameters(params)
    try:
        yield dataclasses.replace(env, params=params, cluster=cluster)
    finally:
        try:
            cluster.close()
        except EOFError:
            pass


@pytest.fixture
def acme_env(env: Env, pebble: Pebble) -> Iterator[Env]:
    with trusting(env, pebble) as trusted:
        yield trusted


def open_renewal(env: Env, purpose: str, ca: AcmeCa, **options: Any) -> Renewal:
    return Renewal.open(env.cluster, purpose, state_dir=env.state_dir, ticket="CHG-ACME", ca=ca,
                        options=env.options(**options))


def every_node(env: Env) -> tuple[str, ...]:
    return tuple(n.fqdn for n in env.lab.state.nodes.values())


def test_tomcat_ecdsa_renewed_end_to_end_through_acme(acme_env: Env, tmp_path: Path, pebble: Pebble,
                                                      bind: Bind) -> None:
    env = acme_env
    # First run: orders placed, challenges answered, the CA not done within wait_seconds=0 -> WAITING.
    with open_renewal(env, "tomcat-ECDSA", make_ca(tmp_path, pebble, bind, wait_seconds=0),
                      nodes=every_node(env)) as renewal:
        first = renewal.run()
    assert first.status == "waiting", str(first)
    assert "waiting for the CA" in first.message
    assert not engine_events(env, ("identity_uploaded", "trust_uploaded"))
    # Re-run (a new back-end object, as a new process would make): the same orders are finalised.
    ca = make_ca(tmp_path, pebble, bind)
    with open_renewal(env, "tomcat-ECDSA", ca, nodes=every_node(env)) as renewal:
        result = renewal.run()
    ledger = assert_renewed(env, "tomcat-ECDSA", result)
    orders = ca.book.orders()
    assert len(orders) == len(ledger["nodes"]) and {e.status for e in orders} == {"issued"}
    assert {r["id"] for r in ledger["requests"].values()} == {e.order_url for e in orders}
    intermediate = x509.load_pem_x509_certificate(pebble.management_get("/intermediates/0").encode())
    for node in ledger["nodes"]:
        issued = pki.load_cert(env.lab.state.node(node).own()["tomcat-ECDSA"].pem)
        assert issued.issuer == intermediate.subject
    stores = {e.get("store") for e in engine_events(env, "trust_uploaded")}
    assert stores == {"tomcat-ECDSA-trust"} or stores == {"tomcat-trust"}


def test_certificate_that_cannot_serve_the_purpose_is_refused_before_upload(
        acme_env: Env, tmp_path: Path, pebble: Pebble, bind: Bind) -> None:
    env, purpose, lacks = acme_env, "CAPF", "CAPF needs Basic Constraints CA:TRUE"
    before = {n.fqdn: pki.fingerprint(n.own()[purpose].pem) for n in env.lab.state.nodes.values()
              if purpose in n.own()}
    with open_renewal(env, purpose, make_ca(tmp_path, pebble, bind)) as renewal:
        result = renewal.run()
    assert result.status == "failed"
    assert "the issued certificate fails validation" in result.message and lacks in result.message
    assert "Remedy:" in result.message
    assert not engine_events(env, ("identity_uploaded", "trust_uploaded", "restart_requested", "devices_reset"))
    after = {n.fqdn: pki.fingerprint(n.own()[purpose].pem) for n in env.lab.state.nodes.values()
             if purpose in n.own()}
    assert after == before


class BothViews:
    """The DNS team's fix for a split horizon: every record also goes to the view the CA resolves through."""

    def __init__(self, inner: Any, split: ChallTestSrv) -> None:
        self.inner, self.split = inner, split

    @property
    def zone(self) -> str | None:
        return str(self.inner.zone)

    def present(self, name: str, value: str) -> None:
        self.inner.present(name, value)
        self.split.set_txt(name, value)

    def cleanup(self, name: str, value: str) -> None:
        self.inner.cleanup(name, value)
        self.split.clear_txt(name)


def test_failed_challenges_fail_the_run_and_a_rerun_after_the_fix_orders_again(
        env: Env, tmp_path: Path, split_pebble: Pebble, split: ChallTestSrv, bind: Bind) -> None:
    from cucmkit.ca.acme import AcmeConfig
    from cucmkit.ca.dns01 import make_provider

    config = AcmeConfig.from_section(acme_section(tmp_path, split_pebble, bind))
    with trusting(env, split_pebble) as env:
        # The records go to BIND, but the CA resolves through another view that lacks them.
        with open_renewal(env, "tomcat-ECDSA", AcmeCa(config), nodes=every_node(env)) as renewal:
            failed = renewal.run()
        assert failed.status == "failed"
        assert "is dead" in failed.message and "re-run: a new order is placed for the same CSR" in failed.message
        assert not engine_events(env, ("identity_uploaded", "trust_uploaded"))
        dead = {e.order_url for e in AcmeCa(config).book.orders()}
        assert {e.status for e in AcmeCa(config).book.orders()} == {"dead"}
        # Fixed: the re-run keeps the ledger's request ids; the back-end orders again for the same CSRs.
        fixed = AcmeCa(config, dns=BothViews(make_provider(config.dns), split))
        with open_renewal(env, "tomcat-ECDSA", fixed, nodes=every_node(env)) as renewal:
            result = renewal.run()
        ledger = assert_renewed(env, "tomcat-ECDSA", result)
        assert {r["id"] for r in ledger["requests"].values()} == dead
        orders = fixed.book.orders()
        assert {e.status for e in orders} == {"issued"} and {e.previous for e in orders} == {(u,) for u in dead}


def test_multi_server_tomcat_through_acme_asks_cucm_for_the_publishers_fqdn_as_common_name(
        acme_env: Env, tmp_path: Path, pebble: Pebble, bind: Bind) -> None:
    """An ACME order names exactly the CSR's names, so CUCM's ``<publisher>-ms`` CN (not a SAN) can never be
    issued: the back-end declares it (``refuses_ms_common_name``) and the kit asks CUCM for the publisher's FQDN
    as CN without any parameter file key. One CSR, one order for every node's FQDN, one certificate everywhere."""
    from cucmkit.ca.acme import csr_identifiers
    from cucmkit.sans import common_name_of

    env, ca = acme_env, make_ca(tmp_path, pebble, bind)
    assert getattr(env.params.ca, "refuses_ms_common_name", False) is False      # the lab CA's section says nothing
    convert = {"convert_multi_server": "CHG-ACME: one multi-server tomcat certificate"}
    with open_renewal(env, "tomcat", ca, multi_server=True, overrides=convert) as renewal:
        result = renewal.run()
    assert result.status == "done", str(result)
    state, pub = env.ledger("tomcat").state, env.lab.state.publisher.fqdn
    assert list(state.csrs) == [pub] and state.csrs[pub].expected_cn == pub
    csr = x509.load_pem_x509_csr(state.csrs[pub].pem.encode())
    assert common_name_of(csr) == pub                                            # not cucm-pub-ms.lab.example
    orders = ca.book.orders()
    assert [(e.node, e.status) for e in orders] == [(pub, "issued")]
    assert set(csr_identifiers(orders[0].csr_pem)) == set(every_node(env))
    new = state.certificates[pub].after
    for node in env.lab.state.nodes.values():
        own = node.own()["tomcat"]
        assert pki.fingerprint(own.pem) == new and own.active_pem == own.pem, node.fqdn
