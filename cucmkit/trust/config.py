"""The parameter file's ``trust`` and ``partners`` sections (pydantic models, checked before any network call).

```yaml
trust:
  keep: [<sha256 of a root you pin>]      # never reported orphaned, never deleted
partners:
  - {name: expressway-c, kind: expressway-c, address: 10.0.0.5, port: 5061, server_name: vcs-c.example.com}
```

A partner's ``kind`` says where the chain goes on that system and what to paste (``PARTNER_KINDS``);
``address``/``port`` name a TLS endpoint that asks for a client certificate (the handshake check), optional.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cucmkit.fingerprints import normalize_sha256

__all__ = ["TrustSettings", "PartnerParams", "PartnerKind", "PARTNER_KINDS", "PartnerFacts"]

PartnerKind = Literal["expressway-c", "expressway-e", "uccx", "unity", "cube", "idp"]


class PartnerFacts(BaseModel):
    """Where a partner keeps the CUCM chain and how an engineer puts it there (manual steps, printed)."""

    model_config = ConfigDict(frozen=True)

    title: str
    destination: str      # the store / list on the partner, used in the exported file names
    steps: tuple[str, ...]


PARTNER_KINDS: dict[str, PartnerFacts] = {
    "expressway-c": PartnerFacts(
        title="Expressway-C", destination="trusted-ca-list",
        steps=("Maintenance > Security > Trusted CA certificate: Browse, choose {bundle}, "
               "'Append CA certificate'.", "Keep the old CA in the list until the rotation removed it from CUCM.")),
    "expressway-e": PartnerFacts(
        title="Expressway-E", destination="trusted-ca-list",
        steps=("Maintenance > Security > Trusted CA certificate: Browse, choose {bundle}, "
               "'Append CA certificate'.",)),
    "uccx": PartnerFacts(
        title="UCCX / Finesse", destination="tomcat-trust",
        steps=("Cisco Unified OS Administration > Security > Certificate Management > Upload Certificate: "
               "purpose tomcat-trust, one file at a time, root first: {files}.",
               "Restart Cisco Tomcat on each UCCX node (utils service restart Cisco Tomcat).")),
    "unity": PartnerFacts(
        title="Unity Connection", destination="tomcat-trust",
        steps=("Cisco Unified OS Administration > Security > Certificate Management > Upload Certificate: "
               "purpose tomcat-trust (and CallManager-trust for secure SIP integrations), root first: {files}.",)),
    "cube": PartnerFacts(
        title="CUBE (IOS XE)", destination="trustpoint",
        steps=("conf t ; crypto pki trustpoint CUCM-ROOT ; enrollment terminal ; revocation-check none ; exit",
               "crypto pki authenticate CUCM-ROOT ; paste {root} ; end with 'quit' ; answer yes",
               "one trustpoint per further CA in {files} (crypto pki trustpoint CUCM-ISSUING ...)")),
    "idp": PartnerFacts(
        title="SAML IdP", destination="idp-signing-trust",
        steps=("Only when the IdP validates CUCM's signing certificate: import {bundle} in the relying party "
               "trust of each CUCM/IM&P node, then re-run the SSO test in CUCM.",)),
}


class TrustSettings(BaseModel):
    """``trust:``: roots the engineer pins (kept even when nothing chains to them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keep: tuple[str, ...] = Field((), description="SHA-256 fingerprints of trust certificates never to call stale")

    @field_validator("keep", mode="before")
    @classmethod
    def _fingerprints(cls, value: object) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, (list, tuple)):
            raise ValueError("must be a list of SHA-256 fingerprints")
        return tuple(normalize_sha256(str(v)) for v in value)


class PartnerParams(BaseModel):
    """One system around CUCM that must trust the new chain before CUCM serves it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: PartnerKind
    address: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    server_name: str | None = None
    required: bool = Field(True, description="a failed or impossible check stops the rotation")

    @property
    def facts(self) -> PartnerFacts:
        return PARTNER_KINDS[self.kind]

    @property
    def checkable(self) -> bool:
        return self.address is not None and self.port is not None
