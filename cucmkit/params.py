"""The cluster parameter file: bounded safe YAML, a typed frozen pydantic schema, checked before any network call.

```yaml
# yaml-language-server: $schema=../docs/parameters.schema.json
cluster: lab
nodes:
  - {fqdn: cucm-pub.lab.example, address: 127.0.0.1, role: publisher, kind: CUCM, version: auto,
     https_port: 8443, ssh_port: 2222}
credentials:
  os_admin: {username: admin, password: {file: .lab/secrets/os_admin}}
  app_user: {username: ccmadmin, password: {env: CUCM_APP_PASSWORD}}
tls: {ca_bundle: [.lab/ca-bundle.pem], pins: {}}
ssh: {known_hosts: .lab/known_hosts, host_key_policy: reject}   # per node: ssh_host_key_sha256
timeouts: {connect: 5, read: 30, cli_prompt: 30, restart: 600, registration: 1800}
maintenance_window: {start: "2026-11-26T22:00:00+00:00", end: "2026-11-27T04:00:00+00:00"}
ca: {backend: lab, url: "https://127.0.0.1:9443/certsrv/", fqdn: ca.lab.example, username: causer,
     password: {file: .lab/secrets/ca_user}, template_prefix: CUCM-}
registration: {tolerance: 0, baseline: auto}   # optional: risport_rate: 15, risport_window: 60
expiry_threshold_days: 60
retries:
  risport: {attempts: 4, backoff_seconds: 10, max_backoff_seconds: 60}
  axl: {attempts: 5, backoff_seconds: 2, max_backoff_seconds: 30}
```

The value types are pydantic dataclasses (frozen; ``dataclasses.replace``
works). The ``ca:`` section is validated by the chosen back-end's own config
model (``cucmkit.ca.registry``). Passwords are references only (``{env: VAR}``,
``{file: PATH}``, ``{keyring: "service/user"}``); a plain value is refused.
Relative paths resolve against ``$CUCMKIT_ROOT``, else the nearest ancestor of
the working directory that has a ``parameters/`` folder. Every error names the
key path (``nodes[1].https_port``) and the remedy, and quotes values shortened,
never a secret. The YAML reader is bounded (size, depth, expanded size).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import ArgsKwargs, PydanticCustomError

from cucmkit.errors import ParameterError
from cucmkit.fingerprints import normalize_sha256, normalize_ssh_sha256
from cucmkit.params_base import CaSection, parameter_error, schema_error
from cucmkit.params_sans import extra_sans_section, resolve_san_nodes
from cucmkit.params_yaml import load_yaml, quote
from cucmkit.sans import ExtraSans, is_fqdn
from cucmkit.secrets import REFERENCE_KINDS, Secret, resolve
from cucmkit.trust.config import PartnerParams, TrustSettings

__all__ = [
    "ClusterParams",
    "NodeParams",
    "Account",
    "Credentials",
    "SecretRef",
    "TlsTrust",
    "Timeouts",
    "MaintenanceWindow",
    "RegistrationParams",
    "SshTrust",
    "Backoff",
    "Retries",
    "HOST_KEY_POLICIES",
    "normalize_ssh_fingerprint",
    "load_parameters",
    "from_notebook",
    "find_root",
    "load_yaml",
    "json_schema",
    "parameter_error",
    "TOP_LEVEL_KEYS",
    "EVIDENCE_KEYS",
    "EvidenceParams",
    "evidence_section",
    "TRUST_KEYS",
    "SECTION",
    "CaConfig",
    "CaSection",
    "schema_error",
    "days_argument",
    "Text",
    "Port",
    "Seconds",
    "FilePath",
    "FilePaths",
    "Reference",
]

ROLES = ("publisher", "subscriber")
KINDS = ("CUCM", "IM&P")
HOST_KEY_POLICIES = ("reject", "warn")
CERTIFICATE_APIS = ("auto", "cli")
MAX_SECONDS = 10_000_000.0        # ~115 days: any larger timeout or delay is a typo
MAX_NODES = 200                   # a budget, well above any one cluster's node count
_REF_HOW = "reference it as {env: ...} / {file: ...} / {keyring: ...}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)*(?:-[0-9]+)?")
_CLUSTER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SECTION = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
normalize_ssh_fingerprint = normalize_ssh_sha256   # the name this module exported before fingerprints.py


# ---------------------------------------------------------------------------- errors


_bad = schema_error    # the short name this module's validators use


def _section(value: Any, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> Any:
    """A mapping with only ``allowed`` keys and every ``required`` one; None values dropped (= default)."""
    if isinstance(value, ArgsKwargs) or dataclasses.is_dataclass(value):
        return value
    if not isinstance(value, Mapping):
        raise _bad(f"must be a mapping (got {type(value).__name__})", "write it as key: value pairs.")
    for key in value:
        if key not in allowed:
            raise _bad("unknown key", f"use one of: {', '.join(allowed)} (check the spelling).",
                       key[:60] if isinstance(key, str) else quote(key, 60))
    for key in required:
        if value.get(key) is None:
            raise _bad("is required", f"add {key} to the parameter file.", key)
    return {k: v for k, v in value.items() if v is not None}


def _fields(cls: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


# ---------------------------------------------------------------------------- scalar types


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
        raise _bad("must be a non-empty string", "write a plain string value.")
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad("must be a non-empty string", "write a plain string value.")
    text = str(value).strip()
    if len(text) > 1024:
        raise _bad("is too long (more than 1024 characters)", "write a short plain value.")
    return text


def _number(value: Any, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"must be {what} (got {quote(value)})", "fix the number.")
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(f"must be a finite number (got {quote(value)})", "write a plain number such as 30.")
    if not low <= value <= high:
        raise _bad(f"must be {what} (got {quote(value)})", "fix the number.")
    return value


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _bad(f"must be an integer {low}..{high} (got {quote(value)})", "fix the number.")
        return value
    return check


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(f"must be true or false (got {quote(value)})", "write true or false.")
    return value


def _seconds(value: Any) -> float:
    number = _number(value, -math.inf, MAX_SECONDS, f"a positive number of seconds up to {MAX_SECONDS:g}")
    if number <= 0:
        raise _bad(f"must be a positive number of seconds (got {quote(value)})", "fix the number.")
    return float(number)


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = _text(value)
        for option in options:
            if text.lower() == option.lower():
                return option
        raise _bad(f"must be one of {', '.join(options)} (got {quote(text)})", "use one of the listed values.")
    return check


def _fqdn(value: Any) -> str:
    text = _text(value)
    if not is_fqdn(text):
        raise _bad(f"{quote(text)} is not a fully qualified host name (ASCII letters, digits, hyphens, dots)",
                   "write the node's FQDN as in its certificate (host.domain), and its IP under address.")
    return text.lower()


def _address(value: Any) -> str:
    text = _text(value)
    if "://" in text or "/" in text:
        raise _bad(f"{quote(text)} is a URL or a path, not an address",
                   "write a host name or an IP address (no scheme, no path); ports go in https_port / ssh_port.")
    if text.isascii():
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            if _HOST.fullmatch(text) and not text.replace(".", "").isdigit():
                return text.lower()
    raise _bad(f"{quote(text)} is not a host name or an IP address (ASCII letters and digits only)",
               "write the node's IP address or DNS name.")


def _version(value: Any) -> str:
    text = _text(value)
    if text != "auto" and not _VERSION.fullmatch(text):
        raise _bad(f"{quote(text)} is not a CUCM version",
                   'write "auto" or a version such as "12.5", "14.0.1.13900-155" (quoted).')
    return text


def _cluster(value: Any) -> str:
    text = _text(value)
    if not _CLUSTER.fullmatch(text):
        raise _bad(f"{quote(text)} must be a simple name (letters, digits, . _ -; up to 64)",
                   "it names folders for state and evidence.")
    return text


def _path(value: Any, info: ValidationInfo) -> Path:
    if isinstance(value, Path):
        return value
    candidate = Path(_text(value)).expanduser()
    root = (info.context or {}).get("root")
    return candidate if candidate.is_absolute() or root is None else Path(root) / candidate


def _paths(value: Any, info: ValidationInfo) -> tuple[Path, ...]:
    items = (value,) if isinstance(value, (str, Path)) else value
    if not isinstance(items, (list, tuple)):
        raise _bad("must be a list of file paths", "write it as [path/to/ca.pem].")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(_path(item, info))
        except PydanticCustomError as exc:
            raise _bad(exc.message(), "write a plain file path.", i) from None
    return tuple(out)


def _pin(value: Any) -> str:
    try:
        return normalize_sha256(_text(value))
    except ValueError:
        raise _bad("is not a SHA-256 fingerprint (64 hex characters, colons allowed)",
                   "copy the fingerprint shown by `cucmkit trust fetch -f PARAMS`.") from None


def _ssh_pins(value: Any) -> tuple[str, ...]:
    if value == ():
        return ()
    single = isinstance(value, str)
    items = [value] if single else value
    if not isinstance(items, (list, tuple)) or not items:
        raise _bad("must be a fingerprint or a list of them", "write ssh_host_key_sha256: SHA256:....")
    pins = []
    for i, item in enumerate(items):
        at: tuple[int, ...] = () if single else (i,)
        try:
            pins.append(normalize_ssh_sha256(_text(item)))
        except (ValueError, PydanticCustomError) as exc:
            text = exc.message() if isinstance(exc, PydanticCustomError) else str(exc)
            raise _bad(text, "copy the SSH fingerprint shown by `cucmkit trust fetch -f PARAMS`.", *at) from None
    return tuple(pins)


def _when(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = _text(value)
        try:
            if not text.isascii():
                raise ValueError(text)
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise _bad(f"{quote(text)} is not an ISO 8601 date-time",
                       'write it quoted, e.g. "2026-11-26T22:00:00+00:00".') from None
    if moment.tzinfo is None:
        raise _bad("has no time zone", 'add the offset, e.g. "2026-11-26T22:00:00+00:00".')
    try:
        return moment.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise _bad("is at the edge of the calendar (not a representable UTC time)",
                   "write a real date, e.g. \"2026-11-26T22:00:00+00:00\".") from None


def _baseline(value: Any) -> str | int:
    if value == "auto" and isinstance(value, str):
        return "auto"
    return _integer(0, 1_000_000)(value)


Text = Annotated[str, BeforeValidator(_text)]
Port = Annotated[int, BeforeValidator(_integer(1, 65535)), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 65535})]
Seconds = Annotated[float, BeforeValidator(_seconds),
                    WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": MAX_SECONDS})]
FilePath = Annotated[Path, PlainValidator(_path), WithJsonSchema({"type": "string", "description": "a file path"})]
FilePaths = Annotated[tuple[Path, ...], PlainValidator(_paths),
                      WithJsonSchema({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})]
Moment = Annotated[dt.datetime, PlainValidator(_when),
                   WithJsonSchema({"type": "string", "format": "date-time", "description": "ISO 8601 with offset"})]
_HEX64_SCHEMA = {"type": "string", "pattern": "^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$"}
Pin = Annotated[str, PlainValidator(_pin), WithJsonSchema(_HEX64_SCHEMA)]
_SSH_PIN_SCHEMA = {"type": "string", "description": "SHA256:<base64> or 64 hex characters"}
SshPins = Annotated[tuple[str, ...], PlainValidator(_ssh_pins),
                    WithJsonSchema({"oneOf": [_SSH_PIN_SCHEMA, {"type": "array", "items": _SSH_PIN_SCHEMA}]})]


# ---------------------------------------------------------------------------- schema


@dataclasses.dataclass(frozen=True)
class SecretRef:
    """An unresolved secret reference, with the folder relative files resolve against."""

    kind: str
    target: str
    base: Path
    where: str = "secret"

    def resolve(self) -> Secret:
        return resolve({self.kind: self.target}, base=self.base, where=self.where)

    def __repr__(self) -> str:
        return f"SecretRef({self.kind}:{self.target})"


def _secret_ref(value: Any, info: ValidationInfo) -> SecretRef:
    if isinstance(value, SecretRef):
        return value
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        raise _bad("a plain password is not allowed in the parameter file",
                   f"{_REF_HOW}, e.g. password: {{env: CUCM_PASSWORD}}.")
    if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in REFERENCE_KINDS:
        raise _bad("must be exactly one of env, file, keyring", f"{_REF_HOW}.")
    kind, target = next(iter(value.items()))
    try:
        target = _text(target)
    except PydanticCustomError as exc:
        raise _bad(exc.message(), "write the variable name, file path or service/user.", kind) from None
    root = Path((info.context or {}).get("root") or ".")
    if kind == "file" and not Path(target).expanduser().is_absolute():
        target = str(root / target)
    return SecretRef(kind=kind, target=target, base=root)


_REF_SCHEMA = {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
               "properties": {k: {"type": "string"} for k in REFERENCE_KINDS},
               "description": "a secret reference: {env: VAR}, {file: PATH} or {keyring: service/user}"}
Reference = Annotated[SecretRef, PlainValidator(_secret_ref), WithJsonSchema(_REF_SCHEMA)]


@dataclass(frozen=True, config=SECTION)
class Account:
    username: Text
    password: Reference

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        return _section(value, ("username", "password"), ("username", "password"))

    def secret(self) -> Secret:
        return self.password.resolve()


@dataclass(frozen=True, config=SECTION)
class Credentials:
    os_admin: Account                 # platform/CLI admin: certificate REST and the SSH CLI
    app_user: Account                 # application user: AXL, RisPort, Control Center
    axl: Account | None = None        # optional dedicated AXL account (default app_user)
    serviceability: Account | None = None  # optional dedicated RisPort/Control Center account

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        return _section(value, _fields(cls), ("os_admin", "app_user"))

    def for_axl(self) -> Account:
        return self.axl or self.app_user

    def for_serviceability(self) -> Account:
        return self.serviceability or self.app_user


@dataclass(frozen=True, config=SECTION)
class NodeParams:
    fqdn: Annotated[str, BeforeValidator(_fqdn)]
    address: Annotated[str, BeforeValidator(_address)] = ""
    role: Annotated[str, BeforeValidator(_choice(ROLES)), WithJsonSchema({"enum": list(ROLES)})] = "subscriber"
    kind: Annotated[str, BeforeValidator(_choice(KINDS)), WithJsonSchema({"enum": list(KINDS)})] = "CUCM"
    version: Annotated[str, BeforeValidator(_version)] = "auto"
    https_port: Port = 443
    ssh_port: Port = 22
    os_admin: Account | None = None   # per-node OS admin (else credentials.os_admin)
    ssh_host_key_sha256: SshPins = ()  # "SHA256:<base64>" pins of the node's SSH host key(s)
    # how the kit reads and writes the node's certificates: auto (REST from 14, else the CLI), or cli where the
    # certificate REST API is not available (blocked, not running)
    certificate_api: Annotated[str, BeforeValidator(_choice(CERTIFICATE_APIS)),
                               WithJsonSchema({"enum": list(CERTIFICATE_APIS)})] = "auto"

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        section = _section(value, _fields(cls), ("fqdn",))
        if isinstance(section, dict) and "address" not in section:
            section["address"] = section["fqdn"]    # default: the FQDN itself
        return section

    @property
    def short(self) -> str:
        return self.fqdn.split(".", 1)[0]

    @property
    def domain(self) -> str:
        return self.fqdn.split(".", 1)[1] if "." in self.fqdn else ""


def _pins_view(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType({k.lower(): v for k, v in value.items()})


@dataclass(frozen=True, config=SECTION)
class TlsTrust:
    ca_bundle: FilePaths = ()
    pins: Annotated[Mapping[str, Pin], AfterValidator(_pins_view)] = Field(default_factory=lambda: MappingProxyType({}))

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        return _section(value, _fields(cls))

    def pin_for(self, fqdn: str) -> str | None:
        return self.pins.get(fqdn.lower())


@dataclass(frozen=True, config=SECTION)
class SshTrust:
    """How SSH host keys are checked: a known_hosts file, and what to do with an unknown key."""

    known_hosts: FilePath | None = None
    host_key_policy: Annotated[str, BeforeValidator(_choice(HOST_KEY_POLICIES)),
                               WithJsonSchema({"enum": list(HOST_KEY_POLICIES)})] = "warn"

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        section = _section(value, _fields(cls))
        if isinstance(section, dict) and "host_key_policy" not in section:   # reject once known_hosts is given
            section["host_key_policy"] = "reject" if section.get("known_hosts") else "warn"
        return section


@dataclass(frozen=True, config=SECTION)
class Backoff:
    """Retries of one client: tries per request, first delay (doubled each try), delay cap."""

    attempts: Annotated[int, BeforeValidator(_integer(1, 100))]
    backoff_seconds: Seconds
    max_backoff_seconds: Seconds

    @model_validator(mode="after")
    def _cap(self) -> Backoff:
        if self.max_backoff_seconds < self.backoff_seconds:
            raise _bad("must not be below backoff_seconds", "raise it or lower backoff_seconds.", "max_backoff_seconds")
        return self


_RISPORT = Backoff(attempts=4, backoff_seconds=10.0, max_backoff_seconds=60.0)
_AXL = Backoff(attempts=5, backoff_seconds=2.0, max_backoff_seconds=30.0)


def _backoff_over(default: Backoff) -> Callable[[Any], Any]:
    """A partial ``retries.<client>`` section: the keys given, the rest from ``default``."""
    def fill(value: Any) -> Any:
        section = _section(value, _fields(Backoff))
        return {**dataclasses.asdict(default), **section} if isinstance(section, dict) else section
    return fill


@dataclass(frozen=True, config=SECTION)
class Retries:
    risport: Annotated[Backoff, BeforeValidator(_backoff_over(_RISPORT))] = _RISPORT
    axl: Annotated[Backoff, BeforeValidator(_backoff_over(_AXL))] = _AXL

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        return _section(value, _fields(cls))


@dataclass(frozen=True, config=SECTION)
class Timeouts:
    """Seconds: TCP connect, HTTP read, CLI prompt, a service restart, phones re-registering."""

    connect: Seconds = 5.0
    read: Seconds = 30.0
    cli_prompt: Seconds = 30.0
    restart: Seconds = 600.0
    registration: Seconds = 1800.0

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        return _section(value, _fields(cls))


@dataclass(frozen=True, config=SECTION)
class MaintenanceWindow:
    """When services may be restarted and phones reset, ``[start, end)``; a ``None`` bound is open.

    The parameter file must give both bounds (``maintenance_window: null`` = always).
    """

    start: Moment | None = None
    end: Moment | None = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any, info: ValidationInfo) -> Any:
        required = ("start", "end") if (info.context or {}).get("file") else ()
        return _section(value, ("start", "end"), required)

    @model_validator(mode="after")
    def _order(self) -> MaintenanceWindow:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise _bad("must be after start", "fix the window.", "end")
        return self

    def contains(self, now: dt.datetime) -> bool:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return (self.start is None or self.start <= now) and (self.end is None or now < self.end)

    def describe(self) -> str:
        if self.start is None and self.end is None:
            return "any time (no maintenance window set)"
        return f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC" if self.start and self.end else "open-ended"

    @classmethod
    def from_any(cls, value: Any) -> MaintenanceWindow:
        """None (always), a window, or a ``{start, end}`` mapping of ISO 8601 strings."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            value = {"start": getattr(value, "start", None), "end": getattr(value, "end", None)}
        return TypeAdapter(cls).validate_python(value)


@dataclass(frozen=True, config=SECTION)
class RegistrationParams:
    tolerance: Annotated[int, BeforeValidator(_integer(0, 1_000_000))] = 0
    baseline: Annotated[str | int, PlainValidator(_baseline),
                        WithJsonSchema({"oneOf": [{"const": "auto"}, {"type": "integer", "minimum": 0}]})] = "auto"
    risport_rate: Annotated[int, BeforeValidator(_integer(1, 10_000))] = 15   # RisPort requests per window (CUCM's default)
    risport_window: Seconds = 60.0    # seconds

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        return _section(value, _fields(cls))


# What a parameter file may hold at its top level; every runbook's parameters
# cell has each of these (default None) so papermill `-f` can inject them.
TOP_LEVEL_KEYS = (
    "cluster", "nodes", "credentials", "tls", "ssh", "timeouts", "retries", "maintenance_window",
    "ca", "registration", "expiry_threshold_days",
    "extra_sans", "multi_server",
)
# Optional sections read by `cucmkit trust` and notebooks/trust.ipynb only (runbooks do not inject them).
TRUST_KEYS = ("trust", "partners")
# Optional section read by the evidence writer only (the runner's process, never the kernel).
EVIDENCE_KEYS = ("evidence",)


@dataclass(frozen=True, config=SECTION)
class EvidenceParams:
    """The ``evidence`` section: the team's key and certificate that sign every evidence manifest.

    ``signing_key`` is a secret reference: ``{file: PATH}`` names the PEM file (read whole), ``{env: VAR}`` /
    ``{keyring: ..}`` hold the PEM text; ``signing_cert`` the team's certificate; ``signing_ca`` (optional) the
    team CA that ``cucmkit evidence verify`` checks the signer against. Without a key the evidence is unsigned.
    """

    signing_key: Reference | None = None
    signing_cert: FilePath | None = None
    signing_ca: FilePath | None = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        return _section(value, _fields(cls))

    @model_validator(mode="after")
    def _pair(self) -> EvidenceParams:
        if (self.signing_key is None) != (self.signing_cert is None):
            raise _bad("needs both signing_key and signing_cert", "give both (or neither: the evidence is then "
                       "unsigned).", "signing_cert" if self.signing_cert is None else "signing_key")
        return self

    @property
    def signs(self) -> bool:
        return self.signing_key is not None


_EVIDENCE_ADAPTER: TypeAdapter[EvidenceParams] = TypeAdapter(EvidenceParams)


def evidence_section(source: Path) -> EvidenceParams:
    """The ``evidence`` section of the parameter file ``source`` alone (even a file without nodes); absent: unsigned.

    Relative paths resolve as ``load_parameters`` resolves them.
    """
    data = load_yaml(source)
    value = data.get("evidence") if isinstance(data, Mapping) else None
    try:
        section = _EVIDENCE_ADAPTER.validate_python(value or {}, context={"root": _root_for(source, None),
                                                                          "file": True})
    except ValidationError as exc:
        raise parameter_error(exc, ("evidence",)) from None
    key = section.signing_key
    return dataclasses.replace(section, signing_key=dataclasses.replace(key, where="evidence.signing_key")) \
        if key is not None else section


@dataclass(frozen=True, config=SECTION)
class CaConfig:
    """The ``ca:`` section; each CA back-end subclasses it with its own keys (``cucmkit.ca.registry``).

    ``refuses_ms_common_name``: this CA refuses CUCM's multi-server common name ``<publisher>-ms.<domain>``;
    the kit then asks CUCM for a multi-server CSR whose common name is the holder's FQDN (PROCEDURE.md).
    """

    backend: str = "manual"
    outbox: FilePath | None = None     # the manual flow's folders: any run may choose it (--ca manual)
    inbox: FilePath | None = None
    refuses_ms_common_name: Annotated[bool, BeforeValidator(_flag)] = False

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        fields = dataclasses.fields(cls)
        required = tuple(f.name for f in fields if f.default is dataclasses.MISSING
                         and f.default_factory is dataclasses.MISSING)
        return _section(value, tuple(f.name for f in fields), required)

    def secrets(self) -> list[SecretRef]:
        """The secret references checked at load (resolved once, before any network call)."""
        return []

    def labelled(self, where: str) -> CaConfig:
        """This config with its secret references named by key path (``ca.password``)."""
        return self


def _ca_config(value: Any, info: ValidationInfo) -> CaSection:
    from cucmkit.ca.registry import validate_config  # the registry imports this module

    return validate_config(value, context=info.context)


def _default_ca() -> CaSection:
    from cucmkit.ca.registry import validate_config

    return validate_config(None)


_CA_SCHEMA = {"type": "object"}   # replaced by the registry's alternatives in json_schema()


def _extra_sans(value: Any) -> ExtraSans:
    """``extra_sans: {<purpose>: {nodes: {<node>: [names]}, multi_server: [names]}}``, checked by ``cucmkit.sans``."""
    if isinstance(value, ExtraSans):
        return value
    return extra_sans_section(value, _bad)


_NAMES_SCHEMA = {"type": "array", "items": {"type": "string"}}
_EXTRA_SANS_SCHEMA = {
    "type": "object", "description": "extra SAN entries per certificate purpose (docs/parameters.md)",
    "additionalProperties": {"type": "object", "additionalProperties": False, "properties": {
        "nodes": {"type": "object", "additionalProperties": _NAMES_SCHEMA,
                  "description": "node (short name or FQDN) -> other domains and IP addresses"},
        "multi_server": {**_NAMES_SCHEMA, "description": "extra FQDNs of the multi-server CSR (no IP)"}}}}


def _multi_server_purposes() -> tuple[str, ...]:
    from cucmkit import catalogue

    return tuple(p.name for p in catalogue.PURPOSES.values() if p.multi_server)


def _multi_server(value: Any) -> tuple[str, ...]:
    """``multi_server: [tomcat, cup-xmpp]``: the purposes this cluster renews as one multi-server certificate."""
    from cucmkit import catalogue

    allowed = _multi_server_purposes()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise _bad("must be a list of certificate purposes", f"write it as [tomcat]; allowed: {', '.join(allowed)}.")
    names: list[str] = []
    for i, item in enumerate(items):
        text = _text(item)
        try:
            name = catalogue.get(text).name
        except ValueError:
            name = text
        if name not in allowed:
            raise _bad(f"{quote(text)} has no multi-server certificate",
                       f"list only multi-server purposes: {', '.join(allowed)}.", i)
        if name not in names:
            names.append(name)
    return tuple(names)


MultiServer = Annotated[tuple[str, ...], BeforeValidator(_multi_server),
                        WithJsonSchema({"type": "array", "items": {"type": "string"}, "uniqueItems": True,
                                        "description": "purposes renewed as one multi-server (multi-SAN) "
                                                       "certificate; the others are per node"})]


@dataclass(frozen=True, config=SECTION)
class ClusterParams:
    cluster: Annotated[str, BeforeValidator(_cluster)]
    nodes: tuple[NodeParams, ...]
    credentials: Credentials
    tls: TlsTrust = Field(default_factory=TlsTrust)
    ssh: SshTrust = Field(default_factory=SshTrust)
    retries: Retries = Field(default_factory=Retries)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    maintenance_window: MaintenanceWindow | None = None   # None: always
    ca: Annotated[CaSection, PlainValidator(_ca_config), WithJsonSchema(_CA_SCHEMA)] = Field(default_factory=_default_ca)
    registration: RegistrationParams = Field(default_factory=RegistrationParams)
    expiry_threshold_days: Annotated[int, BeforeValidator(_integer(0, 3650))] = 60
    extra_sans: Annotated[ExtraSans, PlainValidator(_extra_sans),
                          WithJsonSchema(_EXTRA_SANS_SCHEMA)] = Field(default_factory=ExtraSans)
    multi_server: MultiServer = ()    # purposes renewed multi-server (docs/runbooks.md); the rest per node
    trust: TrustSettings = Field(default_factory=lambda: TrustSettings(keep=()))   # cucmkit/trust (docs/trust.md)
    partners: tuple[PartnerParams, ...] = ()
    evidence: EvidenceParams = Field(default_factory=EvidenceParams)   # signing the evidence (docs/runbooks.md)
    root: SkipJsonSchema[Path] = Path(".")
    source: SkipJsonSchema[Path | None] = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        return _section(value, (*TOP_LEVEL_KEYS, *TRUST_KEYS, *EVIDENCE_KEYS, "root", "source"),
                        ("cluster", "nodes", "credentials"))

    @field_validator("nodes", mode="before")
    @classmethod
    def _node_list(cls, value: Any) -> Any:
        if not isinstance(value, (list, tuple)) or not value:
            raise _bad("must be a non-empty list of nodes", "list every node: - {fqdn: ..., role: ...}.")
        if len(value) > MAX_NODES:
            raise _bad(f"lists {len(value)} nodes (more than {MAX_NODES})",
                       "one parameter file describes one cluster; split the list per cluster.")
        return value

    @field_validator("nodes", mode="after")
    @classmethod
    def _one_publisher(cls, nodes: tuple[NodeParams, ...]) -> tuple[NodeParams, ...]:
        seen: set[str] = set()
        for i, node in enumerate(nodes):
            if node.fqdn in seen or node.short in seen:
                raise _bad(f"{node.fqdn} is listed twice (or its short name is)", "list each node once.", i, "fqdn")
            seen.update((node.fqdn, node.short))
        publishers = [n for n in nodes if n.role == "publisher" and n.kind == "CUCM"]
        if len(publishers) != 1:
            raise _bad(f"needs exactly one CUCM publisher (found {len(publishers)})",
                       "mark the CUCM publisher with role: publisher (IM&P publishers have kind: IM&P).")
        return nodes

    @model_validator(mode="after")
    def _san_nodes(self) -> ClusterParams:
        """``extra_sans`` names nodes of this file that carry the purpose; keyed by FQDN from here on."""
        resolved = resolve_san_nodes(self.extra_sans, self.nodes, _bad)
        return self if resolved == self.extra_sans else dataclasses.replace(self, extra_sans=resolved)

    @property
    def publisher(self) -> NodeParams:
        return next(n for n in self.nodes if n.role == "publisher" and n.kind == "CUCM")

    def node(self, name_or_fqdn: str) -> NodeParams:
        key = name_or_fqdn.lower()
        for node in self.nodes:
            if key in (node.fqdn.lower(), node.short.lower()):
                return node
        raise KeyError(name_or_fqdn)

    def os_admin_for(self, node: NodeParams) -> Account:
        return node.os_admin or self.credentials.os_admin

    def in_window(self, now: dt.datetime) -> bool:
        return self.maintenance_window is None or self.maintenance_window.contains(now)

    def uses_multi_server(self, purpose: str) -> bool:
        """True when the parameter file renews ``purpose`` as one multi-server certificate."""
        return purpose in self.multi_server

    def with_overrides(self, **changes: Any) -> ClusterParams:
        return dataclasses.replace(self, **changes)


_ADAPTER: TypeAdapter[ClusterParams] = TypeAdapter(ClusterParams)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a parameter file; the ``ca`` section lists every registered back-end."""
    from cucmkit.ca.registry import section_schema

    schema = _ADAPTER.json_schema()
    section = section_schema()
    schema.setdefault("$defs", {}).update(section.pop("$defs"))
    schema["$defs"]["CaSection"] = section
    schema["properties"]["ca"] = {"$ref": "#/$defs/CaSection"}
    schema["title"] = "cucmkit parameter file"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def days_argument(text: str) -> int:
    """An argparse ``type`` for a number of days on the command line: an ASCII integer 0..3650."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or int(value) > 3650:
        raise argparse.ArgumentTypeError(f"{value[:20]!r} is not a number of days (0..3650)")
    return int(value)


# ---------------------------------------------------------------------------- root


def find_root(start: Path | None = None) -> Path:
    """``$CUCMKIT_ROOT``, else the nearest ancestor of ``start`` (cwd) with a ``parameters/`` folder."""
    env = os.environ.get("CUCMKIT_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "parameters").is_dir():
            return folder
    return here


def _root_for(source: Path | None, root: Path | None) -> Path:
    if root is not None:
        return Path(root).resolve()
    if os.environ.get("CUCMKIT_ROOT"):
        return find_root()
    found = find_root()
    if (found / "parameters").is_dir() or source is None:
        return found
    parent = source.resolve().parent   # no parameters/ above cwd: use the file's project
    return parent.parent if parent.name == "parameters" else parent


# ---------------------------------------------------------------------------- entry points


def load_parameters(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    root: Path | None = None,
    check_secrets: bool = True,
) -> ClusterParams:
    """Load and check a parameter file (path) or an already-parsed mapping.

    With ``check_secrets`` (the default) every secret reference is resolved
    once, so a missing variable or file fails here, before any network call.
    """
    path = None if isinstance(source, Mapping) else Path(source)
    data = load_yaml(path) if path is not None else source
    if data is None:
        raise ParameterError(f"parameter file {path} is empty", remedy="see parameters/example-cluster.yaml.")
    if not isinstance(data, Mapping):
        raise ParameterError(f"parameter file: must be a mapping (got {type(data).__name__})",
                             remedy="write it as key: value pairs (see parameters/example-cluster.yaml).")
    base = _root_for(path, root)
    data = {k: v for k, v in data.items() if k not in ("root", "source")} | {"root": base}
    if path is not None:
        data["source"] = path.resolve()
    try:
        params = _label_secrets(_ADAPTER.validate_python(data, context={"root": base, "file": True}))
    except ValidationError as exc:
        raise parameter_error(exc) from None
    except RecursionError:
        raise ParameterError("parameter file: nested too deeply", remedy="flatten the file.") from None
    if check_secrets:
        _check_secrets(params)
    return params


def _named(account: Account, where: str) -> Account:
    return dataclasses.replace(account, password=dataclasses.replace(account.password, where=f"{where}.password"))


def _label_secrets(params: ClusterParams) -> ClusterParams:
    """Each secret reference knows its key path (``credentials.os_admin.password``) for its error messages."""
    creds = params.credentials
    labelled = Credentials(
        os_admin=_named(creds.os_admin, "credentials.os_admin"), app_user=_named(creds.app_user, "credentials.app_user"),
        axl=_named(creds.axl, "credentials.axl") if creds.axl else None,
        serviceability=_named(creds.serviceability, "credentials.serviceability") if creds.serviceability else None)
    nodes = tuple(dataclasses.replace(n, os_admin=_named(n.os_admin, f"nodes[{i}].os_admin")) if n.os_admin else n
                  for i, n in enumerate(params.nodes))
    ca = params.ca.labelled("ca") if isinstance(params.ca, CaConfig) else params.ca
    return dataclasses.replace(params, credentials=labelled, nodes=nodes, ca=ca)


def _check_secrets(params: ClusterParams) -> None:
    accounts = [params.credentials.os_admin, params.credentials.app_user,
                params.credentials.axl, params.credentials.serviceability]
    accounts += [n.os_admin for n in params.nodes]
    refs = [a.password for a in accounts if a is not None]
    refs += params.ca.secrets() if isinstance(params.ca, CaConfig) else []   # others resolve theirs when built
    for ref in refs:
        ref.resolve()


def from_notebook(namespace: Mapping[str, Any], *, check_secrets: bool = True) -> ClusterParams:
    """Build ClusterParams inside a notebook from its ``parameters`` cell.

    When papermill injected the parameter file's keys (``-f x.yaml``: at least
    ``cluster`` and ``nodes`` are set), they are used alone. Otherwise
    ``parameters_file`` is loaded and any other injected top-level key that is
    not None overrides the file's value. A string ``ca`` (the notebook's CA
    back-end choice, e.g. ``ca="lab"``) is not a section and is ignored here.
    """
    injected = {k: namespace.get(k) for k in TOP_LEVEL_KEYS + TRUST_KEYS if namespace.get(k) is not None}
    if isinstance(injected.get("ca"), str):
        injected.pop("ca")
    if injected.get("cluster") is not None and injected.get("nodes") is not None:
        return load_parameters(injected, check_secrets=check_secrets)
    parameters_file = namespace.get("parameters_file")
    if not parameters_file:
        raise ParameterError("no parameters: neither parameters_file nor cluster/nodes are set",
                             remedy="set parameters_file = \"parameters/<cluster>.yaml\" or run with papermill -f.")
    path = Path(parameters_file).expanduser()
    if not path.is_absolute():
        path = find_root() / path
    if not injected:
        return load_parameters(path, check_secrets=check_secrets)
    data = load_yaml(path)
    if not isinstance(data, Mapping):
        raise ParameterError(f"parameter file {path}: must be a mapping", remedy="write it as key: value pairs.")
    return load_parameters({**data, **injected}, root=_root_for(path, None), check_secrets=check_secrets)
