"""What the parameter file's model (``cucmkit.params``) and the CA back-ends' ``ca:`` models
(``cucmkit.ca.registry``) share: how a schema error is raised and reported, and what every ``ca:`` section is.

- ``schema_error(problem, remedy, *at)``: raised inside a validator; names the problem, the remedy and the
  sub-path below the field.
- ``parameter_error(exc)``: the first problem of a pydantic ``ValidationError`` as a ``ParameterError``
  ``path: problem`` with its remedy.
- ``CaSection``: the protocol of every back-end's ``ca:`` model (its ``backend`` kind).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from cucmkit.errors import ParameterError

__all__ = ["CaSection", "parameter_error", "schema_error"]


def schema_error(problem: str, remedy: str, *at: str | int) -> PydanticCustomError:
    """A schema error: ``problem`` at the field (``at``: a sub-path below it) and its ``remedy``."""
    return PydanticCustomError("parameter", problem.replace("{", "{{").replace("}", "}}"),
                               {"remedy": remedy, "at": at})


def _where(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if part == "[key]":
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parameter_error(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> ParameterError:
    """The first problem of a pydantic ValidationError as a ParameterError ``path: problem`` + remedy."""
    first = exc.errors(include_url=False, include_input=False)[0]
    ctx = first.get("ctx") or {}
    where = _where((*prefix, *first["loc"], *ctx.get("at", ()))) or "parameter file"
    if first["type"] == "parameter":
        return ParameterError(f"{where}: {first['msg']}", remedy=str(ctx.get("remedy")))
    message = first["msg"][:1].lower() + first["msg"][1:]
    return ParameterError(f"{where}: {message[:200]}",
                          remedy="see docs/parameters.md (or docs/parameters.schema.json) for the expected form.")


@runtime_checkable
class CaSection(Protocol):
    """What every back-end's ``ca:`` model has: its kind. ``CaConfig`` subclasses also name their secrets."""

    @property
    def backend(self) -> str: ...
