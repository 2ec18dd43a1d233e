"""Subject alternative names: the rules for extra SAN entries, and the names a CSR request must yield.

Pure (no I/O, no clients): the parameter file (``extra_sans:``), the renewal's CSR step and the
validator read it.

- ``san_entry`` checks one extra SAN entry as CUCM takes it (PROCEDURE.md; TAC 217138, the seed): a
  single node's certificate may carry other domains and IP addresses; a multi-server certificate only
  FQDNs (CUCM refuses an IP there); wildcards only for cup-xmpp-s2s (IMP125); never an invalid DNS name.
- ``ExtraSans`` holds the parameter file's entries per purpose (per node, and for the multi-server CSR).
- ``csr_names`` shapes the CSR request (certmgr ``POST /csr``: ``altNames``, ``commonName``): the extra
  entries, and the common name when the CA refuses CUCM's ``<publisher>-ms.<domain>`` (the seed: drop
  ``-ms`` when generating the CSR).
- ``CsrNames.expected(csr)`` checks the CSR CUCM produced against the request and answers
  ``ExpectedNames``: the SAN set and common name the CA must return, known before the CA signs.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from cryptography import x509

from cucmkit.errors import CertificateError

__all__ = ["SanProblem", "is_fqdn", "san_entry", "san_set", "PurposeSans", "ExtraSans", "NamePolicy", "CsrNames",
           "ExpectedNames", "csr_names", "common_name_of", "checked_entries", "IndexedSanProblem", "MAX_EXTRA_SANS",
           "MS_SUFFIX"]

MAX_EXTRA_SANS = 100          # per list: a budget far above any real certificate's SAN count
MS_SUFFIX = "-ms"             # CUCM's multi-server common name: <publisher host>-ms.<domain> (TAC 118731)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class SanProblem(ValueError):
    """An extra SAN entry CUCM (or the CA) would refuse: ``problem`` and ``remedy``."""

    def __init__(self, problem: str, remedy: str) -> None:
        super().__init__(problem)
        self.problem, self.remedy = problem, remedy


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_fqdn(text: str) -> bool:
    """A fully qualified DNS name: two or more labels of ASCII letters, digits and inner hyphens, <= 253 chars."""
    labels = text.lower().split(".")
    return text.isascii() and len(text) <= 253 and len(labels) >= 2 and all(_LABEL.fullmatch(label) for label in labels)


def san_entry(value: object, *, multi_server: bool, wildcard_ok: bool, purpose: str) -> str:
    """One extra SAN entry as ``DNS:<name>`` / ``IP:<address>``; ``SanProblem`` when CUCM would refuse it."""
    if not isinstance(value, str) or not value.strip():
        raise SanProblem(f"{_shown(value)} is not a host name or an IP address", "write each entry as a plain string.")
    text = value.strip().lower().rstrip(".")
    for prefix in ("dns:", "ip:"):
        text = text.removeprefix(prefix)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        address = None
    if address is not None:
        if multi_server:
            raise SanProblem(f"{text} is an IP address: a multi-server certificate's SAN takes FQDNs only "
                             "(CUCM refuses an IP there)",
                             "remove it; an IP belongs only in a single node's certificate (extra_sans.<purpose>.nodes).")
        return f"IP:{address}"
    if text.startswith("*."):
        if not wildcard_ok:
            raise SanProblem(f"{text} is a wildcard: CUCM refuses wildcard names for {purpose} "
                             "(only cup-xmpp-s2s may carry them)", "list each host name instead.")
        if is_fqdn(text[2:]):
            return f"DNS:{text}"
    elif is_fqdn(text):
        return f"DNS:{text}"
    raise SanProblem(f"{_shown(value)} is not a valid DNS name (labels of letters, digits and inner hyphens, "
                     "at least two labels, at most 253 characters)", "write a fully qualified name such as "
                     "portal.example.com, or an IP address for a single node.")


def san_set(obj: x509.Certificate | x509.CertificateSigningRequest) -> frozenset[str]:
    """The DNS and IP entries of a certificate's or CSR's SAN, normalised (``DNS:`` lower case, no final dot)."""
    try:
        san = obj.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return frozenset()
    names = {f"DNS:{str(n).lower().rstrip('.')}" for n in san.get_values_for_type(x509.DNSName)}
    names |= {f"IP:{n}" for n in san.get_values_for_type(x509.IPAddress)}
    return frozenset(names)


def common_name_of(obj: x509.Certificate | x509.CertificateSigningRequest) -> str:
    attrs = obj.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _frozen(mapping: Mapping[str, tuple[str, ...]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class PurposeSans:
    """One purpose's extra SAN entries: per node (FQDN -> entries) and for the multi-server CSR."""

    nodes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _frozen({}))
    multi_server: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExtraSans:
    """The parameter file's ``extra_sans:`` (purpose -> ``PurposeSans``), entries as ``DNS:x`` / ``IP:y``."""

    purposes: Mapping[str, PurposeSans] = field(default_factory=lambda: MappingProxyType({}))

    def for_node(self, purpose: str, fqdn: str) -> tuple[str, ...]:
        found = self.purposes.get(purpose)
        return found.nodes.get(fqdn.lower(), ()) if found is not None else ()

    def for_multi_server(self, purpose: str) -> tuple[str, ...]:
        found = self.purposes.get(purpose)
        return found.multi_server if found is not None else ()

    def to_json(self) -> dict[str, object]:
        return {p: {"nodes": {n: list(e) for n, e in s.nodes.items()}, "multi_server": list(s.multi_server)}
                for p, s in self.purposes.items()}


@dataclass(frozen=True)
class NamePolicy:
    """What shapes a run's CSRs: the extra SAN entries, and whether the CA refuses the ``-ms`` common name."""

    extra: ExtraSans = field(default_factory=ExtraSans)
    refuses_ms_common_name: bool = False


@dataclass(frozen=True)
class ExpectedNames:
    """What the CA must return for a CSR: its SAN set (``DNS:``/``IP:``), its common name, and which SAN
    entries were the parameter file's extras (for the remedy)."""

    sans: frozenset[str]
    common_name: str
    extras: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CsrNames:
    """A CSR request's names: ``alt_names`` (certmgr ``altNames``) and ``common_name`` (``commonName``; None:
    CUCM's default) and the SAN entries the CSR must then carry (``required``)."""

    node: str
    purpose: str
    multi_server: bool
    alt_names: tuple[str, ...] = ()
    common_name: str | None = None
    required: frozenset[str] = frozenset()
    extras: frozenset[str] = frozenset()

    def describe(self) -> str:
        parts = []
        if self.extras:
            parts.append("extra SAN " + ", ".join(sorted(self.extras)))
        if self.common_name:
            parts.append(f"common name {self.common_name} (the CA refuses the {MS_SUFFIX} name)")
        return "; ".join(parts)

    def expected(self, csr_pem: str) -> ExpectedNames:
        """The names the CA must return, from the CSR CUCM made; CertificateError when it lacks what was asked."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        have, cn = san_set(csr), common_name_of(csr)
        missing = sorted(self.required - have)
        if missing:
            raise CertificateError(
                f"the CSR CUCM generated lacks SAN entries the kit asked for: {', '.join(missing)}",
                node=self.node, purpose=self.purpose, operation="csr",
                remedy="check the node's certificate REST API takes altNames (CUCM 14+); or generate the CSR in "
                       "Cisco Unified OS Administration with these names, then re-run with force_csr")
        if self.common_name and cn.lower() != self.common_name.lower():
            raise CertificateError(
                f"the CSR's common name is {cn!r}, not the {self.common_name!r} the kit asked for",
                node=self.node, purpose=self.purpose, operation="csr",
                remedy="generate the CSR in Cisco Unified OS Administration with that common name, then re-run")
        return ExpectedNames(sans=have, common_name=cn, extras=self.extras)


def csr_names(*, purpose: str, node: str, nodes: Sequence[str], multi_server: bool, policy: NamePolicy,
              wildcard_ok: bool = False) -> CsrNames:
    """The request for ``purpose``'s CSR on ``node`` (a multi-server CSR: every one of ``nodes`` in its SAN).

    The extra entries are checked again (a policy built by hand skips the parameter file's checks):
    CertificateError before anything reaches the node.
    """
    extra = policy.extra.for_multi_server(purpose) if multi_server else policy.extra.for_node(purpose, node)
    try:
        extra = checked_entries(extra, multi_server=multi_server, wildcard_ok=wildcard_ok, purpose=purpose)
    except SanProblem as exc:
        raise CertificateError(f"extra SAN entry refused: {exc.problem}", node=node, purpose=purpose,
                               operation="csr", remedy=f"fix extra_sans in the parameter file: {exc.remedy}") from None
    # A multi-server CSR names every node (TAC 118731: CUCM fills them in); a single node's CSR is required to
    # carry only the extras (what else CUCM fills in, e.g. tomcat's domain, is read from the CSR itself).
    required = ({f"DNS:{n.lower()}" for n in (node, *nodes)} if multi_server else set()) | set(extra)
    common_name = node.lower() if multi_server and policy.refuses_ms_common_name else None
    return CsrNames(node=node, purpose=purpose, multi_server=multi_server,
                    alt_names=tuple(_plain(e) for e in extra), common_name=common_name,
                    required=frozenset(required), extras=frozenset(extra))


def _plain(entry: str) -> str:
    return entry.split(":", 1)[1]


def checked_entries(values: Iterable[object], *, multi_server: bool, wildcard_ok: bool,
                    purpose: str) -> tuple[str, ...]:
    """Every entry checked (``san_entry``), duplicates dropped, in the given order; ``SanProblem`` names the index."""
    out: list[str] = []
    for index, value in enumerate(values):
        try:
            entry = san_entry(value, multi_server=multi_server, wildcard_ok=wildcard_ok, purpose=purpose)
        except SanProblem as exc:
            raise IndexedSanProblem(index, exc) from None
        if entry not in out:
            out.append(entry)
    if len(out) > MAX_EXTRA_SANS:
        raise SanProblem(f"lists {len(out)} entries (more than {MAX_EXTRA_SANS})", "list only the names the "
                         "certificate must carry.")
    return tuple(out)


class IndexedSanProblem(SanProblem):
    """A ``SanProblem`` at list position ``index``."""

    def __init__(self, index: int, problem: SanProblem) -> None:
        super().__init__(problem.problem, problem.remedy)
        self.index = index
