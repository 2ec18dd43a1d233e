"""The watch configuration file (YAML, pydantic): where the report goes and who hears about it.

```yaml
threshold_days: 60            # optional: overrides every parameter file's expiry_threshold_days
output: /var/lib/cucmkit/watch   # folder for watch.html and watch.json (--out overrides)
ticket: "<TICKET>"            # what the printed `cucmkit run` commands say after --ticket
email:                        # optional: SMTP with STARTTLS (always; no plain-text SMTP)
  host: smtp.example.com
  port: 587
  username: cucmkit-watch     # optional: AUTH after STARTTLS
  password: {env: CUCMKIT_SMTP_PASSWORD}   # a reference, like every secret in cucmkit
  from: cucmkit-watch@example.com
  to: [uc-team@example.com]
  ca_bundle: /etc/ssl/certs/ca-certificates.crt   # optional: trust for the server's certificate
  send: findings              # findings (default: something due, expired or unreachable) | always | changes
prometheus:
  textfile: /var/lib/prometheus/node-exporter/cucmkit.prom   # node exporter's textfile collector
```

Relative paths resolve against the configuration file's folder. A plain
password is refused; errors name the key and never echo a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cucmkit.errors import ParameterError
from cucmkit.params import load_yaml
from cucmkit.secrets import REFERENCE_KINDS, Secret, is_reference, resolve

__all__ = ["EmailConfig", "PrometheusConfig", "WatchConfig", "load_config"]

_REF_HOW = "write the password as {env: VAR}, {file: PATH} or {keyring: \"service/user\"}, never the value"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class EmailConfig(_Section):
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: dict[str, str] | None = None      # a secret reference, resolved when the mail is sent
    sender: str = Field(alias="from", min_length=3)
    to: tuple[str, ...] = Field(min_length=1)
    ca_bundle: Path | None = None
    send: Literal["findings", "always", "changes"] = "findings"
    timeout: float = Field(default=30.0, gt=0)
    base: Path = Path(".")                       # the folder relative references resolve against

    @field_validator("password", mode="before")
    @classmethod
    def _reference_only(cls, value: Any) -> Any:
        if value is not None and not is_reference(value):
            raise ValueError(f"must be a reference ({', '.join(REFERENCE_KINDS)}), not a value")
        return value

    def secret(self) -> Secret | None:
        if self.password is None:
            return None
        return resolve(self.password, base=self.base, where="email.password")


class PrometheusConfig(_Section):
    textfile: Path


class WatchConfig(_Section):
    threshold_days: int | None = Field(default=None, ge=0)
    output: Path | None = None
    ticket: str = Field(default="<TICKET>", min_length=1)
    workers: int = Field(default=8, ge=1, le=64)
    email: EmailConfig | None = None
    prometheus: PrometheusConfig | None = None


def _absolute(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative paths of the file resolved against its folder; the folder handed to the e-mail section."""
    out = dict(data)
    if isinstance(out.get("output"), str):
        out["output"] = str(base / out["output"])
    if isinstance(out.get("email"), dict):
        email = dict(out["email"])
        if isinstance(email.get("ca_bundle"), str):
            email["ca_bundle"] = str(base / email["ca_bundle"])
        out["email"] = {**email, "base": str(base)}
    if isinstance(out.get("prometheus"), dict) and isinstance(out["prometheus"].get("textfile"), str):
        out["prometheus"] = {**out["prometheus"], "textfile": str(base / out["prometheus"]["textfile"])}
    return out


def _problem(exc: ValidationError, path: Path) -> ParameterError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the file"
    remedy = _REF_HOW if where == "email.password" else "see docs/watch.md for the keys and their meaning."
    return ParameterError(f"watch configuration {path}: {where}: {first['msg']}", remedy=remedy)


def load_config(path: Path | str | None) -> WatchConfig:
    """The configuration (defaults when ``path`` is None); secrets checked now, before any network call."""
    if path is None:
        return WatchConfig()
    source = Path(path)
    data = load_yaml(source) or {}
    if not isinstance(data, dict):
        raise ParameterError(f"watch configuration {source}: must be a mapping", remedy="write key: value pairs.")
    try:
        config = WatchConfig.model_validate(_absolute(data, source.resolve().parent))
    except ValidationError as exc:
        raise _problem(exc, source) from None
    if config.email is not None:
        config.email.secret()      # a missing variable or file fails here, before the scan
    return config
