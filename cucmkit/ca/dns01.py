"""DNS-01 challenge records (RFC 8555 §8.4): write them, see them on the authoritative servers, remove them.

Two providers, chosen by the ``dns:`` section of the ACME back-end's parameters:

- ``rfc2136``: a dynamic update signed with an HMAC TSIG key (dnspython) sent to
  the zone's primary server: BIND or any server taking such keys (Windows DNS
  signs its secure updates with GSS-TSIG/Kerberos instead, not supported here);
- ``lexicon``: any provider ``dns-lexicon`` supports (Cloudflare, Route 53, ...);
  its credentials are secret references like every other secret.

``PropagationCheck`` asks the zone's authoritative servers directly (not a
caching resolver) whether every record is there with its value, so the CA is
told to validate only once it would find them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.tsig
import dns.tsigkeyring
import dns.update
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cucmkit.errors import CertificateError, ConnectError, ParameterError
from cucmkit.secrets import Secret, is_reference, resolve

__all__ = ["SecretReference", "reference_only",
           "DnsProvider", "Rfc2136Dns", "LexiconDns", "DnsConfig", "Rfc2136Provider", "LexiconProvider",
           "PropagationCheck", "make_provider", "challenge_name"]

log = logging.getLogger(__name__)
DNS_TIMEOUT = 5.0
_TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")


def challenge_name(identifier: str) -> str:
    """``_acme-challenge.<name>`` for an identifier (a wildcard's ``*.`` is dropped, RFC 8555 §8.4)."""
    name = identifier.rstrip(".").lower()
    return "_acme-challenge." + (name[2:] if name.startswith("*.") else name)


SecretReference = dict[str, str]
"""A secret reference as the parameter file writes it: ``{env: VAR}``, ``{file: PATH}``, ``{keyring: "s/u"}``."""


def reference_only(value: Any) -> Any:
    """Pydantic ``before`` check: a reference mapping (or None), never a plain value."""
    if value is not None and not is_reference(value):
        raise ValueError("must be a secret reference such as {env: VAR} or {file: PATH}, never the secret itself")
    return value


class _DnsBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    ttl: int = Field(60, ge=1, description="TTL of the challenge records (seconds)")
    nameservers: tuple[str, ...] = Field(
        (), description="authoritative servers to check propagation on, 'host' or 'host:port'; "
                        "default: the zone's NS records")


class Rfc2136Dns(_DnsBase):
    """Dynamic update (RFC 2136) signed with TSIG, to the zone's primary server."""

    provider: Literal["rfc2136"]
    server: str = Field(description="primary server taking the updates (address or name)")
    port: int = Field(53, ge=1, le=65535)
    zone: str = Field(description="the zone the challenge names live in, e.g. example.com")
    tsig_key_name: str
    tsig_secret: SecretReference = Field(description="secret reference to the base64 TSIG key")
    tsig_algorithm: str = "hmac-sha256"

    @field_validator("tsig_secret", mode="before")
    @classmethod
    def _secret(cls, value: Any) -> Any:
        return reference_only(value)

    @field_validator("tsig_algorithm")
    @classmethod
    def _algorithm(cls, value: str) -> str:
        if value.lower() not in _TSIG_ALGORITHMS:
            raise ValueError(f"unknown TSIG algorithm {value!r}; valid: {', '.join(_TSIG_ALGORITHMS)}")
        return value.lower()


class LexiconDns(_DnsBase):
    """A DNS provider of ``dns-lexicon`` (``lexicon_provider``: cloudflare, route53, ...)."""

    provider: Literal["lexicon"]
    lexicon_provider: str
    zone: str | None = Field(None, description="the zone (default: found from the name)")
    credentials: dict[str, SecretReference] = Field(default_factory=dict,
                                        description="lexicon options holding secrets, each a secret reference")
    options: dict[str, str | int | bool] = Field(default_factory=dict, description="other lexicon options")

    @field_validator("credentials", mode="before")
    @classmethod
    def _secrets(cls, value: Any) -> Any:
        for key, ref in (value or {}).items():
            try:
                reference_only(ref)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return value


DnsConfig = Annotated[Rfc2136Dns | LexiconDns, Field(discriminator="provider")]


class DnsProvider(Protocol):
    """Writes and removes the TXT record ``name`` = ``value`` (``name`` absolute, without the final dot)."""

    @property
    def zone(self) -> str | None: ...

    def present(self, name: str, value: str) -> None: ...

    def cleanup(self, name: str, value: str) -> None: ...


def _split(server: str, default_port: int = 53) -> tuple[str, int]:
    host, sep, port = server.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return server, default_port


@dataclass(frozen=True)
class Rfc2136Provider:
    """RFC 2136 dynamic update with TSIG over TCP to ``server:port``."""

    server: str
    port: int
    zone: str
    key_name: str
    secret: Secret
    algorithm: str = "hmac-sha256"
    ttl: int = 60
    timeout: float = DNS_TIMEOUT

    def __repr__(self) -> str:
        return f"Rfc2136Provider(server={self.server!r}, port={self.port}, zone={self.zone!r}, key={self.key_name!r})"

    def present(self, name: str, value: str) -> None:
        update = self._update()
        update.add(self._relative(name), self.ttl, "TXT", _quoted(value))
        self._send(update, f"add TXT {name}")

    def cleanup(self, name: str, value: str) -> None:
        update = self._update()
        update.delete(self._relative(name), "TXT", _quoted(value))
        self._send(update, f"delete TXT {name}")

    def _update(self) -> dns.update.UpdateMessage:
        try:
            keyring = dns.tsigkeyring.from_text({self.key_name: self.secret.reveal()})
        except (ValueError, dns.exception.DNSException):
            raise ParameterError(f"ca.dns.tsig_secret ({self.secret.source}) is not a base64 TSIG key",
                                 remedy="reference the key's base64 secret as shown by tsig-keygen") from None
        return dns.update.UpdateMessage(self.zone, keyring=keyring, keyname=dns.name.from_text(self.key_name),
                                        keyalgorithm=dns.name.from_text(self.algorithm))

    def _relative(self, name: str) -> dns.name.Name:
        absolute, zone = dns.name.from_text(name), dns.name.from_text(self.zone)
        if not absolute.is_subdomain(zone):
            raise CertificateError(f"{name} is not in the zone {self.zone}", interface="dns", operation="update",
                                   remedy="set ca.dns.zone to the zone holding the certificate's names "
                                          "(one zone per ACME back-end)")
        return absolute.relativize(zone)

    def _send(self, update: dns.update.UpdateMessage, what: str) -> None:
        try:
            answer = dns.query.tcp(update, self.server, port=self.port, timeout=self.timeout)
        except (OSError, dns.exception.DNSException) as exc:
            raise ConnectError(f"DNS update to {self.server}:{self.port} failed ({type(exc).__name__})",
                               interface="dns", operation=what,
                               remedy="check ca.dns.server/port, the TSIG key and that the zone allows updates "
                                      "signed with it") from None
        rcode = answer.rcode()
        if rcode != dns.rcode.NOERROR:
            raise CertificateError(f"the DNS server refused the update ({dns.rcode.to_text(rcode)})",
                                   interface="dns", operation=what,
                                   remedy="allow updates signed with this TSIG key for the zone "
                                          "(BIND: update-policy / allow-update { key NAME; })")


def _quoted(value: str) -> str:
    return f'"{value}"'


@dataclass(frozen=True)
class LexiconProvider:
    """Records through a ``dns-lexicon`` provider."""

    provider: str
    zone: str | None
    credentials: Mapping[str, Secret]
    options: Mapping[str, Any]
    ttl: int = 60

    def __repr__(self) -> str:
        return f"LexiconProvider(provider={self.provider!r}, zone={self.zone!r})"

    def present(self, name: str, value: str) -> None:
        self._run("create", name, value)

    def cleanup(self, name: str, value: str) -> None:
        self._run("delete", name, value)

    def _config(self, name: str) -> Any:
        from lexicon.config import ConfigResolver

        section = {**self.options, **{k: s.reveal() for k, s in self.credentials.items()}}
        # The zone comes from DNS (SOA), not lexicon's public-suffix guess: that one needs the internet and
        # mistakes private zones (corp.local, lab.example) for their last label.
        settings: dict[str, Any] = {"provider_name": self.provider, "domain": self.zone or name, "ttl": self.ttl,
                                    "resolve_zone_name": True, self.provider: section}
        return ConfigResolver().with_dict(settings)  # type: ignore[no-untyped-call]

    def _run(self, action: str, name: str, value: str) -> None:
        from lexicon.client import Client

        try:
            with Client(self._config(name)) as operations:
                done = (operations.create_record("TXT", name, value) if action == "create"
                        else operations.delete_record(None, "TXT", name, value))
        except Exception as exc:   # lexicon's providers raise whatever their HTTP library raises
            raise CertificateError(f"dns-lexicon provider {self.provider!r} could not {action} TXT {name} "
                                   f"({type(exc).__name__})", interface="dns", operation=action,
                                   remedy="check ca.dns.lexicon_provider, its credentials and options") from None
        if not done:
            raise CertificateError(f"dns-lexicon provider {self.provider!r} did not {action} TXT {name}",
                                   interface="dns", operation=action)


def make_provider(config: Rfc2136Dns | LexiconDns, *, base: Path | None = None) -> DnsProvider:
    """The provider a ``dns:`` section describes, its secret references resolved."""
    if isinstance(config, Rfc2136Dns):
        return Rfc2136Provider(server=config.server, port=config.port, zone=config.zone.rstrip("."),
                               key_name=config.tsig_key_name,
                               secret=resolve(config.tsig_secret, base=base, where="ca.dns.tsig_secret"),
                               algorithm=config.tsig_algorithm, ttl=config.ttl)
    creds = {k: resolve(v, base=base, where=f"ca.dns.credentials.{k}") for k, v in config.credentials.items()}
    return LexiconProvider(provider=config.lexicon_provider, zone=config.zone, credentials=creds,
                           options=dict(config.options), ttl=config.ttl)


@dataclass(frozen=True)
class PropagationCheck:
    """Asks each authoritative server of the zone whether the TXT records are there."""

    nameservers: tuple[str, ...] = ()
    timeout: float = DNS_TIMEOUT

    def missing(self, records: Iterable[tuple[str, str]], zone: str | None) -> list[str]:
        """``name@server`` for each record not (yet) served with its value; empty when all are visible."""
        records = list(records)
        servers = self._servers(zone or _zone_of(records[0][0])) if records else []
        return [f"{name}@{host}:{port}" for host, port in servers for name, value in records
                if value not in self._txt(name, host, port)]

    def _servers(self, zone: str) -> list[tuple[str, int]]:
        if self.nameservers:
            return [_split(s) for s in self.nameservers]
        try:
            names = [str(r.target) for r in dns.resolver.resolve(zone, "NS", lifetime=self.timeout)]
            return [(str(a), 53) for n in names for a in dns.resolver.resolve(n, "A", lifetime=self.timeout)]
        except dns.exception.DNSException as exc:
            raise ConnectError(f"cannot find the authoritative servers of {zone} ({type(exc).__name__})",
                               interface="dns", operation="propagation",
                               remedy="set ca.dns.nameservers to the zone's authoritative servers") from None

    def _txt(self, name: str, host: str, port: int) -> set[str]:
        query = dns.message.make_query(name, dns.rdatatype.TXT)
        try:
            answer = dns.query.udp(query, host, port=port, timeout=self.timeout)
        except (OSError, dns.exception.DNSException):
            log.info("propagation: %s:%s did not answer for %s", host, port, name)
            return set()
        return {b"".join(r.strings).decode() for rrset in answer.answer if rrset.rdtype == dns.rdatatype.TXT
                for r in rrset}


def _zone_of(name: str) -> str:
    try:
        return str(dns.resolver.zone_for_name(name)).rstrip(".")
    except dns.exception.DNSException:
        raise ConnectError(f"cannot find the zone of {name}", interface="dns", operation="propagation",
                           remedy="set ca.dns.zone (and ca.dns.nameservers)") from None
