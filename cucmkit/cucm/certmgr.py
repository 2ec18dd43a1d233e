"""CUCM's Certificate Management REST API (14+): ``/platformcom/api/v1/certmgr/config``.

One client per node, Basic auth with the OS admin (CONTRACTS §1.1). Answers
become ``CertRecord`` values; CUCM's refusals become ``HttpStatusError`` (a
``CucmError``) whose message is CUCM's own message, with node, interface,
operation and purpose attached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import requests

from cucmkit.certs.records import CertRecord, record_from_pem
from cucmkit.cucm._http import HttpTransport
from cucmkit.errors import CertificateError, CucmError, HttpStatusError

__all__ = ["CertMgrClient", "Snapshot", "TrustUpload", "IdentityUpload", "BASE_PATH", "INTERFACE"]

BASE_PATH = "/platformcom/api/v1/certmgr/config"
INTERFACE = "certmgr"


@dataclass(frozen=True)
class Snapshot:
    server: str
    identities: tuple[CertRecord, ...]
    trusts: tuple[CertRecord, ...]
    pending_csrs: tuple[tuple[str, str], ...] = ()   # (purpose, CSR PEM)


@dataclass(frozen=True)
class TrustUpload:
    filename: str
    stored: bool
    reason: str = ""


@dataclass(frozen=True)
class IdentityUpload:
    message: str
    restart: str = ""


def trust_purpose(store: str) -> str:
    """``tomcat-trust`` -> ``tomcat`` (the purpose a trust store belongs to)."""
    return store[: -len("-trust")] if store.endswith("-trust") else store


class CertMgrClient:
    """Certificates of one node over REST. A context manager (closes its transport)."""

    def __init__(self, *, transport: HttpTransport) -> None:
        self._http = transport

    @property
    def node(self) -> str:
        return self._http.node

    def __repr__(self) -> str:
        return f"CertMgrClient(node={self.node!r})"

    def __enter__(self) -> CertMgrClient:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- reads ------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        body = self._call("GET", "/snapshot/server", "snapshot")
        identities, csrs = [], []
        for item in _list(body, "identities"):
            service = str(item.get("service", ""))
            if item.get("certificate"):
                identities.append(self._record(item["certificate"], purpose=service, store="own",
                                               filename=item.get("filename") or f"{service}.pem"))
            if item.get("csr"):
                csrs.append((service, str(item["csr"])))
        trusts = [
            self._record(entry["certificate"], purpose=trust_purpose(str(store.get("service", ""))),
                         store=str(store.get("service", "")), filename=entry.get("filename"))
            for store in _list(body, "trusts") for entry in _list(store, "certificate_data")
            if entry.get("certificate")
        ]
        return Snapshot(server=str(body.get("server", self.node)), identities=tuple(identities),
                        trusts=tuple(trusts), pending_csrs=tuple(csrs))

    def own_certificates(self) -> list[CertRecord]:
        return list(self.snapshot().identities)

    def trust_certificates(self, store: str | None = None) -> list[CertRecord]:
        trusts = self.snapshot().trusts
        return [r for r in trusts if store is None or r.store == store]

    def trust_store(self, purpose: str) -> list[CertRecord]:
        """``GET /trust/certificate?service=<purpose>``: the ``<purpose>-trust`` store."""
        body = self._call("GET", "/trust/certificate", "list trust", params={"service": purpose}, purpose=purpose)
        store = f"{purpose}-trust"
        return [self._record(e["certificate"], purpose=purpose, store=store, filename=e.get("filename"))
                for e in _list(body, "certificates") if e.get("certificate")]

    def get_csr(self, purpose: str) -> str | None:
        """The pending CSR (PEM) of ``purpose``, or None when CUCM says it does not exist."""
        try:
            body = self._call("GET", "/csr", "get csr", params={"service": purpose}, purpose=purpose)
        except HttpStatusError as exc:
            if exc.status == 404:
                return None
            raise
        return str(body.get("csr") or "") or None

    # -- writes -----------------------------------------------------------------------------

    def generate_csr(
        self,
        purpose: str,
        *,
        common_name: str | None = None,
        alt_names: Sequence[str] = (),
        key_type: str = "rsa",
        key_size: int = 2048,
        distribution: str = "this-server",
        hash_algorithm: str = "sha256",
    ) -> str:
        """``POST /csr``; returns the CSR PEM (it replaces any pending CSR of ``purpose``)."""
        payload: dict[str, Any] = {
            "service": purpose, "distribution": distribution, "keyType": key_type.lower(),
            "keyLength": int(key_size), "hashAlgorithm": hash_algorithm, "altNames": list(alt_names),
        }
        if common_name:
            payload["commonName"] = common_name
        body = self._call("POST", "/csr", "generate csr", json=payload, purpose=purpose)
        csr = str(body.get("csr") or "")
        if "CERTIFICATE REQUEST" not in csr:
            raise CucmError("the node answered without a CSR", **self._where("generate csr", purpose))
        return csr

    def upload_identity(self, purpose: str, pems: Sequence[str] | str) -> IdentityUpload:
        """``POST /identity/certificates``: the leaf first, optional chain after (ignored by CUCM)."""
        certificates = [pems] if isinstance(pems, str) else list(pems)
        body = self._call("POST", "/identity/certificates", "upload identity",
                          json={"service": purpose, "certificates": certificates}, purpose=purpose)
        return IdentityUpload(message=str(body.get("message", "")), restart=str(body.get("restart", "")))

    def upload_trust(self, purpose: str, pems: Sequence[str] | str, *, description: str = "cucmkit") -> list[TrustUpload]:
        """``POST /trust/certificates``; returns per-certificate results (CUCM may silently keep older ones)."""
        certificates = [pems] if isinstance(pems, str) else list(pems)
        body = self._call("POST", "/trust/certificates", "upload trust",
                          json={"service": [purpose], "certificates": certificates, "description": description},
                          purpose=purpose)
        return [TrustUpload(filename=str(r.get("filename", "")), stored=bool(r.get("stored", True)),
                            reason=str(r.get("reason") or "")) for r in _list(body, "results")]

    def delete_trust(self, purpose: str, filename: str) -> None:
        """``DELETE /trust/certificate?service=<purpose>&filename=<file>``."""
        self._call("DELETE", "/trust/certificate", "delete trust",
                   params={"service": purpose, "filename": filename}, purpose=purpose)

    # -- plumbing ---------------------------------------------------------------------------

    def _where(self, operation: str, purpose: str | None = None) -> dict[str, Any]:
        return {"node": self.node, "interface": INTERFACE, "operation": operation, "purpose": purpose}

    def _call(self, method: str, path: str, operation: str, *, purpose: str | None = None,
              **kw: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, BASE_PATH + path, operation=operation, **kw)
        except HttpStatusError as exc:
            refusal = _cucm_refusal(exc, purpose)
            if refusal is exc:
                raise
            raise refusal from exc
        return _json(response, self._where(operation, purpose))

    def _record(self, pem: str, *, purpose: str | None, store: str, filename: str | None) -> CertRecord:
        try:
            return record_from_pem(pem, node=self.node, purpose=purpose, store=store, filename=filename)
        except CertificateError as exc:
            raise CucmError(f"the node returned an unreadable certificate {filename}: {exc.message}",
                            **self._where("snapshot", purpose)) from exc


def _cucm_refusal(exc: HttpStatusError, purpose: str | None) -> HttpStatusError:
    """Re-raise with CUCM's own message as the error text (401/403 keep the transport's text)."""
    message = exc.context.get("cucm_message")
    if exc.status in (401, 403) or not message:
        if purpose and not exc.purpose:
            exc.purpose = purpose
        return exc
    return HttpStatusError(str(message), status=exc.status, node=exc.node, interface=exc.interface,
                           operation=exc.operation, purpose=purpose, cucm_message=message)


def _json(response: requests.Response, where: dict[str, Any]) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise CucmError("the node answered with something that is not JSON", **where) from None
    if not isinstance(body, dict):
        raise CucmError("the node answered with unexpected JSON", **where)
    return body


def _list(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = body.get(key) or []
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
