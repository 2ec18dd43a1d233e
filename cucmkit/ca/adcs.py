"""Microsoft AD CS web enrolment (``/certsrv``) as a CA back-end (CONTRACTS §1.7).

``submit`` posts the CSR to ``certfnsh.asp`` with the template
``<prefix><purpose>`` and returns AD CS's request id, whether the request was
issued at once or left pending for a CA manager. ``collect`` fetches the chain
as PKCS#7 (``certnew.p7b``): issued -> the certificates (PEM, leaf first as AD
CS orders them); pending -> ``None``; denied -> ``CertificateError``.
"""

from __future__ import annotations

import dataclasses
import re
from html import unescape
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from pydantic import BeforeValidator, WithJsonSchema
from pydantic.dataclasses import dataclass

from cucmkit.ca.registry import BackendSpec
from cucmkit.cucm._http import HttpTransport
from cucmkit.errors import CertificateError, ParameterError
from cucmkit.params import SECTION, CaConfig, ClusterParams, FilePaths, Reference, SecretRef, Text
from cucmkit.params_base import schema_error
from cucmkit.secrets import Secret

__all__ = ["AdcsCa", "AdcsConfig", "BACKEND", "parse_submit_page"]


def _https_url(value: Any) -> str:
    text = str(value).strip() if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
        ok = parts.scheme == "https" and bool(parts.hostname) and text.isascii()
    except ValueError:
        ok = False
    if not ok:
        raise schema_error("must be an https:// URL of the CA's web enrolment",
                           'write it as "https://ca.example.com/certsrv/".')
    return text


def _ca_fqdn(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip() if isinstance(value, str) else ""
    if not text or not text.isascii() or " " in text or "/" in text:
        raise schema_error("must be the CA server's host name", "write its FQDN, e.g. ca.example.com.")
    return text.lower()


@dataclass(frozen=True, config=SECTION, kw_only=True)
class AdcsConfig(CaConfig):
    """``ca: {backend: adcs, url, username, password: {env|file|keyring}, fqdn?, template_prefix?, ca_bundle?}``."""

    backend: str = "adcs"
    url: Annotated[str, BeforeValidator(_https_url), WithJsonSchema({"type": "string", "pattern": "^https://"})]
    username: Text
    password: Reference
    fqdn: Annotated[str | None, BeforeValidator(_ca_fqdn), WithJsonSchema({"type": "string"})] = None
    template_prefix: Annotated[str, BeforeValidator(str), WithJsonSchema({"type": "string"})] = "CUCM-"
    ca_bundle: FilePaths = ()      # trust for the CA's own HTTPS (default: tls.ca_bundle)

    def template_for(self, purpose: str) -> str:
        return f"{self.template_prefix}{purpose}"

    def secrets(self) -> list[SecretRef]:
        return [self.password]

    def labelled(self, where: str) -> AdcsConfig:
        return dataclasses.replace(self, password=dataclasses.replace(self.password, where=f"{where}.password"))

_ISSUED = re.compile(r"certnew\.cer\?ReqID=(\d+)")
_PENDING = re.compile(r"Your Request Id is\s*(\d+)", re.IGNORECASE)
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.IGNORECASE | re.DOTALL)


def parse_submit_page(html: str) -> tuple[str, str]:
    """``(request_id, "issued"|"pending")`` from certfnsh.asp's answer; CertificateError otherwise."""
    issued = _ISSUED.search(html)
    if issued:
        return issued.group(1), "issued"
    pending = _PENDING.search(html)
    if pending:
        return pending.group(1), "pending"
    if "denied" in html.lower():
        why = _reason(html)
        raise CertificateError("the CA denied the request" + (f": {why}" if why else ""), interface="adcs",
                               operation="submit")
    raise CertificateError("the CA's answer holds no request id (not an AD CS enrolment page?)",
                           interface="adcs", operation="submit",
                           remedy="check ca.url and the template name in the parameter file")


def _reason(html: str) -> str:
    """The first paragraph of an AD CS denial page, as text (shortened)."""
    match = _PARAGRAPH.search(html)
    text = re.sub(r"<[^>]+>", "", match.group(1)) if match else ""
    return " ".join(unescape(text).split())[:300]


class AdcsCa:
    """AD CS web enrolment at ``url`` (``https://host:port/certsrv/``)."""

    kind = "adcs"

    def __init__(self, *, url: str, fqdn: str | None = None, username: str | None = None,
                 password: Secret | None = None, ca_bundle: tuple[Path, ...] = (),
                 template_prefix: str = "CUCM-", template_suffix: str = "",
                 connect_timeout: float = 5.0, read_timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("ca.url must be an https:// URL")
        self.url = url
        self.base_path = parts.path.rstrip("/") or "/certsrv"
        self.template_prefix = template_prefix
        self.template_suffix = template_suffix
        self.transport = HttpTransport(
            node=fqdn or parts.hostname, address=parts.hostname, port=parts.port or 443, interface="adcs",
            ca_bundle=ca_bundle, username=username, password=password,
            connect_timeout=connect_timeout, read_timeout=read_timeout,
        )

    def __repr__(self) -> str:
        return f"AdcsCa(url={self.url!r}, username={self.transport.username!r})"

    @classmethod
    def from_parameters(cls, params: ClusterParams, **overrides: Any) -> AdcsCa:
        """The parameter file's AD CS settings (``ca:``), its timeouts, and ``overrides`` on top."""
        ca = params.ca if isinstance(params.ca, AdcsConfig) else None
        kw: dict[str, Any] = dict(
            url=ca.url if ca else None, fqdn=ca.fqdn if ca else None, username=ca.username if ca else None,
            password=ca.password.resolve() if ca else None,
            ca_bundle=(ca.ca_bundle if ca and ca.ca_bundle else params.tls.ca_bundle),
            template_prefix=ca.template_prefix if ca else "CUCM-",
            connect_timeout=params.timeouts.connect, read_timeout=params.timeouts.read,
        )
        kw.update(overrides)
        if not kw["url"]:
            raise ParameterError(f"ca.backend is {params.ca.backend}: the AD CS back-end has no ca.url",
                                 remedy="give ca.url, ca.username and ca.password (or choose --ca manual).")
        return cls(**kw)

    def template(self, purpose: str) -> str:
        return f"{self.template_prefix}{purpose}{self.template_suffix}"

    def submit(self, node: str, purpose: str, csr_pem: str) -> str:
        form = {"Mode": "newreq", "CertRequest": csr_pem, "CertAttrib": f"CertificateTemplate:{self.template(purpose)}",
                "TargetStoreFlags": "0", "SaveCert": "yes"}
        response = self.transport.request("POST", f"{self.base_path}/certfnsh.asp", operation="submit",
                                          data=urlencode(form).encode("ascii"), headers=_FORM)
        request_id, _state = parse_submit_page(response.text)
        return request_id

    def collect(self, request_id: str) -> list[bytes] | None:
        response = self.transport.request("GET", f"{self.base_path}/certnew.p7b", operation="collect",
                                          params={"ReqID": request_id, "Enc": "b64"})
        body = response.content
        if b"-----BEGIN" in body:
            return _split_p7b(body, request_id)
        text = response.text.lower()
        if "pending" in text:
            return None
        if "denied" in text:
            raise CertificateError(f"the CA denied request {request_id}", interface="adcs", operation="collect",
                                   remedy="ask the CA manager why, then re-run with a fresh CSR (force_csr)")
        raise CertificateError(f"the CA's answer for request {request_id} holds no certificate",
                               interface="adcs", operation="collect")

    def close(self) -> None:
        self.transport.close()


def _split_p7b(body: bytes, request_id: str) -> list[bytes]:
    try:
        certs = pkcs7.load_pem_pkcs7_certificates(body)
    except ValueError:
        return [body]  # plain PEM: hand it to the intake as is
    if not certs:
        raise CertificateError(f"the CA returned an empty PKCS#7 for request {request_id}", interface="adcs")
    return [c.public_bytes(serialization.Encoding.PEM) for c in certs]




BACKEND = BackendSpec(kind="adcs", config=AdcsConfig, build=lambda params, folder: AdcsCa.from_parameters(params),
                      summary="Microsoft AD CS web enrolment (/certsrv), requests left pending for approval included.")
