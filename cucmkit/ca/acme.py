"""ACME (RFC 8555) as a CA back-end: DNS-01 challenges, finalised with the CSR CUCM generated.

The node's key never leaves CUCM: ``submit`` places a new order for the CSR's
names and returns the order URL as the request id; ``collect`` drives that
order forward as far as it can within ``wait_seconds``:

    pending     write the DNS-01 records, wait until every authoritative server
                serves them, then answer the challenges
    ready       finalise with the CSR
    processing  poll again after the CA's Retry-After
    valid       download the chain (+ ``root_ca``: ACME chains leave the root
                out, CUCM needs it in <purpose>-trust), remove the records
    invalid     remove the records, raise CertificateError with the CA's reason

and returns ``None`` (the run stops WAITING; a re-run continues) whenever the
CA or DNS needs more time. A small state file (``state_dir/orders.json``) keyed
by the CSR's SHA-256 keeps the order across processes: submitting the same CSR
again returns the same order, and a new order is placed for it only once the
old one is known dead (invalid or expired). The file holds order URLs, CSRs
and challenge record names, never a key.

The account key and EAB HMAC key are secret references (``{env: ..}``,
``{file: ..}``, ``{keyring: ..}``); the account key is one line: a JWK (JSON)
as ``new_account_key()`` prints it, or base64 of a PEM/DER private key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal

import requests
from acme import challenges, client, messages
from acme import errors as acme_errors
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from josepy import errors as jose_errors
from josepy import jwa, jwk
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_fixed

from cucmkit.ca.dns01 import (
    DnsConfig,
    DnsProvider,
    PropagationCheck,
    SecretReference,
    challenge_name,
    make_provider,
    reference_only,
)
from cucmkit.ca.registry import BackendSpec
from cucmkit.errors import (
    CertificateError,
    ConnectError,
    CucmKitError,
    ParameterError,
    TimeoutError_,
    TlsError,
    WaitingError,
)
from cucmkit.params import ClusterParams
from cucmkit.secrets import Secret, resolve

__all__ = ["AcmeConfig", "AcmeCa", "OrderBook", "OrderEntry", "new_account_key", "csr_identifiers", "backend",
           "CONFIG_MODEL", "BACKEND"]

log = logging.getLogger(__name__)
HTTP_TIMEOUT = 30
NONCE_ATTEMPTS = 6
_Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AcmeConfig(BaseModel):
    """The parameter file's ``ca:`` section for ``backend: acme``."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    backend: Literal["acme"] = "acme"
    directory: str = Field(description="the ACME directory URL, https://...")
    account_key: SecretReference = Field(
        description="secret reference to the account key (one-line JWK, or base64 PEM/DER)")
    contact: str | None = Field(None, description="contact e-mail for the ACME account")
    eab_kid: str | None = Field(None, description="external account binding key id (from the CA)")
    eab_hmac_key: SecretReference | None = Field(None, description="secret reference to the EAB HMAC key (base64url)")
    ca_bundle: Path | None = Field(None, description="PEM file to trust the ACME server's TLS (default: system)")
    root_ca: Path | None = Field(None, description="PEM of the root the chain ends in (ACME chains omit it)")
    dns: DnsConfig
    propagation_timeout: float = Field(300.0, gt=0, description="seconds to wait for the records to appear")
    propagation_interval: float = Field(2.0, gt=0)
    wait_seconds: float = Field(60.0, ge=0, description="how long one collect waits before answering 'not yet'")
    state_dir: Path = Field(Path("state/acme"), description="where the order book lives")

    @field_validator("directory")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL (the ACME directory)")
        return value

    @field_validator("account_key", "eab_hmac_key", mode="before")
    @classmethod
    def _reference(cls, value: Any) -> Any:
        return reference_only(value)

    @classmethod
    def from_section(cls, section: Any) -> AcmeConfig:
        """Validate a ``ca:`` mapping; ParameterError naming each wrong key otherwise."""
        try:
            return cls.model_validate(dict(section))
        except ValidationError as exc:
            problems = "; ".join(f"ca.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ParameterError(f"the ACME CA section is wrong: {problems}",
                                 remedy="see docs/parameters.md, section ACME") from None


def new_account_key() -> str:
    """A fresh EC P-256 account key as one line of JWK JSON (store it in a 0600 file or a keyring entry)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return jwk.JWKEC(key=key).json_dumps()


def _load_account_key(secret: Secret) -> jwk.JWK:
    text = secret.reveal().strip()
    try:
        if text.startswith("{"):
            loaded: jwk.JWK = jwk.JWK.json_loads(text)
            return loaded
        blob = base64.b64decode(text, validate=True)
        key = (serialization.load_pem_private_key(blob, None) if blob.startswith(b"-----")
               else serialization.load_der_private_key(blob, None))
    except (ValueError, TypeError, jose_errors.Error):
        raise ParameterError(f"ca.account_key ({secret.source}) is not a private key",
                             remedy="store one line: a JWK from cucmkit.ca.acme.new_account_key(), "
                                    "or base64 of a PEM/DER private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        return jwk.JWKRSA(key=key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return jwk.JWKEC(key=key)
    raise ParameterError(f"ca.account_key ({secret.source}) must be an RSA or EC key")


def _algorithm(key: jwk.JWK) -> jwa.JWASignature:
    if isinstance(key, jwk.JWKEC):
        size = key.key.curve.key_size
        return {256: jwa.ES256, 384: jwa.ES384}.get(size, jwa.ES512)
    return jwa.RS256


def csr_identifiers(csr_pem: str) -> tuple[str, ...]:
    """The DNS names an order needs for this CSR: its DNS SANs, or its CN when it has none.

    RFC 8555 §7.4: the CSR must name exactly the order's identifiers, in the CN or
    the SANs; a CN outside the SANs would come back as an extra SAN CUCM refuses.
    """
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        raise CertificateError("the CSR is not a PEM certificate request", interface="acme",
                               operation="submit") from None
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names, ips = san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress)
    except x509.ExtensionNotFound:
        names, ips = [], []
    cns = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return _checked_names([n.lower().rstrip(".") for n in names], [c.lower() for c in cns], [str(i) for i in ips])


def _checked_names(names: list[str], cns: list[str], ips: list[str]) -> tuple[str, ...]:
    if ips:
        raise CertificateError(f"the CSR names IP addresses ({', '.join(ips)}); this back-end orders DNS names only",
                               interface="acme", operation="submit",
                               remedy="regenerate the CSR without IP alternate names")
    if not names and not cns:
        raise CertificateError("the CSR names no DNS name (no SAN, no CN)", interface="acme", operation="submit")
    if names and cns and cns[0] not in names:
        raise CertificateError(f"the CSR's CN {cns[0]!r} is not among its SANs; the ACME CA would add it as a SAN "
                               "and CUCM refuses a certificate whose SANs differ from the CSR's",
                               interface="acme", operation="submit",
                               remedy="regenerate the CSR with the CN also listed as an alternate name")
    return tuple(dict.fromkeys(names or cns))


def _csr_key(csr_pem: str) -> str:
    der = x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


# ---- the order book (state file) ---------------------------------------------------------------


@dataclass
class OrderEntry:
    """What the book knows about the order for one CSR."""

    csr_sha256: str
    order_url: str
    csr_pem: str
    node: str
    purpose: str
    created: str
    status: str = "pending"                  # pending | issued | dead
    reason: str = ""
    previous: tuple[str, ...] = ()           # dead orders placed earlier for this CSR
    records: tuple[tuple[str, str], ...] = ()
    records_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: (list(map(list, v)) if k == "records" else list(v) if k == "previous" else v)
                for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderEntry:
        fields = {**data, "previous": tuple(data.get("previous", ())),
                  "records": tuple((n, v) for n, v in data.get("records", ()))}
        return cls(**fields)


class OrderBook:
    """``<folder>/orders.json``: the ACME account URL and one entry per CSR (SHA-256 of its DER)."""

    VERSION = 1

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / "orders.json"
        self._lock = threading.RLock()

    def _read(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": self.VERSION, "accounts": {}, "orders": {}}
        except (OSError, ValueError) as exc:
            raise ParameterError(f"the ACME order book {self.path} cannot be read ({type(exc).__name__})",
                                 remedy="restore it from backup; never delete it while orders are open") from None
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)

    @contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            data = self._read()
            yield data
            self._write(data)

    def get(self, csr_sha256: str) -> OrderEntry | None:
        with self._lock:
            raw = self._read()["orders"].get(csr_sha256)
        return OrderEntry.from_json(raw) if raw else None

    def find(self, order_url: str) -> OrderEntry | None:
        """The entry whose order (current or an earlier, dead one) has this URL."""
        with self._lock:
            for raw in self._read()["orders"].values():
                if raw["order_url"] == order_url or order_url in raw.get("previous", ()):
                    return OrderEntry.from_json(raw)
        return None

    def put(self, entry: OrderEntry) -> OrderEntry:
        with self._editing() as data:
            data["orders"][entry.csr_sha256] = entry.as_json()
        return entry

    def orders(self) -> list[OrderEntry]:
        with self._lock:
            return [OrderEntry.from_json(raw) for raw in self._read()["orders"].values()]

    def account(self, directory: str, thumbprint: str) -> str | None:
        with self._lock:
            url = self._read()["accounts"].get(f"{directory} {thumbprint}")
        return str(url) if url else None

    def set_account(self, directory: str, thumbprint: str, url: str) -> None:
        with self._editing() as data:
            data["accounts"][f"{directory} {thumbprint}"] = url


# ---- talking to the CA ----------------------------------------------------------------------------


class _Network(client.ClientNetwork):
    """acme's ClientNetwork that remembers the last answer's Retry-After (rate limits, polling)."""

    retry_after: str | None = None
    bad_nonces = 0

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        response = super()._send_request(method, url, *args, **kwargs)
        self.retry_after = response.headers.get("Retry-After")
        if response.status_code == 400 and "badNonce" in response.text:
            self.bad_nonces += 1
        return response


def _bad_nonce(exc: BaseException) -> bool:
    return isinstance(exc, messages.Error) and exc.code == "badNonce"


def _seconds(header: str | None, default: float, now: datetime) -> float:
    if not header:
        return default
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return default
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class _Wait:
    seconds: float
    why: str


class AcmeCa:
    """An ACME CA (RFC 8555) reached at ``config.directory``; DNS-01 through ``config.dns``."""

    kind = "acme"
    # A multi-server CSR's CN (CUCM's <publisher>-ms.<domain>) is not among its SANs, and an ACME order names
    # exactly the CSR's names (RFC 8555 section 7.4): ask CUCM for the publisher's FQDN as CN instead.
    refuses_ms_common_name = True

    def __init__(self, config: AcmeConfig, *, base: Path | None = None, dns: DnsProvider | None = None,
                 propagation: PropagationCheck | None = None, now: _Clock = _utcnow,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.base = base
        self._client: client.ClientV2 | None = None
        self._net: _Network | None = None
        self._key: jwk.JWK | None = None
        self._dns = dns
        self._propagation = propagation or PropagationCheck(nameservers=config.dns.nameservers)
        self._now, self._sleep = now, sleep
        self.book = OrderBook(self._path(config.state_dir) or config.state_dir)

    def __repr__(self) -> str:
        return f"AcmeCa(directory={self.config.directory!r}, dns={self.config.dns.provider!r})"

    @classmethod
    def from_section(cls, section: Any, *, base: Path | None = None) -> AcmeCa:
        """From the parameter file's ``ca:`` mapping (``backend: acme``)."""
        return cls(AcmeConfig.from_section(section), base=base)

    @property
    def bad_nonces(self) -> int:
        """How many badNonce answers this back-end met (and retried) so far."""
        return self._net.bad_nonces if self._net is not None else 0

    def close(self) -> None:
        if self._net is not None:
            self._net.session.close()

    # ---- CaBackend -------------------------------------------------------------------------
    def submit(self, node: str, purpose: str, csr_pem: str) -> str:
        names = csr_identifiers(csr_pem)
        entry = self.book.get(_csr_key(csr_pem))
        if entry is not None and entry.status != "dead":
            log.info("ACME: CSR already ordered as %s", entry.order_url)
            return entry.order_url
        with self._boundary("submit"):
            return self._order(names, csr_pem, node, purpose, entry).order_url

    def collect(self, request_id: str) -> list[bytes] | None:
        entry = self.book.find(request_id)
        if entry is None:
            raise CertificateError(f"order {request_id} is not in the ACME order book {self.book.path}",
                                   interface="acme", operation="collect",
                                   remedy="point ca.state_dir at the folder used when the CSR was submitted, "
                                          "or re-run with force_csr to order afresh")
        with self._boundary("collect"):
            if entry.status == "dead":
                entry = self._order(csr_identifiers(entry.csr_pem), entry.csr_pem, entry.node, entry.purpose, entry)
            return self._drive(entry)

    # ---- orders ------------------------------------------------------------------------------
    def _order(self, names: tuple[str, ...], csr_pem: str, node: str, purpose: str,
               dead: OrderEntry | None) -> OrderEntry:
        body = messages.NewOrder(identifiers=[messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=n)
                                              for n in names])
        response = self._post(self._acme().directory["newOrder"], body)
        url = response.headers.get("Location")
        if not url:
            raise CertificateError("the ACME CA created an order without a Location", interface="acme",
                                   operation="new-order")
        previous = (*dead.previous, dead.order_url) if dead else ()
        entry = self.book.put(OrderEntry(_csr_key(csr_pem), url, csr_pem, node, purpose,
                                         self._now().isoformat(), previous=previous))
        log.info("ACME: new order %s for %s", url, ", ".join(names))
        return entry

    def _drive(self, entry: OrderEntry) -> list[bytes] | None:
        deadline = self._now() + timedelta(seconds=self.config.wait_seconds)
        while True:
            step = self._advance(entry)
            if isinstance(step, list):
                return step
            entry = self.book.get(entry.csr_sha256) or entry
            if self._now() + timedelta(seconds=step.seconds) > deadline:
                log.info("ACME: %s; answering 'not yet'", step.why)
                return None
            self._sleep(step.seconds)

    def _advance(self, entry: OrderEntry) -> list[bytes] | _Wait:
        order = messages.Order.from_json(self._get(entry.order_url).json())
        retry = _seconds(self._network().retry_after, 1.0, self._now())
        if order.status == messages.STATUS_VALID and order.certificate:
            return self._issued(entry, order)
        if order.status == messages.STATUS_INVALID:
            raise self._dead(entry, self._why_invalid(order))
        if order.expires is not None and order.expires <= self._now():
            raise self._dead(entry, f"it expired at {order.expires.isoformat()} before it was finalised")
        if order.status == messages.STATUS_READY:
            self._post(order.finalize, messages.CertificateRequest(
                csr=x509.load_pem_x509_csr(entry.csr_pem.encode())))
            return _Wait(0.0, "finalised")
        if order.status == messages.STATUS_PENDING:
            return self._authorize(entry, order)
        return _Wait(retry, f"the CA is still {order.status} (Retry-After {retry:g}s)")

    def _issued(self, entry: OrderEntry, order: messages.Order) -> list[bytes]:
        chain = self._get(str(order.certificate)).text
        self._cleanup(entry)
        self.book.put(_replace(entry, status="issued", records=(), records_at=None))
        files = [chain.encode()]
        root = self._root()
        if root is not None:
            files.append(root)
        return files

    def _root(self) -> bytes | None:
        if self.config.root_ca is None:
            return None
        path = self._path(self.config.root_ca)
        assert path is not None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ParameterError(f"ca.root_ca {path} cannot be read ({type(exc).__name__})",
                                 remedy="save the ACME CA's root certificate (PEM) there") from None

    def _dead(self, entry: OrderEntry, reason: str) -> CertificateError:
        self._cleanup(entry)
        self.book.put(_replace(entry, status="dead", reason=reason, records=(), records_at=None))
        return CertificateError(
            f"ACME order {entry.order_url} for {entry.node} is dead: {reason}", interface="acme",
            operation="collect", node=entry.node, purpose=entry.purpose,
            remedy="fix the cause (DNS records, CA policy), then re-run: a new order is placed for the same CSR")

    def _why_invalid(self, order: messages.Order) -> str:
        reasons = [_problem(order.error)] if order.error is not None else []
        for url in order.authorizations:
            authz = messages.Authorization.from_json(self._get(url).json())
            for chall in authz.challenges:
                if chall.error is not None:
                    reasons.append(f"{authz.identifier.value}: {_problem(chall.error)}")
        return "; ".join(reasons) or "the CA marked it invalid without a reason"

    # ---- DNS-01 --------------------------------------------------------------------------------
    def _authorize(self, entry: OrderEntry, order: messages.Order) -> _Wait:
        todo: list[tuple[str, messages.ChallengeBody]] = []
        for url in order.authorizations:
            authz = messages.Authorization.from_json(self._get(url).json())
            if authz.status != messages.STATUS_PENDING:
                continue
            challb = _dns01(authz)
            if challb.status == messages.STATUS_PENDING:
                todo.append((authz.identifier.value, challb))
        if not todo:
            return _Wait(1.0, "the CA is validating the challenges")
        records = tuple((challenge_name(name), c.chall.validation(self._account_key())) for name, c in todo)
        entry = self._provision(entry, records)
        missing = self._propagation.missing(records, getattr(self._provider(), "zone", None))
        if missing:
            return self._not_yet_visible(entry, missing)
        for _name, challb in todo:
            self._post(challb.uri, challb.chall.response(self._account_key()))
        return _Wait(0.5, "challenges answered")

    def _provision(self, entry: OrderEntry, records: tuple[tuple[str, str], ...]) -> OrderEntry:
        for record in records:
            if record not in entry.records:           # booked one by one: a failure half-way still cleans up
                self._provider().present(*record)
                entry = self.book.put(_replace(entry, records=(*entry.records, record),
                                               records_at=self._now().isoformat()))
        return entry

    def _not_yet_visible(self, entry: OrderEntry, missing: list[str]) -> _Wait:
        since = datetime.fromisoformat(entry.records_at) if entry.records_at else self._now()
        if (self._now() - since).total_seconds() <= self.config.propagation_timeout:
            return _Wait(self.config.propagation_interval, f"DNS records not yet on {', '.join(missing)}")
        self._cleanup(entry)
        self.book.put(_replace(entry, records=(), records_at=None))
        raise CertificateError(
            f"the DNS-01 records are not served by the authoritative servers after "
            f"{self.config.propagation_timeout:g}s: {', '.join(missing)}", interface="dns", operation="propagation",
            node=entry.node, purpose=entry.purpose,
            remedy="check ca.dns (zone, server, credentials) and ca.dns.nameservers; re-run to try again")

    def _cleanup(self, entry: OrderEntry) -> None:
        for name, value in entry.records:
            try:
                self._provider().cleanup(name, value)
            except CucmKitError as exc:
                log.warning("ACME: could not remove TXT %s: %s", name, exc)

    def _provider(self) -> DnsProvider:
        if self._dns is None:
            self._dns = make_provider(self.config.dns, base=self.base)
        return self._dns

    # ---- account and transport ---------------------------------------------------------------
    def _account_key(self) -> jwk.JWK:
        if self._key is None:
            self._key = _load_account_key(resolve(self.config.account_key, base=self.base, where="ca.account_key"))
        return self._key

    def _network(self) -> _Network:
        if self._net is None:
            verify: bool | str = str(self._path(self.config.ca_bundle)) if self.config.ca_bundle else True
            key = self._account_key()
            self._net = _Network(key, alg=_algorithm(key), verify_ssl=verify,  # type: ignore[arg-type]
                                 user_agent="cucmkit", timeout=HTTP_TIMEOUT)  # requests takes a CA path too
        return self._net

    def _path(self, path: Path | None) -> Path | None:
        if path is None or path.is_absolute():
            return path
        return (self.base or Path.cwd()) / path

    def _acme(self) -> client.ClientV2:
        if self._client is None:
            net = self._network()
            directory = messages.Directory.from_json(net.get(self.config.directory).json())
            self._client = client.ClientV2(directory, net)
            net.account = self._account(self._client)
        return self._client

    def _account(self, acme: client.ClientV2) -> messages.RegistrationResource:
        thumbprint = base64.urlsafe_b64encode(self._account_key().public_key().thumbprint()).decode().rstrip("=")
        known = self.book.account(self.config.directory, thumbprint)
        if known:
            return messages.RegistrationResource(uri=known, body=messages.Registration())
        registration = self._registration(acme)
        try:
            regr = _nonce_retry(acme.new_account)(registration)
            url = regr.uri
        except acme_errors.ConflictError as exc:   # the key already has an account: reuse it
            url = exc.location
        self.book.set_account(self.config.directory, thumbprint, url)
        return messages.RegistrationResource(uri=url, body=messages.Registration())

    def _registration(self, acme: client.ClientV2) -> messages.NewRegistration:
        eab = None
        if self.config.eab_kid:
            if self.config.eab_hmac_key is None:
                raise ParameterError("ca.eab_kid is set but ca.eab_hmac_key is not",
                                     remedy="reference the HMAC key the CA gave with the key id")
            hmac_key = resolve(self.config.eab_hmac_key, base=self.base, where="ca.eab_hmac_key").reveal()
            eab = messages.ExternalAccountBinding.from_data(
                account_public_key=self._account_key().public_key(), kid=self.config.eab_kid,
                hmac_key=hmac_key, directory=acme.directory)
        elif acme.external_account_required():
            raise ParameterError("the ACME CA requires external account binding",
                                 remedy="set ca.eab_kid and ca.eab_hmac_key to what the CA issued for this account")
        email = (self.config.contact,) if self.config.contact else ()
        return messages.NewRegistration.from_data(email=",".join(email) or None, terms_of_service_agreed=True,
                                                  external_account_binding=eab)

    def _post(self, url: str, body: Any, **kw: Any) -> requests.Response:
        acme = self._acme()
        response: requests.Response = _nonce_retry(self._network().post)(
            url, body, new_nonce_url=acme.directory["newNonce"], **kw)
        return response

    def _get(self, url: str, **kw: Any) -> requests.Response:
        return self._post(url, None, **kw)

    @contextmanager
    def _boundary(self, operation: str) -> Iterator[None]:
        """acme, requests and dnspython errors become cucmkit errors here, once."""
        try:
            yield
        except CucmKitError:
            raise
        except messages.Error as exc:
            raise self._problem_error(exc, operation) from None
        except requests.exceptions.SSLError:
            raise TlsError(f"TLS to the ACME server {self.config.directory} failed", interface="acme",
                           operation=operation, remedy="set ca.ca_bundle to the PEM that signs its certificate") from None
        except requests.exceptions.Timeout:
            raise TimeoutError_(f"the ACME server {self.config.directory} did not answer in time",
                                interface="acme", operation=operation) from None
        except requests.exceptions.ConnectionError:
            raise ConnectError(f"cannot reach the ACME server {self.config.directory}", interface="acme",
                               operation=operation, remedy="check ca.directory and the network path") from None
        except acme_errors.Error as exc:
            raise CertificateError(f"the ACME exchange failed: {type(exc).__name__}: {exc}", interface="acme",
                                   operation=operation) from None

    def _problem_error(self, exc: messages.Error, operation: str) -> CucmKitError:
        if exc.code == "rateLimited":
            seconds = _seconds(self._network().retry_after, 3600.0, self._now())
            return WaitingError(f"the ACME CA rate-limits this account: {exc.detail}", interface="acme",
                                operation=operation, remedy=f"re-run after {seconds:.0f}s (the CA's Retry-After)")
        return CertificateError(f"the ACME CA refused: {_problem(exc)}", interface="acme", operation=operation,
                                remedy="read the CA's reason; fix the CSR, the account or the parameters, "
                                       "then re-run")


def _nonce_retry(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Retry ``fn`` on badNonce (RFC 8555 §6.5: the client retries with the fresh nonce it was sent)."""
    return retry(retry=retry_if_exception(_bad_nonce), stop=stop_after_attempt(NONCE_ATTEMPTS),
                 wait=wait_fixed(0), reraise=True)(fn)


def _dns01(authz: messages.Authorization) -> messages.ChallengeBody:
    for challb in authz.challenges:
        if isinstance(challb.chall, challenges.DNS01):
            return challb
    raise CertificateError(f"the ACME CA offers no dns-01 challenge for {authz.identifier.value}",
                           interface="acme", operation="authorize",
                           remedy="use an ACME CA (or account policy) that allows DNS-01 validation")


def _problem(error: messages.Error) -> str:
    code = error.code or error.typ
    return f"{code}: {error.detail}" if error.detail else str(code)


def _replace(entry: OrderEntry, **changes: Any) -> OrderEntry:
    return OrderEntry(**{**entry.__dict__, **changes})


def backend(section: Mapping[str, Any], *, root: Path | None = None) -> AcmeCa:
    """The registry's factory: an ``AcmeCa`` from the parameter file's ``ca:`` mapping.

    ``root`` is the folder relative paths (state_dir, root_ca, ca_bundle, ``{file: ..}``
    secrets) resolve against: the parameter file's root.
    """
    return AcmeCa(AcmeConfig.from_section(section), base=root)


CONFIG_MODEL = AcmeConfig


def _build(params: ClusterParams, folder: Path | None) -> AcmeCa:
    """The registry's factory: ``AcmeCa`` from the parameter file's validated ``ca:`` (paths against its root)."""
    if not isinstance(params.ca, AcmeConfig):
        raise ParameterError(f"ca.backend is {params.ca.backend}: the ACME back-end needs its own ca: section",
                             remedy="write ca: {backend: acme, directory: ..., account_key: ..., dns: ...} "
                                    "(docs/parameters.md, section ACME).")
    return AcmeCa(params.ca, base=params.root)


BACKEND = BackendSpec(kind="acme", config=AcmeConfig, build=_build,
                      summary="an ACME (RFC 8555) CA; DNS-01 records over RFC 2136/TSIG or dns-lexicon.")
