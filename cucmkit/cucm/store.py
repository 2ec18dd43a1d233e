"""One certificate store per node: over the certmgr REST API (CUCM 14+) or over the admin CLI (older).

``CertStore`` is what the Node facade needs from a node's certificates; a node
picks its implementation ONCE, from its version (``store_for``), the way
napalm picks a driver per platform, and never asks "REST or CLI?" again.
Both implementations hand back equal ``CertRecord`` values, sorted the same way.

- ``RestCertStore``: ``CertMgrClient`` (``/platformcom/api/v1/certmgr/config``).
- ``CliCertStore``: ``AdminCli`` (``show cert``, ``set csr gen``, ``set cert import``...),
  one command at a time on the node's one interactive session.

A trust upload is verified by fingerprint on both paths: CUCM may answer
success and keep an older certificate with the same name (CONTRACTS §1.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

from cucmkit.certs.records import CertRecord
from cucmkit.cucm.certmgr import CertMgrClient, trust_purpose
from cucmkit.errors import CucmError
from cucmkit.fingerprints import cert_sha256

if TYPE_CHECKING:  # paramiko is imported only when a node's CLI is first used
    from cucmkit.cucm.cli import AdminCli

__all__ = ["CertStore", "CliCertStore", "CliRunner", "REST_MIN_MAJOR", "RestCertStore", "first_pem", "sort_records",
           "store_for", "uses_rest"]

REST_MIN_MAJOR = 14          # the certificate REST API exists from CUCM 14 on

T = TypeVar("T")


class CliRunner(Protocol):
    """Runs one call on a node's admin CLI session (one at a time: the session is interactive)."""

    def __call__(self, call: Callable[[AdminCli], T], /) -> T: ...


class CertStore(Protocol):
    """A node's certificates: read, CSR, upload, delete. ``interface`` names the wire ("certmgr" | "cli")."""

    interface: str

    def own_certificates(self) -> list[CertRecord]: ...

    def trust_certificates(self, store: str | None = None) -> list[CertRecord]: ...

    def all_certificates(self) -> list[CertRecord]: ...

    def generate_csr(self, purpose: str, *, common_name: str | None, alt_names: Sequence[str], key_type: str,
                     key_size: int, distribution: str) -> str: ...

    def get_csr(self, purpose: str) -> str | None: ...

    def upload_trust(self, purpose: str, pem: str, *, description: str) -> None: ...

    def upload_identity(self, purpose: str, pem: str) -> None: ...

    def delete_trust(self, store: str, filename: str) -> None: ...


def uses_rest(version: str) -> bool:
    """True when the node's version has the certificate REST API (14+)."""
    match = re.match(r"\s*(\d+)", version or "")
    return match is not None and int(match.group(1)) >= REST_MIN_MAJOR


def store_for(version: str, *, node: str, certmgr: Callable[[], CertMgrClient],
              cli: CliRunner, api: str = "auto") -> CertStore:
    """The store for a node of ``version``: REST from 14 on, else the CLI. ``cli`` runs one call on the session.

    ``api="cli"`` (the parameter file's ``certificate_api``): the CLI on any release (the REST API is not
    available on that node)."""
    if api != "cli" and uses_rest(version):
        return RestCertStore(node=node, client=certmgr)
    return CliCertStore(node=node, run=cli)


class RestCertStore:
    """Certificates over the certmgr REST API. The client is built on first use (and again after a reset)."""

    interface = "certmgr"

    def __init__(self, *, node: str, client: Callable[[], CertMgrClient]) -> None:
        self.node = node
        self._client = client

    def __repr__(self) -> str:
        return f"RestCertStore(node={self.node!r})"

    def own_certificates(self) -> list[CertRecord]:
        return sort_records(self._client().own_certificates())

    def trust_certificates(self, store: str | None = None) -> list[CertRecord]:
        return sort_records(self._client().trust_certificates(store))

    def all_certificates(self) -> list[CertRecord]:
        """Own then trust certificates, from one snapshot."""
        snapshot = self._client().snapshot()
        return sort_records(snapshot.identities) + sort_records(snapshot.trusts)

    def generate_csr(self, purpose: str, *, common_name: str | None = None, alt_names: Sequence[str] = (),
                     key_type: str = "rsa", key_size: int = 2048, distribution: str = "this-server") -> str:
        return self._client().generate_csr(purpose, common_name=common_name, alt_names=alt_names,
                                           key_type=key_type, key_size=key_size, distribution=distribution)

    def get_csr(self, purpose: str) -> str | None:
        return self._client().get_csr(purpose)

    def upload_trust(self, purpose: str, pem: str, *, description: str = "cucmkit") -> None:
        results = self._client().upload_trust(purpose, [pem], description=description)
        reason = "; ".join(r.reason for r in results if not r.stored and r.reason)
        stored = {r.fingerprint_sha256 for r in self._client().trust_store(purpose)}
        _check_stored(self.node, self.interface, purpose, pem, stored, reason)

    def upload_identity(self, purpose: str, pem: str) -> None:
        self._client().upload_identity(purpose, [pem])

    def delete_trust(self, store: str, filename: str) -> None:
        self._client().delete_trust(trust_purpose(store), filename)


class CliCertStore:
    """Certificates over the admin CLI, one command at a time on the node's session."""

    interface = "cli"

    def __init__(self, *, node: str, run: CliRunner) -> None:
        self.node = node
        self._run = run

    def __repr__(self) -> str:
        return f"CliCertStore(node={self.node!r})"

    def own_certificates(self) -> list[CertRecord]:
        return sort_records(self._run(lambda cli: [cli.show_cert("own", item.path) for item in cli.list_certs("own")]))

    def trust_certificates(self, store: str | None = None) -> list[CertRecord]:
        def read(cli: AdminCli) -> list[CertRecord]:
            listing = [i for i in cli.list_certs("trust") if store is None or i.unit == store]
            return [cli.show_cert("trust", item.path) for item in listing]
        return sort_records(self._run(read))

    def all_certificates(self) -> list[CertRecord]:
        return self.own_certificates() + self.trust_certificates()

    def generate_csr(self, purpose: str, *, common_name: str | None = None, alt_names: Sequence[str] = (),
                     key_type: str = "rsa", key_size: int = 2048, distribution: str = "this-server") -> str:
        if distribution != "this-server" or alt_names or common_name:
            raise CucmError("the CLI path (CUCM before 14) makes only this-server CSRs with the node's own name",
                            node=self.node, interface=self.interface, operation="set csr gen", purpose=purpose,
                            remedy="generate multi-server or custom-SAN CSRs in the OS Administration GUI (for "
                                   "tomcat, `set web-security ... alternatehostname` adds one alternate name), or "
                                   "remove the node's extra_sans.")
        return self._run(lambda cli: _csr_via_cli(cli, purpose))

    def get_csr(self, purpose: str) -> str | None:
        return self._run(lambda cli: cli.show_csr(purpose))

    def upload_trust(self, purpose: str, pem: str, *, description: str = "cucmkit") -> None:
        output = self._run(lambda cli: cli.import_cert("trust", purpose, pem))
        reason = "" if "Successfully" in output else output.strip()
        stored = {r.fingerprint_sha256 for r in self.trust_certificates(f"{purpose}-trust")}
        _check_stored(self.node, self.interface, purpose, pem, stored, reason)

    def upload_identity(self, purpose: str, pem: str) -> None:
        self._run(lambda cli: cli.import_cert("own", purpose, pem))

    def delete_trust(self, store: str, filename: str) -> None:
        self._run(lambda cli: cli.delete_trust(store, filename))


# -- helpers ------------------------------------------------------------------------------


def _check_stored(node: str, interface: str, purpose: str, pem: str, stored: set[str], reason: str) -> None:
    """CUCM may answer success and keep an older certificate of the same name: verify by fingerprint."""
    if cert_sha256(first_pem(pem)) in stored:
        return
    raise CucmError(f"the certificate was not stored in {purpose}-trust"
                    + (f": {reason}" if reason else " (CUCM answered success but kept another one)"),
                    node=node, interface=interface, operation="upload trust", purpose=purpose,
                    remedy="delete the older certificate with the same name from the trust store, then retry.")


def _csr_via_cli(cli: AdminCli, purpose: str) -> str:
    cli.csr_gen(purpose)
    csr = cli.show_csr(purpose)
    if not csr:
        raise CucmError("the CSR was generated but cannot be read back", node=cli.node, interface="cli",
                        operation="show csr own", purpose=purpose)
    return csr


def first_pem(text: str) -> str:
    """The first PEM certificate in ``text``; ValueError when there is none."""
    match = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.DOTALL)
    if not match:
        raise ValueError("pem must hold a PEM certificate")
    return match.group(0) + "\n"


def sort_records(records: Iterable[CertRecord]) -> list[CertRecord]:
    """Own before trust, then by store, purpose, filename and fingerprint (both stores sort alike)."""
    return sorted(records, key=lambda r: (r.store != "own", r.store, r.purpose or "", r.filename or "",
                                          r.fingerprint_sha256))
