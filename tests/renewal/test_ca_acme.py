"""The ACME back-end against real servers: pebble (ACME) resolving DNS-01 through BIND, updated by RFC 2136 + TSIG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cucmkit.ca import CaBackend
from cucmkit.ca.acme import AcmeCa, AcmeConfig, csr_identifiers
from cucmkit.ca.dns01 import challenge_name
from cucmkit.errors import CertificateError, CucmKitError, ParameterError

from . import acme_servers
from .acme_servers import (
    FILE_ZONE,
    ZONE,
    Bind,
    ChallTestSrv,
    Pebble,
    acme_section,
    assert_issued_for,
    make_ca,
    make_csr,
    no_challenge_records,
)

bind, pebble, split, split_pebble = acme_servers.bind, acme_servers.pebble, acme_servers.split, acme_servers.split_pebble

# ---- issuance -----------------------------------------------------------------------------------


def test_single_san_csr_is_issued_and_records_removed(tmp_path: Path, pebble: Pebble, bind: Bind) -> None:
    ca = make_ca(tmp_path, pebble, bind)
    assert isinstance(ca, CaBackend) and ca.kind == "acme"
    csr = make_csr("single.lab.example")
    order_url = ca.submit("single.lab.example", "tomcat", csr)
    assert order_url.startswith(f"https://127.0.0.1:{pebble.port}/")
    assert_issued_for(ca.collect(order_url), csr, pebble)
    assert no_challenge_records(bind, "single.lab.example")
    assert [e.status for e in ca.book.orders()] == ["issued"]
    assert ca.collect(order_url) is not None                        # a valid order can be fetched again


def test_multi_san_csr_gets_one_authorization_per_name(tmp_path: Path, pebble: Pebble, bind: Bind) -> None:
    names = ("cucm-pub.lab.example", "cucm-sub1.lab.example", "cucm-sub2.lab.example", "lab.example")
    csr = make_csr(*names, cn="cucm-pub.lab.example", key=ec.generate_private_key(ec.SECP384R1()))
    assert csr_identifiers(csr) == names
    ca = make_ca(tmp_path, pebble, bind)
    assert_issued_for(ca.collect(ca.submit("cucm-pub", "tomcat-ECDSA", csr)), csr, pebble)
    assert no_challenge_records(bind, *names)


def test_secrets_never_reach_the_state_file_or_repr(tmp_path: Path, pebble: Pebble, bind: Bind) -> None:
    ca = make_ca(tmp_path, pebble, bind)
    csr = make_csr("quiet.lab.example")
    ca.collect(ca.submit("quiet", "tomcat", csr))
    book = ca.book.path.read_text()
    account = (tmp_path / "secrets" / "acme_account").read_text().strip()
    for secret in (bind.tsig_secret, json.loads(account)["d"]):
        assert secret not in book and secret not in repr(ca) and secret not in repr(ca.config)


# ---- parameters ---------------------------------------------------------------------------------


def test_plain_secret_values_are_refused_with_the_key_named(tmp_path: Path, pebble: Pebble, bind: Bind) -> None:
    section = acme_section(tmp_path, pebble, bind, account_key="-----BEGIN EC PRIVATE KEY-----")
    with pytest.raises(ParameterError, match=r"ca\.account_key: .*secret reference"):
        AcmeConfig.from_section(section)
    section = acme_section(tmp_path, pebble, bind)
    section["dns"] = {**section["dns"], "tsig_secret": "c2VjcmV0"}
    with pytest.raises(ParameterError, match=r"ca\.dns\.rfc2136\.tsig_secret") as info:
        AcmeConfig.from_section(section)
    assert "c2VjcmV0" not in str(info.value)


def test_lexicon_section_validates_and_credentials_must_be_references(tmp_path: Path, pebble: Pebble,
                                                                      bind: Bind) -> None:
    section = acme_section(tmp_path, pebble, bind, dns={
        "provider": "lexicon", "lexicon_provider": "cloudflare", "zone": ZONE,
        "credentials": {"auth_token": {"env": "CLOUDFLARE_API_TOKEN"}}})
    config = AcmeConfig.from_section(section)
    assert config.dns.provider == "lexicon"
    section["dns"]["credentials"] = {"auth_token": "plain-token"}
    with pytest.raises(ParameterError, match="auth_token: must be a secret reference"):
        AcmeConfig.from_section(section)


@pytest.mark.parametrize(("csr", "message"), [
    (lambda: make_csr("a.lab.example", cn="other.lab.example"), "CN 'other.lab.example' is not among its SANs"),
    (lambda: make_csr(cn="nosan.lab.example"), None),
])
def test_csr_identifiers(csr: Any, message: str | None) -> None:
    if message is None:
        assert csr_identifiers(csr()) == ("nosan.lab.example",)
        return
    with pytest.raises(CertificateError, match=message):
        csr_identifiers(csr())


# ---- resumable ----------------------------------------------------------------------------------


def account_orders(ca: AcmeCa) -> list[str]:
    """The orders the ACME server lists for the back-end's account (RFC 8555 §7.1.2.1), all pages."""
    account = ca._acme().net.account.uri
    url: str | None = ca._get(account).json()["orders"]
    found: list[str] = []
    while url:
        response = ca._get(url)
        found += response.json()["orders"]
        url = response.links.get("next", {}).get("url")
    return found


CRASHING_SUBMIT = """
import json, os, sys
from cucmkit.ca.acme import AcmeCa
section = json.load(open(sys.argv[1]))
url = AcmeCa.from_section(section).submit("crash", "tomcat", open(sys.argv[2]).read())
print(url, flush=True)
os._exit(3)   # dies before the engine could record the request id in its ledger
"""


def test_crash_between_order_and_finalize_resumes_the_same_order(tmp_path: Path, pebble: Pebble,
                                                                bind: Bind) -> None:
    csr = make_csr("crash.lab.example")
    (tmp_path / "csr.pem").write_text(csr)
    (tmp_path / "section.json").write_text(json.dumps(acme_section(tmp_path, pebble, bind)))
    child = subprocess.run([sys.executable, "-c", CRASHING_SUBMIT, str(tmp_path / "section.json"),
                            str(tmp_path / "csr.pem")], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert child.returncode == 3, child.stderr
    order_url = child.stdout.strip()
    again = make_ca(tmp_path, pebble, bind)                            # a new process's back-end
    assert again.submit("crash", "tomcat", csr) == order_url        # same CSR -> same order, none placed
    assert account_orders(again) == [order_url]                     # the CA holds one order for the account
    assert_issued_for(make_ca(tmp_path, pebble, bind).collect(order_url), csr, pebble)
    [entry] = again.book.orders()
    assert entry.order_url == order_url and entry.previous == () and entry.status == "issued"


# ---- failures -----------------------------------------------------------------------------------


def test_failed_challenge_is_a_clear_error_and_a_rerun_orders_again(
        tmp_path: Path, split_pebble: Pebble, split: ChallTestSrv, bind: Bind) -> None:
    name = "split.lab.example"
    split.set_txt(challenge_name(name), "not-the-key-authorization")     # what the CA sees
    csr = make_csr(name)
    ca = make_ca(tmp_path, split_pebble, bind)                           # checks BIND only: it looks fine
    first = ca.submit("split", "tomcat", csr)
    with pytest.raises(CertificateError) as info:
        ca.collect(first)
    text = str(info.value)
    assert "is dead" in text and name in text and "unauthorized" in text and "re-run" in text
    assert no_challenge_records(bind, name)                              # removed on failure too
    assert [(e.status, e.order_url) for e in ca.book.orders()] == [("dead", first)]
    assert ca.submit("split", "tomcat", csr) != first                    # known dead: a new order is allowed

    # The engine's ledger still holds the first URL: collect() on it carries on with the CSR's new order.
    # Now the check also asks the CA's view, which lacks the record: "not yet", and no challenge is answered.
    section = acme_section(tmp_path, split_pebble, bind, wait_seconds=0.5)
    section["dns"]["nameservers"] = [f"127.0.0.1:{bind.port}", f"127.0.0.1:{split.port}"]
    fixed = AcmeCa.from_section(section)
    assert fixed.collect(first) is None
    value = bind.txt(challenge_name(name))
    assert len(value) == 1
    split.clear_txt(challenge_name(name))
    split.set_txt(challenge_name(name), value.pop())                     # the DNS team fixes the view
    section["wait_seconds"] = 30
    assert_issued_for(AcmeCa.from_section(section).collect(first), csr, split_pebble)
    [entry] = fixed.book.orders()
    assert entry.status == "issued" and entry.previous == (first,) and entry.order_url != first


def test_record_never_visible_stops_before_answering(tmp_path: Path, pebble: Pebble, bind: Bind,
                                                     split: ChallTestSrv) -> None:
    section = acme_section(tmp_path, pebble, bind, propagation_timeout=1, wait_seconds=5)
    section["dns"]["nameservers"] = [f"127.0.0.1:{bind.port}", f"127.0.0.1:{split.port}"]
    ca = AcmeCa.from_section(section)
    name = "invisible.lab.example"
    url = ca.submit("invisible", "tomcat", make_csr(name))
    with pytest.raises(CertificateError, match=r"not served by the authoritative servers after 1s: "
                                               rf"_acme-challenge\.{name}@127\.0\.0\.1:{split.port}"):
        ca.collect(url)
    assert no_challenge_records(bind, name)
    [entry] = ca.book.orders()
    assert entry.status == "pending" and entry.records == ()             # the order lives on; a re-run retries


def test_expired_order_is_dead_and_replaced_for_the_same_csr(tmp_path: Path, pebble: Pebble, bind: Bind) -> None:
    from datetime import datetime, timedelta

    csr = make_csr("late.lab.example")
    ca = make_ca(tmp_path, pebble, bind)
    first = ca.submit("late", "tomcat", csr)
    later = AcmeCa(ca.config, now=lambda: datetime.now(UTC) + timedelta(days=30))
    with pytest.raises(CertificateError, match="expired at .* before it was finalised"):
        later.collect(first)
    assert_issued_for(make_ca(tmp_path, pebble, bind).collect(first), csr, pebble)
    [entry] = ca.book.orders()
    assert entry.previous == (first,) and entry.status == "issued"


def test_unknown_order_names_the_state_folder(tmp_path: Path, pebble: Pebble, bind: Bind) -> None:
    ca = make_ca(tmp_path, pebble, bind)
    with pytest.raises(CertificateError, match="not in the ACME order book .*ca.state_dir"):
        ca.collect(f"https://127.0.0.1:{pebble.port}/my-order/nothing")


# ---- nonces, EAB ----------------------------------------------------------------------------------


def test_random_nonce_rejections_are_retried(tmp_path: Path, bind: Bind) -> None:
    server = Pebble.start(tmp_path / "pebble-nonce", dns_port=bind.port, nonce_reject=30)
    try:
        rejected = 0
        for index in range(3):
            names = (f"nonce{index}.lab.example", f"nonce{index}b.lab.example")
            csr = make_csr(*names)
            ca = make_ca(tmp_path, server, bind)
            assert_issued_for(ca.collect(ca.submit("n", "tomcat", csr)), csr, server)
            rejected += ca.bad_nonces
        assert rejected > 0                          # pebble did reject nonces (30% of ~15 POSTs per order)
    finally:
        server.stop()


def test_external_account_binding(tmp_path: Path, bind: Bind) -> None:
    hmac_key = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
    server = Pebble.start(tmp_path / "pebble-eab", dns_port=bind.port, eab={"kid-1": hmac_key})
    try:
        (tmp_path / "eab").write_text(hmac_key + "\n")
        os.chmod(tmp_path / "eab", 0o600)
        without = make_ca(tmp_path, server, bind)
        with pytest.raises(ParameterError, match="requires external account binding"):
            without.submit("e", "tomcat", make_csr("eab.lab.example"))
        ca = make_ca(tmp_path, server, bind, eab_kid="kid-1", eab_hmac_key={"file": str(tmp_path / "eab")})
        csr = make_csr("eab.lab.example")
        assert_issued_for(ca.collect(ca.submit("e", "tomcat", csr)), csr, server)
    finally:
        server.stop()


# ---- rate limits, Retry-After, the factory, account keys, lexicon -------------------------------


def test_retry_after_in_seconds_or_http_date() -> None:
    from datetime import datetime

    from cucmkit.ca.acme import _seconds

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert _seconds("120", 1.0, now) == 120.0
    assert _seconds("Thu, 01 Jan 2026 12:05:00 GMT", 1.0, now) == 300.0
    assert _seconds(None, 1.0, now) == 1.0 and _seconds("soon", 7.0, now) == 7.0
    assert _seconds("Thu, 01 Jan 2026 11:00:00 GMT", 1.0, now) == 0.0   # in the past: poll now


def test_rate_limited_answer_becomes_waiting_with_the_cas_retry_after(tmp_path: Path, pebble: Pebble,
                                                                       bind: Bind) -> None:
    from acme import messages

    from cucmkit.errors import WaitingError

    ca = make_ca(tmp_path, pebble, bind)
    ca.submit("rl", "tomcat", make_csr("rl.lab.example"))      # a real exchange: the network exists
    ca._network().retry_after = "3600"                          # what the CA's 429 carried
    error = ca._problem_error(messages.Error(typ="urn:ietf:params:acme:error:rateLimited",
                                             detail="too many new orders recently"), "submit")
    assert isinstance(error, WaitingError)
    assert "too many new orders recently" in str(error) and "re-run after 3600s" in str(error)


def test_factory_resolves_relative_paths_against_the_root(tmp_path: Path, pebble: Pebble, bind: Bind) -> None:
    from cucmkit.ca.acme import CONFIG_MODEL, backend

    section = acme_section(tmp_path, pebble, bind, state_dir="state/acme", root_ca=str(pebble.root))
    section["account_key"] = {"file": "secrets/acme_account"}
    ca = backend(section, root=tmp_path)
    assert CONFIG_MODEL is AcmeConfig and isinstance(ca.config, AcmeConfig)
    csr = make_csr("factory.lab.example")
    assert_issued_for(ca.collect(ca.submit("f", "tomcat", csr)), csr, pebble)
    assert (tmp_path / "state" / "acme" / "orders.json").is_file()


def test_account_key_as_base64_pem_and_a_bad_one(tmp_path: Path, pebble: Pebble, bind: Bind) -> None:
    import base64

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    os.environ["CUCMKIT_TEST_ACME_KEY"] = base64.b64encode(pem).decode()
    try:
        ca = make_ca(tmp_path, pebble, bind, account_key={"env": "CUCMKIT_TEST_ACME_KEY"})
        csr = make_csr("pemkey.lab.example")
        assert_issued_for(ca.collect(ca.submit("k", "tomcat", csr)), csr, pebble)
        os.environ["CUCMKIT_TEST_ACME_KEY"] = "bm90IGEga2V5"
        bad = make_ca(tmp_path, pebble, bind, account_key={"env": "CUCMKIT_TEST_ACME_KEY"})
        with pytest.raises(ParameterError, match=r"ca.account_key \(env:CUCMKIT_TEST_ACME_KEY\) is not a private key"):
            bad.submit("k", "tomcat", make_csr("pemkey2.lab.example"))
    finally:
        del os.environ["CUCMKIT_TEST_ACME_KEY"]


def test_lexicon_provider_failure_is_a_clear_error_without_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from cucmkit.ca.dns01 import LexiconDns, make_provider

    monkeypatch.setenv("CUCMKIT_TEST_DNS_TOKEN", "very-secret-token")
    config = LexiconDns(provider="lexicon", lexicon_provider="no-such-provider", zone=ZONE,
                        credentials={"auth_token": {"env": "CUCMKIT_TEST_DNS_TOKEN"}})
    provider = make_provider(config)
    assert "very-secret-token" not in repr(provider)
    with pytest.raises(CertificateError, match="dns-lexicon provider 'no-such-provider' could not create") as info:
        provider.present(f"_acme-challenge.x.{ZONE}", "value")
    assert "very-secret-token" not in str(info.value)


def test_rfc2136_with_a_wrong_tsig_key_is_refused(tmp_path: Path, bind: Bind) -> None:
    import base64

    from cucmkit.ca.dns01 import Rfc2136Provider
    from cucmkit.secrets import Secret

    wrong = Secret(base64.b64encode(b"x" * 32).decode(), source="test")
    provider = Rfc2136Provider(server="127.0.0.1", port=bind.port, zone=ZONE, key_name="cucmkit-acme", secret=wrong)
    with pytest.raises(CucmKitError, match="TSIG|refused the update|failed") as info:
        provider.present(f"_acme-challenge.wrong.{ZONE}", "v")
    assert wrong.reveal() not in str(info.value)
    assert not bind.txt(f"_acme-challenge.wrong.{ZONE}")


class AppliedOnReload:
    """A lexicon provider whose changes BIND serves after a reload: what a hosted DNS does by itself."""

    def __init__(self, inner: Any, bind: Bind) -> None:
        self.inner, self.bind = inner, bind

    @property
    def zone(self) -> str | None:
        return str(self.inner.zone)

    def present(self, name: str, value: str) -> None:
        self.inner.present(name, value)
        self.bind.reload()

    def cleanup(self, name: str, value: str) -> None:
        self.inner.cleanup(name, value)
        self.bind.reload()


def test_lexicon_provider_issues_end_to_end(tmp_path: Path, pebble: Pebble, bind: Bind,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """dns-lexicon's ``localzone`` provider edits BIND's zone file; pebble validates through BIND."""
    import dns.resolver

    from cucmkit.ca.dns01 import make_provider

    resolver = dns.resolver.Resolver(configure=False)              # the machine's resolver knows the zone
    resolver.nameservers, resolver.port = ["127.0.0.1"], bind.port
    monkeypatch.setattr(dns.resolver, "default_resolver", resolver)
    section = acme_section(tmp_path, pebble, bind, dns={
        "provider": "lexicon", "lexicon_provider": "localzone", "zone": FILE_ZONE,
        "options": {"filename": str(bind.file_zone)}, "nameservers": [f"127.0.0.1:{bind.port}"]})
    config = AcmeConfig.from_section(section)
    ca = AcmeCa(config, dns=AppliedOnReload(make_provider(config.dns), bind))
    names = (f"cucm-pub.{FILE_ZONE}", f"cucm-sub1.{FILE_ZONE}")
    csr = make_csr(*names)
    assert_issued_for(ca.collect(ca.submit("lexicon", "tomcat", csr)), csr, pebble)
    assert "_acme-challenge" not in bind.file_zone.read_text()       # removed again through lexicon
    deadline = time.monotonic() + 10
    while not no_challenge_records(bind, *names) and time.monotonic() < deadline:   # BIND reloads async
        time.sleep(0.1)
    assert no_challenge_records(bind, *names)
