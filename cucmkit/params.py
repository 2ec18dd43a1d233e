"""The cluster parameter file: safe YAML, a typed frozen schema, checked before any network call.

```yaml
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

Passwords are references only (``{env: VAR}``, ``{file: PATH}``,
``{keyring: "service/user"}``); a plain value is refused. Relative paths
resolve against ``$CUCMKIT_ROOT``, else the nearest ancestor of the working
directory that has a ``parameters/`` folder. Every error names the key path
(``nodes[1].https_port``) and the remedy, and never echoes a value that could
be a secret.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import pydantic
import yaml

from cucmkit.errors import ParameterError
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
    "CaParams",
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
    "TOP_LEVEL_KEYS",
    "TRUST_KEYS",
]

ROLES = ("publisher", "subscriber")
KINDS = ("CUCM", "IM&P")
CA_BACKENDS = ("lab", "adcs", "manual")
HOST_KEY_POLICIES = ("reject", "warn")
M = TypeVar("M", bound=pydantic.BaseModel)
_REF_HOW = "reference it as {env: ...} / {file: ...} / {keyring: ...}"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_VERSION = re.compile(r"^\d+(\.\d+)*(-\d+)?$")


# ---------------------------------------------------------------------------- schema


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Account:
    username: str
    password: SecretRef

    def secret(self) -> Secret:
        return self.password.resolve()


@dataclass(frozen=True)
class Credentials:
    os_admin: Account                 # platform/CLI admin: certificate REST and the SSH CLI
    app_user: Account                 # application user: AXL, RisPort, Control Center
    axl: Account | None = None        # optional dedicated AXL account (default app_user)
    serviceability: Account | None = None  # optional dedicated RisPort/Control Center account

    def for_axl(self) -> Account:
        return self.axl or self.app_user

    def for_serviceability(self) -> Account:
        return self.serviceability or self.app_user


@dataclass(frozen=True)
class NodeParams:
    fqdn: str
    address: str
    role: str = "subscriber"
    kind: str = "CUCM"
    version: str = "auto"
    https_port: int = 443
    ssh_port: int = 22
    os_admin: Account | None = None   # per-node OS admin (else credentials.os_admin)
    ssh_host_key_sha256: tuple[str, ...] = ()   # "SHA256:<base64>" pins of the node's SSH host key(s)

    @property
    def short(self) -> str:
        return self.fqdn.split(".", 1)[0]

    @property
    def domain(self) -> str:
        return self.fqdn.split(".", 1)[1] if "." in self.fqdn else ""


@dataclass(frozen=True)
class TlsTrust:
    ca_bundle: tuple[Path, ...] = ()
    pins: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def pin_for(self, fqdn: str) -> str | None:
        return self.pins.get(fqdn.lower())


@dataclass(frozen=True)
class SshTrust:
    """How SSH host keys are checked: a known_hosts file, and what to do with an unknown key."""

    known_hosts: Path | None = None
    host_key_policy: str = "warn"     # "reject" by default once known_hosts is given


@dataclass(frozen=True)
class Backoff:
    """Retries of one client: tries per request, first delay (doubled each try), delay cap."""

    attempts: int
    backoff_seconds: float
    max_backoff_seconds: float


@dataclass(frozen=True)
class Retries:
    risport: Backoff = Backoff(attempts=4, backoff_seconds=10.0, max_backoff_seconds=60.0)
    axl: Backoff = Backoff(attempts=5, backoff_seconds=2.0, max_backoff_seconds=30.0)


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 30.0
    cli_prompt: float = 30.0
    restart: float = 600.0
    registration: float = 1800.0


@dataclass(frozen=True)
class MaintenanceWindow:
    start: dt.datetime
    end: dt.datetime

    def contains(self, now: dt.datetime) -> bool:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return self.start <= now < self.end


@dataclass(frozen=True)
class CaParams:
    backend: str = "manual"
    url: str | None = None
    fqdn: str | None = None
    username: str | None = None
    password: SecretRef | None = None
    template_prefix: str = "CUCM-"
    ca_bundle: tuple[Path, ...] = ()   # trust for the CA's own HTTPS (default: tls.ca_bundle)
    outbox: Path | None = None          # manual flow folders
    inbox: Path | None = None

    def template_for(self, purpose: str) -> str:
        return f"{self.template_prefix}{purpose}"


@dataclass(frozen=True)
class RegistrationParams:
    tolerance: int = 0
    baseline: str | int = "auto"
    risport_rate: int = 15            # RisPort requests per window, cluster-wide (CUCM's default)
    risport_window: float = 60.0      # seconds


@dataclass(frozen=True)
class ClusterParams:
    cluster: str
    nodes: tuple[NodeParams, ...]
    credentials: Credentials
    tls: TlsTrust = TlsTrust()
    ssh: SshTrust = SshTrust()
    retries: Retries = Retries()
    timeouts: Timeouts = Timeouts()
    maintenance_window: MaintenanceWindow | None = None   # None: always
    ca: CaParams = CaParams()
    registration: RegistrationParams = RegistrationParams()
    expiry_threshold_days: int = 60
    trust: TrustSettings = TrustSettings(keep=())
    partners: tuple[PartnerParams, ...] = ()
    root: Path = Path(".")
    source: Path | None = None

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

    def with_overrides(self, **changes: Any) -> ClusterParams:
        return replace(self, **changes)


# What a parameter file may hold at its top level; every runbook's parameters
# cell has each of these (default None) so papermill `-f` can inject them.
TOP_LEVEL_KEYS = (
    "cluster", "nodes", "credentials", "tls", "ssh", "timeouts", "retries", "maintenance_window",
    "ca", "registration", "expiry_threshold_days",
)
# Optional sections read by `cucmkit trust` and notebooks/trust.ipynb only (runbooks do not inject them).
TRUST_KEYS = ("trust", "partners")


# ---------------------------------------------------------------------------- YAML


class _NoDatesSafeLoader(yaml.SafeLoader):
    """SafeLoader without timestamp coercion (like papermill's), refusing duplicate keys."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ParameterError(
                    f"duplicate key {key!r} at line {key_node.start_mark.line + 1}",
                    remedy="keep one of them.")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: Path) -> Any:
    """Read a YAML file safely; errors give line and column, never the line's text."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ParameterError(f"parameter file {path} cannot be read ({exc.strerror or type(exc).__name__})",
                             remedy="check the path given with -f / parameters_file.") from None
    try:
        return yaml.load(text, Loader=_NoDatesSafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ParameterError(f"parameter file {path} is not valid YAML{at}: {exc.problem}",
                             remedy="fix the YAML syntax there.") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"parameter file {path} is not valid YAML ({type(exc).__name__})",
                             remedy="fix the YAML syntax.") from None


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


# ---------------------------------------------------------------------------- reading helpers


def _fail(path: str, problem: str, remedy: str) -> ParameterError:
    return ParameterError(f"{path}: {problem}", remedy=remedy)


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"must be a mapping (got {type(value).__name__})", "write it as key: value pairs.")
    return value


def _keys(value: Mapping[str, Any], path: str, allowed: Sequence[str], required: Sequence[str] = ()) -> None:
    for key in value:
        if key not in allowed:
            raise _fail(f"{path}.{key}" if path else str(key), "unknown key",
                        f"use one of: {', '.join(allowed)} (check the spelling).")
    for key in required:
        if value.get(key) is None:
            raise _fail(f"{path}.{key}" if path else key, "is required", f"add {key} to the parameter file.")


def _str(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value).strip() == "":
        raise _fail(path, "must be a non-empty string", "write a plain string value.")
    return str(value).strip()


def _int(value: Any, path: str, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"{low}..{high}" if high is not None else f">= {low}"
        raise _fail(path, f"must be an integer {span} (got {value!r})", "fix the number.")
    return value


def _positive(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise _fail(path, f"must be a positive number of seconds (got {value!r})", "fix the number.")
    return float(value)


def _choice(value: Any, path: str, options: Sequence[str]) -> str:
    text = _str(value, path)
    for option in options:
        if text.lower() == option.lower():
            return option
    raise _fail(path, f"must be one of {', '.join(options)} (got {text!r})", "use one of the listed values.")


def _path(value: Any, path: str, root: Path) -> Path:
    candidate = Path(_str(value, path)).expanduser()
    return candidate if candidate.is_absolute() else root / candidate


# ---------------------------------------------------------------------------- sections


def _secret_ref(value: Any, path: str, root: Path) -> SecretRef:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        raise _fail(path, "a plain password is not allowed in the parameter file",
                    f"{_REF_HOW}, e.g. password: {{env: CUCM_PASSWORD}}.")
    ref = _mapping(value, path)
    if len(ref) != 1 or next(iter(ref)) not in REFERENCE_KINDS:
        raise _fail(path, "must be exactly one of env, file, keyring", f"{_REF_HOW}.")
    kind, target = next(iter(ref.items()))
    target = _str(target, f"{path}.{kind}")
    if kind == "file" and not Path(target).expanduser().is_absolute():
        target = str(root / target)
    return SecretRef(kind=kind, target=target, base=root, where=path)


def _account(value: Any, path: str, root: Path) -> Account:
    section = _mapping(value, path)
    _keys(section, path, ("username", "password"), ("username", "password"))
    return Account(username=_str(section["username"], f"{path}.username"),
                   password=_secret_ref(section["password"], f"{path}.password", root))


def _credentials(value: Any, root: Path) -> Credentials:
    section = _mapping(value, "credentials")
    _keys(section, "credentials", ("os_admin", "app_user", "axl", "serviceability"), ("os_admin", "app_user"))
    optional = {k: _account(section[k], f"credentials.{k}", root)
                for k in ("axl", "serviceability") if section.get(k) is not None}
    return Credentials(os_admin=_account(section["os_admin"], "credentials.os_admin", root),
                       app_user=_account(section["app_user"], "credentials.app_user", root), **optional)


_NODE_KEYS = ("fqdn", "address", "role", "kind", "version", "https_port", "ssh_port", "os_admin",
              "ssh_host_key_sha256")


def _node(value: Any, path: str, root: Path) -> NodeParams:
    section = _mapping(value, path)
    _keys(section, path, _NODE_KEYS, ("fqdn",))
    fqdn = _str(section["fqdn"], f"{path}.fqdn").lower()
    if not _HOSTNAME.match(fqdn):
        raise _fail(f"{path}.fqdn", f"{fqdn!r} is not a fully qualified host name",
                    "write the node's FQDN as in its certificate (host.domain), and its IP under address.")
    version = _str(section.get("version", "auto"), f"{path}.version")
    if version != "auto" and not _VERSION.match(version):
        raise _fail(f"{path}.version", f"{version!r} is not a CUCM version",
                    'write "auto" or a version such as "12.5", "14.0.1.13900-155" (quoted).')
    return NodeParams(
        fqdn=fqdn,
        address=_str(section.get("address") or fqdn, f"{path}.address"),
        role=_choice(section.get("role", "subscriber"), f"{path}.role", ROLES),
        kind=_choice(section.get("kind", "CUCM"), f"{path}.kind", KINDS),
        version=version,
        https_port=_int(section.get("https_port", 443), f"{path}.https_port", low=1, high=65535),
        ssh_port=_int(section.get("ssh_port", 22), f"{path}.ssh_port", low=1, high=65535),
        os_admin=_account(section["os_admin"], f"{path}.os_admin", root) if section.get("os_admin") else None,
        ssh_host_key_sha256=_ssh_pins(section.get("ssh_host_key_sha256"), f"{path}.ssh_host_key_sha256"),
    )


def normalize_ssh_fingerprint(value: str) -> str:
    """``SHA256:<base64>`` (as ssh-keygen -lf shows) or 64 hex characters -> ``SHA256:<base64, no padding>``."""
    text = value.strip()
    body = text[7:] if text.upper().startswith("SHA256:") else text
    hexed = body.replace(":", "").lower()
    if re.fullmatch(r"[0-9a-f]{64}", hexed):
        raw = bytes.fromhex(hexed)
    else:
        try:
            raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        except (ValueError, binascii.Error):
            raw = b""
    if len(raw) != 32:
        raise ValueError("an SSH host key fingerprint is SHA256:<43 base64 characters> or 64 hex characters")
    return "SHA256:" + base64.b64encode(raw).decode("ascii").rstrip("=")


def _ssh_pins(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not items:
        raise _fail(path, "must be a fingerprint or a list of them", "write ssh_host_key_sha256: SHA256:....")
    pins = []
    for i, item in enumerate(items):
        where = path if isinstance(value, str) else f"{path}[{i}]"
        try:
            pins.append(normalize_ssh_fingerprint(_str(item, where)))
        except ValueError as exc:
            raise _fail(where, str(exc), "copy the SSH fingerprint shown by `cucmkit trust fetch -f PARAMS`.") from None
    return tuple(pins)


def _nodes(value: Any, root: Path) -> tuple[NodeParams, ...]:
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)) or not value:
        raise _fail("nodes", "must be a non-empty list of nodes", "list every node: - {fqdn: ..., role: ...}.")
    nodes = tuple(_node(item, f"nodes[{i}]", root) for i, item in enumerate(value))
    seen: set[str] = set()
    for i, node in enumerate(nodes):
        if node.fqdn in seen or node.short in {s.split(".")[0] for s in seen}:
            raise _fail(f"nodes[{i}].fqdn", f"{node.fqdn} is listed twice (or its short name is)",
                        "list each node once.")
        seen.add(node.fqdn)
    publishers = [n for n in nodes if n.role == "publisher" and n.kind == "CUCM"]
    if len(publishers) != 1:
        raise _fail("nodes", f"needs exactly one CUCM publisher (found {len(publishers)})",
                    "mark the CUCM publisher with role: publisher (IM&P publishers have kind: IM&P).")
    return nodes


def _tls(value: Any, root: Path) -> TlsTrust:
    section = _mapping(value or {}, "tls")
    _keys(section, "tls", ("ca_bundle", "pins"))
    bundle = section.get("ca_bundle") or ()
    if isinstance(bundle, str):
        bundle = (bundle,)
    if not isinstance(bundle, Sequence):
        raise _fail("tls.ca_bundle", "must be a list of PEM file paths", "write ca_bundle: [path/to/ca.pem].")
    paths = tuple(_path(p, f"tls.ca_bundle[{i}]", root) for i, p in enumerate(bundle))
    pins = _mapping(section.get("pins") or {}, "tls.pins")
    return TlsTrust(ca_bundle=paths, pins=MappingProxyType(
        {str(k).lower(): _fingerprint(v, f"tls.pins.{k}") for k, v in pins.items()}))


def _fingerprint(value: Any, path: str) -> str:
    text = _str(value, path).replace(":", "").replace(" ", "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise _fail(path, "is not a SHA-256 fingerprint (64 hex characters, colons allowed)",
                    "copy the fingerprint shown by `cucmkit trust fetch -f PARAMS`.")
    return text


def _ssh(value: Any, root: Path) -> SshTrust:
    section = _mapping(value or {}, "ssh")
    _keys(section, "ssh", ("known_hosts", "host_key_policy"))
    known = _path(section["known_hosts"], "ssh.known_hosts", root) if section.get("known_hosts") else None
    default = "reject" if known is not None else "warn"
    policy = _choice(section.get("host_key_policy") or default, "ssh.host_key_policy", HOST_KEY_POLICIES)
    return SshTrust(known_hosts=known, host_key_policy=policy)


_BACKOFF_KEYS = ("attempts", "backoff_seconds", "max_backoff_seconds")


def _backoff(value: Any, path: str, default: Backoff) -> Backoff:
    section = _mapping(value or {}, path)
    _keys(section, path, _BACKOFF_KEYS)
    attempts = _int(section.get("attempts", default.attempts), f"{path}.attempts", low=1, high=100)
    first = _positive(section.get("backoff_seconds", default.backoff_seconds), f"{path}.backoff_seconds")
    cap = _positive(section.get("max_backoff_seconds", default.max_backoff_seconds), f"{path}.max_backoff_seconds")
    if cap < first:
        raise _fail(f"{path}.max_backoff_seconds", "must not be below backoff_seconds", "raise it or lower backoff_seconds.")
    return Backoff(attempts=attempts, backoff_seconds=first, max_backoff_seconds=cap)


def _retries(value: Any) -> Retries:
    section = _mapping(value or {}, "retries")
    _keys(section, "retries", ("risport", "axl"))
    default = Retries()
    return Retries(risport=_backoff(section.get("risport"), "retries.risport", default.risport),
                   axl=_backoff(section.get("axl"), "retries.axl", default.axl))


def _timeouts(value: Any) -> Timeouts:
    section = _mapping(value or {}, "timeouts")
    names = ("connect", "read", "cli_prompt", "restart", "registration")
    _keys(section, "timeouts", names)
    return Timeouts(**{k: _positive(section[k], f"timeouts.{k}") for k in names if section.get(k) is not None})


def _when(value: Any, path: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = _str(value, path)
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise _fail(path, f"{text!r} is not an ISO 8601 date-time",
                        'write it quoted, e.g. "2026-11-26T22:00:00+00:00".') from None
    if moment.tzinfo is None:
        raise _fail(path, "has no time zone", 'add the offset, e.g. "2026-11-26T22:00:00+00:00".')
    return moment.astimezone(dt.UTC)


def _window(value: Any) -> MaintenanceWindow | None:
    if value is None:
        return None
    section = _mapping(value, "maintenance_window")
    _keys(section, "maintenance_window", ("start", "end"), ("start", "end"))
    window = MaintenanceWindow(start=_when(section["start"], "maintenance_window.start"),
                               end=_when(section["end"], "maintenance_window.end"))
    if window.end <= window.start:
        raise _fail("maintenance_window.end", "must be after start", "fix the window.")
    return window


_CA_KEYS = ("backend", "url", "fqdn", "username", "password", "template_prefix", "ca_bundle", "outbox", "inbox")


def _ca(value: Any, root: Path, tls: TlsTrust) -> CaParams:
    section = _mapping(value or {}, "ca")
    _keys(section, "ca", _CA_KEYS)
    backend = _choice(section.get("backend", "manual"), "ca.backend", CA_BACKENDS)
    if backend in ("lab", "adcs"):
        _keys(section, "ca", _CA_KEYS, ("url", "username", "password"))
    bundle = section.get("ca_bundle")
    bundle = (bundle,) if isinstance(bundle, str) else bundle
    get = section.get
    return CaParams(
        backend=backend,
        url=_str(get("url"), "ca.url") if get("url") else None,
        fqdn=_str(get("fqdn"), "ca.fqdn").lower() if get("fqdn") else None,
        username=_str(get("username"), "ca.username") if get("username") else None,
        password=_secret_ref(get("password"), "ca.password", root) if get("password") is not None else None,
        template_prefix=str(get("template_prefix", "CUCM-") or ""),
        ca_bundle=tuple(_path(p, f"ca.ca_bundle[{i}]", root) for i, p in enumerate(bundle)) if bundle else tls.ca_bundle,
        outbox=_path(get("outbox"), "ca.outbox", root) if get("outbox") else None,
        inbox=_path(get("inbox"), "ca.inbox", root) if get("inbox") else None,
    )


def _registration(value: Any) -> RegistrationParams:
    section = _mapping(value or {}, "registration")
    _keys(section, "registration", ("tolerance", "baseline", "risport_rate", "risport_window"))
    baseline = section.get("baseline", "auto")
    if baseline != "auto":
        baseline = _int(baseline, "registration.baseline", low=0)
    return RegistrationParams(tolerance=_int(section.get("tolerance", 0), "registration.tolerance", low=0),
                              baseline=baseline,
                              risport_rate=_int(section.get("risport_rate", 15), "registration.risport_rate", low=1),
                              risport_window=_positive(section.get("risport_window", 60.0),
                                                       "registration.risport_window"))


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
    params = _build(_mapping(data, "parameter file"), _root_for(path, root), path)
    if check_secrets:
        _check_secrets(params)
    return params


def _build(data: Mapping[str, Any], root: Path, source: Path | None) -> ClusterParams:
    _keys(data, "", TOP_LEVEL_KEYS + TRUST_KEYS, ("cluster", "nodes", "credentials"))
    cluster = _str(data["cluster"], "cluster")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", cluster):
        raise _fail("cluster", f"{cluster!r} must be a simple name (letters, digits, . _ -)",
                    "it names folders for state and evidence.")
    tls = _tls(data.get("tls"), root)
    threshold = data.get("expiry_threshold_days", 60)
    return ClusterParams(
        cluster=cluster,
        nodes=_nodes(data["nodes"], root),
        credentials=_credentials(data["credentials"], root),
        tls=tls,
        ssh=_ssh(data.get("ssh"), root),
        retries=_retries(data.get("retries")),
        timeouts=_timeouts(data.get("timeouts")),
        maintenance_window=_window(data.get("maintenance_window")),
        ca=_ca(data.get("ca"), root, tls),
        registration=_registration(data.get("registration")),
        expiry_threshold_days=_int(threshold if threshold is not None else 60, "expiry_threshold_days", low=0),
        trust=_model(TrustSettings, data.get("trust") or {}, "trust"),
        partners=tuple(_model(PartnerParams, p, f"partners[{i}]") for i, p in enumerate(data.get("partners") or ())),
        root=root,
        source=source.resolve() if source is not None else None,
    )


def _model(model: type[M], value: Any, path: str) -> M:
    """A pydantic section; its first error named by key path, never echoing the value."""
    try:
        return model.model_validate(value)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join([path, *(str(p) for p in first["loc"])])
        raise _fail(where, first["msg"], "see docs/trust.md for the trust and partners sections.") from None


def _check_secrets(params: ClusterParams) -> None:
    accounts = [params.credentials.os_admin, params.credentials.app_user,
                params.credentials.axl, params.credentials.serviceability]
    accounts += [n.os_admin for n in params.nodes]
    refs = [a.password for a in accounts if a is not None]
    if params.ca.password is not None and params.ca.backend != "manual":
        refs.append(params.ca.password)
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
    data = dict(_mapping(load_yaml(path), "parameter file"))
    data.update(injected)
    return load_parameters(data, root=_root_for(path, None), check_secrets=check_secrets) if injected else \
        load_parameters(path, check_secrets=check_secrets)
