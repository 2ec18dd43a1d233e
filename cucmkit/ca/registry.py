"""CA back-ends by kind: each one is a module with its own config model and a factory.

A back-end is described by a ``BackendSpec`` (kind, one-line summary, the
pydantic config model of its ``ca:`` section, a factory). The built-in ones
(``lab``, ``manual``, ``adcs``) and any other installed package declare theirs
as entry points in the group ``cucmkit.ca_backends``::

    [project.entry-points."cucmkit.ca_backends"]
    acme = "cucmkit_acme:BACKEND"

Everything that names the back-ends reads this registry: the ``--ca`` choices,
the validation of the parameter file's ``ca:`` section (the chosen back-end's
model), the JSON Schema, the notebook generator's text and docs/parameters.md.
The built-ins are known even when the package metadata is stale.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from cucmkit.params_base import CaSection, parameter_error, schema_error

__all__ = [
    "GROUP",
    "BackendSpec",
    "CaBackend",
    "refuses_ms_common_name",
    "kinds",
    "spec",
    "config_model",
    "validate_config",
    "section_schema",
    "make_backend",
    "reload",
    "describe",
]

GROUP = "cucmkit.ca_backends"
log = logging.getLogger(__name__)
_BUILTIN = ("cucmkit.ca.lab:BACKEND", "cucmkit.ca.manual:BACKEND", "cucmkit.ca.adcs:BACKEND", "cucmkit.ca.acme:BACKEND")
DEFAULT_KIND = "manual"


@runtime_checkable
class CaBackend(Protocol):
    """Submit a CSR, then collect what the CA issued (``None`` = not yet).

    Optional: a class attribute ``refuses_ms_common_name = True`` when the CA can never take CUCM's
    multi-server common name ``<publisher>-ms.<domain>`` (ACME); the kit then requests every multi-server
    CSR with the publisher's FQDN as CN, as the parameter file's ``ca.refuses_ms_common_name: true`` does.
    """

    kind: str

    def submit(self, node: str, purpose: str, csr_pem: str) -> str: ...

    def collect(self, request_id: str) -> list[bytes] | None: ...


def refuses_ms_common_name(backend: object) -> bool:
    """True when the back-end declares that it refuses CUCM's ``-ms`` common name (see ``CaBackend``)."""
    return getattr(backend, "refuses_ms_common_name", False) is True


Factory = Callable[[Any, Path | None], CaBackend]    # (the cluster's ClusterParams, the state folder)


@dataclass(frozen=True)
class BackendSpec:
    """One CA back-end: its ``kind`` (the ``ca.backend`` value), a summary, its ``ca:`` model, its factory.

    ``build(params, folder)`` gets the cluster's parameters (``params.ca`` may be another back-end's config
    when ``--ca`` overrides the file) and, for folder-based back-ends, a folder chosen by the caller.
    """

    kind: str
    summary: str
    config: type[Any]          # a pydantic dataclass subclassing CaConfig, or a pydantic model with ``backend``
    build: Factory


def _load(reference: str) -> BackendSpec:
    module, _, name = reference.partition(":")
    found = getattr(importlib.import_module(module), name)
    if not isinstance(found, BackendSpec):
        raise TypeError(f"{reference} is not a cucmkit.ca.registry.BackendSpec")
    return found


@functools.cache
def _specs() -> Mapping[str, BackendSpec]:
    found: dict[str, BackendSpec] = {}
    for reference in _BUILTIN:
        backend = _load(reference)
        found[backend.kind] = backend
    for point in entry_points(group=GROUP):
        try:
            backend = point.load()
        except Exception as exc:   # a broken plugin must not take the built-ins down with it
            log.warning("CA back-end %s (%s) cannot be loaded: %s", point.name, point.value, exc)
            continue
        if isinstance(backend, BackendSpec) and backend.kind == point.name:
            found.setdefault(backend.kind, backend)
        else:
            log.warning("CA back-end %s (%s) is not a BackendSpec of that kind; ignored", point.name, point.value)
    return found


def reload() -> None:
    """Forget the back-ends found so far (after installing one at run time; tests)."""
    _specs.cache_clear()


def kinds() -> tuple[str, ...]:
    """Every registered kind: the built-ins first (lab, manual, adcs), then the installed ones."""
    return tuple(_specs())


def spec(kind: str) -> BackendSpec:
    found = _specs().get(str(kind).lower())
    if found is None:
        raise ValueError(f"unknown CA back-end {kind!r}; valid: {', '.join(kinds())}")
    return found


def config_model(kind: str) -> type[Any]:
    return spec(kind).config


def validate_config(value: Any, *, context: Mapping[str, Any] | None = None) -> CaSection:
    """The parameter file's ``ca:`` section, validated by its back-end's model (None: the manual CA)."""
    if isinstance(value, CaSection) and not isinstance(value, Mapping):
        return value
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise schema_error(f"must be a mapping (got {type(value).__name__})", "write it as key: value pairs.")
    chosen = value.get("backend") or DEFAULT_KIND
    kind = str(chosen).lower() if isinstance(chosen, str) else ""
    if kind not in _specs():
        raise schema_error(f"must be one of {', '.join(kinds())} (got {str(chosen)[:40]!r})",
                           "use one of the registered CA back-ends.", "backend")
    try:
        config: CaSection = TypeAdapter(config_model(kind)).validate_python({**value, "backend": kind}, context=context)
    except ValidationError as exc:
        raise _nested(exc) from None
    return config


def _nested(exc: ValidationError) -> PydanticCustomError:
    first = exc.errors(include_url=False, include_input=False)[0]
    error = parameter_error(exc)
    at = tuple(p for p in first["loc"] if p != "[key]") + tuple((first.get("ctx") or {}).get("at", ()))
    problem = error.message.split(": ", 1)[1] if ": " in error.message else error.message
    return schema_error(problem, error.remedy or "see docs/parameters.md.", *at)


def section_schema() -> dict[str, Any]:
    """The JSON Schema of the ``ca:`` section: one alternative per back-end, chosen by ``backend``.

    Models a back-end's model refers to are in the result's ``$defs`` (to hoist to the document's).
    """
    options, defs = [], {}
    for kind, backend in _specs().items():
        schema = TypeAdapter(backend.config).json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        schema["properties"]["backend"] = {"const": kind}
        schema["description"] = backend.summary
        if kind != DEFAULT_KIND:
            schema["required"] = sorted({*schema.get("required", []), "backend"})
        options.append(schema)
    return {"oneOf": options, "description": "the CA back-end and its settings (default: manual)", "$defs": defs}


def make_backend(params: Any, kind: str | None = None, *, folder: Path | None = None) -> CaBackend:
    """The back-end ``kind`` (default: the parameter file's ``ca.backend``) for a cluster's parameters."""
    ca = getattr(params, "ca", None)
    chosen = (kind or getattr(ca, "backend", None) or DEFAULT_KIND).lower()
    return spec(chosen).build(params, Path(folder) if folder is not None else None)


def describe() -> str:
    """A Markdown list of the registered back-ends and their keys (docs/parameters.md, notebooks)."""
    lines = []
    for kind, backend in _specs().items():
        keys = ", ".join(f"`{f}`" for f in _keys(backend.config) if f != "backend") or "none"
        lines.append(f"- `{kind}`: {backend.summary} Keys: {keys}.")
    return "\n".join(lines)


def _keys(model: type[Any]) -> list[str]:
    """The top-level keys of a back-end's ``ca:`` model (a pydantic dataclass or a pydantic model)."""
    if dataclasses.is_dataclass(model):
        return [f.name for f in dataclasses.fields(model)]
    return list(getattr(model, "model_fields", {}))
